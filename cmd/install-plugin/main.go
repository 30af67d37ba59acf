// Command install-plugin is the entrypoint of the plugin images: Velero runs it as an init
// container with its plugin directory (an emptyDir) mounted at /target, and it copies the image's
// plugin binary there. It is a program of this project and not `cp` so that the images need no
// shell or base image (they start FROM scratch), and so that it fails with a clear message when
// the directory is missing or not writable.
package main

import (
	"crypto/rand"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
)

// defaultTarget is where Velero (velero install --plugins, velero plugin add) and OADP mount the
// plugin directory in the init container.
const defaultTarget = "/target"

func main() { os.Exit(run(os.Args[1:], os.Stdout, os.Stderr)) }

// run is the command: exit code 0 when installed, 1 when it could not, 2 on a usage error.
func run(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("install-plugin", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: install-plugin -plugin FILE [TARGET_DIR]\n"+
			"copies FILE into TARGET_DIR (default %s, where Velero mounts its plugin directory), mode 0755\n", defaultTarget)
		fs.PrintDefaults()
	}
	plugin := fs.String("plugin", "", "the plugin binary to install (the image's ENTRYPOINT names it)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *plugin == "" {
		fmt.Fprintln(stderr, "install-plugin: -plugin FILE is required")
		fs.Usage()
		return 2
	}
	target := defaultTarget
	switch fs.NArg() {
	case 0:
	case 1:
		target = fs.Arg(0)
	default:
		fmt.Fprintf(stderr, "install-plugin: at most one target directory, got %q\n", fs.Args())
		return 2
	}
	dst, err := install(*plugin, target)
	if err != nil {
		fmt.Fprintf(stderr, "install-plugin: %v\n", err)
		return 1
	}
	fmt.Fprintf(stdout, "installed %s as %s\n", *plugin, dst)
	return 0
}

// install copies the plugin into dir under its own name, mode 0755, and returns the path written.
// The copy is written to a new temporary file and renamed over the name, so Velero never sees a
// partial binary, and a restarted init container replaces an earlier copy. Every access inside dir
// goes through an os.Root: a symlink there (the plugin's name pointing elsewhere) is replaced, never
// written through.
func install(plugin, dir string) (string, error) {
	in, err := os.Open(plugin)
	if err != nil {
		return "", fmt.Errorf("plugin binary: %w", err)
	}
	defer in.Close()
	fi, err := in.Stat()
	if err != nil {
		return "", fmt.Errorf("plugin binary: %w", err)
	}
	if !fi.Mode().IsRegular() {
		return "", fmt.Errorf("plugin binary %s is not a regular file (%v)", plugin, fi.Mode().Type())
	}
	if err := checkTarget(dir); err != nil {
		return "", err
	}
	root, err := os.OpenRoot(dir)
	if err != nil {
		return "", fmt.Errorf("target directory: %w", err)
	}
	defer root.Close()

	name := filepath.Base(plugin)
	dst := filepath.Join(dir, name)
	tmp := "." + name + ".tmp-" + rand.Text()
	out, err := root.OpenFile(tmp, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if err != nil {
		if errors.Is(err, fs.ErrPermission) || errors.Is(err, syscall.EROFS) {
			return "", fmt.Errorf("target directory %s is not writable by uid %d: %w (Velero's plugins volume, an emptyDir, is)", dir, os.Geteuid(), err)
		}
		return "", fmt.Errorf("target directory %s: %w", dir, err)
	}
	renamed := false
	defer func() {
		if !renamed {
			_ = out.Close()
			_ = root.Remove(tmp)
		}
	}()
	n, err := io.Copy(out, in)
	if err != nil {
		return "", fmt.Errorf("copy %s to %s: %w", plugin, dir, err)
	}
	if n != fi.Size() {
		return "", fmt.Errorf("copy %s to %s: copied %d bytes of %d", plugin, dir, n, fi.Size())
	}
	// Chmod on the open file: the umask does not apply, and no path is looked up again.
	if err := out.Chmod(0o755); err != nil {
		return "", fmt.Errorf("copy %s to %s: %w", plugin, dir, err)
	}
	if err := out.Sync(); err != nil {
		return "", fmt.Errorf("copy %s to %s: %w", plugin, dir, err)
	}
	if err := out.Close(); err != nil {
		return "", fmt.Errorf("copy %s to %s: %w", plugin, dir, err)
	}
	if err := root.Rename(tmp, name); err != nil {
		return "", fmt.Errorf("install %s: %w", dst, err)
	}
	renamed = true
	return dst, nil
}

// checkTarget says what is wrong with the target directory in the terms of Velero's setup.
func checkTarget(dir string) error {
	fi, err := os.Stat(dir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return fmt.Errorf("target directory %s does not exist: mount Velero's plugins volume there (velero install --plugins and velero plugin add do), or give the directory as argument", dir)
	case err != nil:
		return fmt.Errorf("target directory: %w", err)
	case !fi.IsDir():
		return fmt.Errorf("target %s is not a directory (%v)", dir, fi.Mode().Type())
	}
	return nil
}
