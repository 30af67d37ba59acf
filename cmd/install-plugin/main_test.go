package main

import (
	"bytes"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// The test binary doubles as the command: with this variable set it runs main's logic, so the
// error paths are checked on the exit code and message a user (and Velero's init container log)
// gets, and can run as the image's non-root user.
const runAsCommand = "INSTALL_PLUGIN_TEST_RUN_AS_COMMAND"

func TestMain(m *testing.M) {
	if os.Getenv(runAsCommand) == "1" {
		os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
	}
	os.Exit(m.Run())
}

// imageUID is the numeric USER of both Dockerfiles.
const imageUID = 65532

// dir makes a directory with this mode that the image's user can reach when the test runs as
// root: t.TempDir's parent is private to the test's user.
func dir(t *testing.T, mode os.FileMode) string {
	t.Helper()
	d, err := os.MkdirTemp("", "install-plugin-test-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = os.Chmod(d, 0o700)
		_ = os.RemoveAll(d)
	})
	if err := os.Chmod(d, mode); err != nil {
		t.Fatal(err)
	}
	return d
}

// plugin writes an executable stand-in for a plugin binary and returns its path and content.
func plugin(t *testing.T, name string) (string, []byte) {
	t.Helper()
	content := []byte("\x7fELF plugin " + name + " " + t.Name())
	p := filepath.Join(dir(t, 0o755), name)
	if err := os.WriteFile(p, content, 0o755); err != nil {
		t.Fatal(err)
	}
	return p, content
}

// emptyDir makes a directory as Kubernetes makes an emptyDir volume: world-writable.
func emptyDir(t *testing.T) string {
	t.Helper()
	return dir(t, 0o777)
}

func checkInstalled(t *testing.T, path string, want []byte) {
	t.Helper()
	fi, err := os.Lstat(path)
	if err != nil {
		t.Fatalf("installed plugin: %v", err)
	}
	if !fi.Mode().IsRegular() {
		t.Fatalf("%s is %v, want a regular file", path, fi.Mode().Type())
	}
	if perm := fi.Mode().Perm(); perm != 0o755 {
		t.Errorf("%s has mode %v, want 0755 (Velero runs it, maybe as another user)", path, perm)
	}
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s holds %q, want %q", path, got, want)
	}
}

// onlyEntries fails unless dir holds exactly these names (no temporary file left behind).
func onlyEntries(t *testing.T, dir string, names ...string) {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range entries {
		got = append(got, e.Name())
	}
	if strings.Join(got, " ") != strings.Join(names, " ") {
		t.Errorf("%s holds %q, want only %q", dir, got, names)
	}
}

func TestInstallCopiesThePluginIntoAnEmptyTarget(t *testing.T) {
	src, content := plugin(t, "openshift-velero-plugin")
	target := emptyDir(t)
	dst, err := install(src, target)
	if err != nil {
		t.Fatal(err)
	}
	if want := filepath.Join(target, "openshift-velero-plugin"); dst != want {
		t.Errorf("installed to %s, want %s", dst, want)
	}
	checkInstalled(t, dst, content)
	onlyEntries(t, target, "openshift-velero-plugin")
}

// The init container runs again when the pod restarts; the emptyDir keeps the earlier copy.
func TestInstallReplacesAPluginInstalledBefore(t *testing.T) {
	src, content := plugin(t, "openshift-velero-plugin")
	target := emptyDir(t)
	if err := os.WriteFile(filepath.Join(target, "openshift-velero-plugin"), []byte("an older build"), 0o700); err != nil {
		t.Fatal(err)
	}
	dst, err := install(src, target)
	if err != nil {
		t.Fatal(err)
	}
	checkInstalled(t, dst, content)
	onlyEntries(t, target, "openshift-velero-plugin")
}

