// Command htpasswd writes the htpasswd file of an end-to-end stack registry (hack/stack.sh): it
// reads "user:password" lines on stdin and prints "user:bcrypt-hash" lines, the only format
// distribution's htpasswd access controller accepts. It is the same bcrypt package the registry
// links, so nothing is installed for it.
//
// The cost is bcrypt's minimum: the registry checks the hash on every request (a copy makes
// dozens), and these are throw-away credentials of a loopback test stack.
package main

import (
	"bufio"
	"fmt"
	"os"
	"strings"

	"golang.org/x/crypto/bcrypt"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "htpasswd:", err)
		os.Exit(1)
	}
}

func run() error {
	in := bufio.NewScanner(os.Stdin)
	out := bufio.NewWriter(os.Stdout)
	n := 0
	for in.Scan() {
		line := strings.TrimRight(in.Text(), "\r")
		if line == "" {
			continue
		}
		user, password, ok := strings.Cut(line, ":")
		if !ok || user == "" || password == "" {
			return fmt.Errorf("input line %d is not user:password", n+1)
		}
		hash, err := bcrypt.GenerateFromPassword([]byte(password), bcrypt.MinCost)
		if err != nil {
			return err
		}
		fmt.Fprintf(out, "%s:%s\n", user, hash)
		n++
	}
	if err := in.Err(); err != nil {
		return err
	}
	if n == 0 {
		return fmt.Errorf("no user:password lines on stdin")
	}
	return out.Flush()
}
