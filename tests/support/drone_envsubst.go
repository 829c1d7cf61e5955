// Drone's substitution of ${...} in .drone.yml, as its runners do it: github.com/drone/envsubst over the
// raw file, each variable from this process's environment (unset ones are empty), a value holding a
// newline Go-quoted. Reads the text on stdin, writes the result on stdout. Built by tests/support/drone.py.
package main

import (
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/drone/envsubst"
)

func main() {
	raw, err := io.ReadAll(os.Stdin)
	if err == nil {
		var out string
		out, err = envsubst.Eval(string(raw), func(name string) string {
			value := os.Getenv(name)
			if strings.Contains(value, "\n") {
				value = fmt.Sprintf("%q", value)
			}
			return value
		})
		fmt.Print(out)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
