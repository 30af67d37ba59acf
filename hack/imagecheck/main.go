// Command imagecheck checks what `make images` built, from the bytes rather than the builder's
// word: a builder that ignored TARGETARCH, or a manifest list that lost a platform, fails the
// build instead of failing on a user's node.
//
//	imagecheck platforms linux/amd64,linux/arm64 <INDEX   the manifest list (OCI index or Docker
//	                                                      list, JSON on stdin) names exactly these
//	                                                      platforms; prints "os/arch digest" lines
//	imagecheck elf ARCH FILE...                           each file is a static Linux executable
//	                                                      for Go architecture ARCH (ELF header)
package main

import (
	"debug/elf"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
)

func main() {
	if len(os.Args) < 3 {
		usage()
	}
	var err error
	switch os.Args[1] {
	case "platforms":
		err = platforms(os.Stdin, os.Stdout, strings.Split(os.Args[2], ","))
	case "elf":
		if len(os.Args) < 4 {
			usage()
		}
		err = elfFiles(os.Stdout, os.Args[2], os.Args[3:])
	default:
		usage()
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "imagecheck %s: %v\n", os.Args[1], err)
		os.Exit(1)
	}
}

func usage() {
	fmt.Fprintln(os.Stderr, "usage: imagecheck platforms OS/ARCH[,OS/ARCH...] <INDEX.json | imagecheck elf ARCH FILE...")
	os.Exit(2)
}

// index is the part of an OCI image index (or Docker manifest list, same shape) checked here.
type index struct {
	Manifests []struct {
		Digest   string `json:"digest"`
		Platform *struct {
			OS           string `json:"os"`
			Architecture string `json:"architecture"`
			Variant      string `json:"variant"`
		} `json:"platform"`
	} `json:"manifests"`
}

// platforms fails unless the index lists each wanted platform exactly once and nothing else.
func platforms(r io.Reader, w io.Writer, want []string) error {
	var idx index
	if err := json.NewDecoder(r).Decode(&idx); err != nil {
		return fmt.Errorf("reading the manifest list: %w", err)
	}
	var got []string
	for i, m := range idx.Manifests {
		if m.Platform == nil {
			return fmt.Errorf("entry %d (%s) names no platform", i, m.Digest)
		}
		p := m.Platform.OS + "/" + m.Platform.Architecture
		if m.Platform.Variant != "" {
			p += "/" + m.Platform.Variant
		}
		if slices.Contains(got, p) {
			return fmt.Errorf("platform %s listed twice", p)
		}
		got = append(got, p)
		fmt.Fprintln(w, p, m.Digest)
	}
	slices.Sort(got)
	want = slices.Sorted(slices.Values(want))
	if !slices.Equal(got, want) {
		return fmt.Errorf("the manifest list names %v, want %v", got, want)
	}
	return nil
}

// machines: the ELF machine, class and byte order of each architecture the images are built for.
var machines = map[string]struct {
	machine elf.Machine
	class   elf.Class
	data    elf.Data
}{
	"amd64":   {elf.EM_X86_64, elf.ELFCLASS64, elf.ELFDATA2LSB},
	"arm64":   {elf.EM_AARCH64, elf.ELFCLASS64, elf.ELFDATA2LSB},
	"ppc64le": {elf.EM_PPC64, elf.ELFCLASS64, elf.ELFDATA2LSB},
	"s390x":   {elf.EM_S390, elf.ELFCLASS64, elf.ELFDATA2MSB},
}

func elfFiles(w io.Writer, arch string, files []string) error {
	want, ok := machines[arch]
	if !ok {
		return fmt.Errorf("unknown architecture %q (amd64, arm64, ppc64le, s390x)", arch)
	}
	var failed []string
	for _, name := range files {
		if err := elfFile(name, want.machine, want.class, want.data); err != nil {
			failed = append(failed, fmt.Sprintf("%s: %v", name, err))
			continue
		}
		fmt.Fprintf(w, "%s: static ELF executable, %v %v (linux/%s)\n", name, want.class, want.machine, arch)
	}
	if len(failed) > 0 {
		return fmt.Errorf("want static linux/%s executables:\n  %s", arch, strings.Join(failed, "\n  "))
	}
	return nil
}

func elfFile(name string, machine elf.Machine, class elf.Class, data elf.Data) error {
	f, err := elf.Open(name)
	if err != nil {
		return err
	}
	defer f.Close()
	if f.Machine != machine || f.Class != class || f.Data != data {
		return fmt.Errorf("ELF %v %v %v", f.Class, f.Data, f.Machine)
	}
	if f.Type != elf.ET_EXEC && f.Type != elf.ET_DYN {
		return fmt.Errorf("ELF type %v, not an executable", f.Type)
	}
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			return fmt.Errorf("dynamically linked (asks for an interpreter); the image has no libc")
		}
	}
	return nil
}