// A symlink in the target named like the plugin (planted, or left by another image) is replaced
// by the plugin; what it points to, outside the target, is left as it was.
func TestInstallNeverWritesThroughASymlinkOutOfTheTarget(t *testing.T) {
	src, content := plugin(t, "openshift-velero-plugin")
	outside := t.TempDir()
	victim := filepath.Join(outside, "victim")
	if err := os.WriteFile(victim, []byte("not the plugin's"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		link func(target string) string
	}{
		{"absolute link", func(string) string { return victim }},
		{"relative link", func(target string) string {
			rel, err := filepath.Rel(target, victim)
			if err != nil {
				t.Fatal(err)
			}
			return rel
		}},
		{"dangling link", func(string) string { return filepath.Join(outside, "does-not-exist") }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			target := emptyDir(t)
			if err := os.Symlink(tc.link(target), filepath.Join(target, "openshift-velero-plugin")); err != nil {
				t.Fatal(err)
			}
			dst, err := install(src, target)
			if err != nil {
				t.Fatal(err)
			}
			checkInstalled(t, dst, content)
			if got, _ := os.ReadFile(victim); string(got) != "not the plugin's" {
				t.Errorf("%s, outside the target, now holds %q", victim, got)
			}
			if _, err := os.Lstat(filepath.Join(outside, "does-not-exist")); err == nil {
				t.Errorf("a file was created outside the target through the dangling link")
			}
			onlyEntries(t, target, "openshift-velero-plugin")
		})
	}
}

// command runs the test binary as the command with args, as the image's user when this test runs
// as root (root writes anywhere, the image's user does not), and returns exit code and output.
func command(t *testing.T, args ...string) (int, string) {
	t.Helper()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir(t, 0o755), "install-plugin")
	copyFile(t, self, bin)
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), runAsCommand+"=1")
	if os.Geteuid() == 0 {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: imageUID, Gid: imageUID}}
	}
	out, err := cmd.CombinedOutput()
	if err != nil {
		if ee, ok := err.(*exec.ExitError); ok {
			return ee.ExitCode(), string(out)
		}
		t.Fatalf("%s: %v", bin, err)
	}
	return 0, string(out)
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	in, err := os.Open(from)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	out, err := os.OpenFile(to, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o755)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(out, in); err != nil {
		t.Fatal(err)
	}
	if err := out.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestCommandInstallsIntoTheTargetGiven(t *testing.T) {
	src, content := plugin(t, "openshift-migration-plugin")
	target := emptyDir(t)
	code, out := command(t, "-plugin", src, target)
	if code != 0 {
		t.Fatalf("exit code %d, want 0; output:\n%s", code, out)
	}
	dst := filepath.Join(target, "openshift-migration-plugin")
	checkInstalled(t, dst, content)
	if !strings.Contains(out, dst) {
		t.Errorf("output %q does not name the installed file %s", out, dst)
	}
}

func TestCommandFailsClearly(t *testing.T) {
	src, _ := plugin(t, "openshift-velero-plugin")
	readOnly := dir(t, 0o555)
	notADir := filepath.Join(dir(t, 0o755), "file")
	if err := os.WriteFile(notADir, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	missing := filepath.Join(dir(t, 0o755), "target")
	for _, tc := range []struct {
		name string
		args []string
		code int
		want []string // each must appear in the output
		left string   // a directory that must stay empty
	}{
		{"no target directory", []string{"-plugin", src, missing}, 1,
			[]string{missing, "does not exist", "mount"}, ""},
		{"read-only target", []string{"-plugin", src, readOnly}, 1,
			[]string{readOnly, "not writable"}, readOnly},
		{"target is a file", []string{"-plugin", src, notADir}, 1,
			[]string{notADir, "not a directory"}, ""},
		{"plugin missing", []string{"-plugin", filepath.Join(filepath.Dir(src), "nope"), emptyDir(t)}, 1,
			[]string{filepath.Join(filepath.Dir(src), "nope")}, ""},
		{"plugin is a directory", []string{"-plugin", filepath.Dir(src), emptyDir(t)}, 1,
			[]string{filepath.Dir(src), "not a regular file"}, ""},
		{"no -plugin", []string{emptyDir(t)}, 2, []string{"-plugin"}, ""},
		{"two targets", []string{"-plugin", src, emptyDir(t), emptyDir(t)}, 2, []string{"one target"}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, out := command(t, tc.args...)
			if code != tc.code {
				t.Errorf("exit code %d, want %d; output:\n%s", code, tc.code, out)
			}
			for _, w := range tc.want {
				if !strings.Contains(out, w) {
					t.Errorf("output does not say %q:\n%s", w, out)
				}
			}
			if tc.left != "" {
				onlyEntries(t, tc.left)
			}
		})
	}
}
