/*
Copyright 2026 The Gatehouse Authors.

Licensed under the Apache License, Version 2.0 (the "License");
you may not use this file except in compliance with the License.
You may obtain a copy of the License at

    http://www.apache.org/licenses/LICENSE-2.0

Unless required by applicable law or agreed to in writing, software
distributed under the License is distributed on an "AS IS" BASIS,
WITHOUT WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied.
See the License for the specific language governing permissions and
limitations under the License.
*/

// Command gatehouse is the one binary of Gatehouse: the controller, the token server,
// and the tools around them, chosen by the first argument.
package main

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"sort"

	"k8s.io/apimachinery/pkg/api/resource"

	"github.com/gatehouse-dev/gatehouse/tokenserver/password"
)

// command is a subcommand: it parses its own flags from args and returns the process
// exit code.
type command struct {
	summary string
	run     func(args []string) int
}

// commands is filled by the init functions of the main_*.go files, one per subcommand.
var commands = map[string]command{}

func main() {
	if len(os.Args) < 2 || commands[os.Args[1]].run == nil {
		usage()
		os.Exit(2)
	}
	os.Exit(commands[os.Args[1]].run(os.Args[2:]))
}

func usage() {
	fmt.Fprintln(os.Stderr, "usage: gatehouse <command> [flags]\n\ncommands:")
	names := make([]string, 0, len(commands))
	for name := range commands {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		fmt.Fprintf(os.Stderr, "  %-12s %s\n", name, commands[name].summary)
	}
	fmt.Fprintln(os.Stderr, "\nRun 'gatehouse <command> -h' for a command's flags.")
}

// parseFlags parses a subcommand's arguments; when it returns false the subcommand
// exits with code: 0 after -h printed the usage, 2 after a usage error.
func parseFlags(fs *flag.FlagSet, args []string) (code int, ok bool) {
	err := fs.Parse(args)
	switch {
	case err == nil:
		return 0, true
	case errors.Is(err, flag.ErrHelp):
		return 0, false
	default:
		return 2, false
	}
}

// tokenServerMemoryLimitFlag registers --token-server-memory-limit, the memory limit of
// a token server replica, from which the caps on password hashes follow (and, in the
// token server, the memory its password checks may hold). The controller and the
// token server must be given the same value.
func tokenServerMemoryLimitFlag(fs *flag.FlagSet) *int64 {
	limit := int64(password.DefaultMemoryLimit)
	fs.Func("token-server-memory-limit", "memory limit of a token server replica, as in its Pod spec; the caps on password hashes and the memory password checks may hold follow from it (default 512Mi)", func(s string) error {
		q, err := resource.ParseQuantity(s)
		if err != nil {
			return err
		}
		if q.Value() < password.MinMemoryLimit {
			return fmt.Errorf("%s is under the minimum of %dMi", s, password.MinMemoryLimit>>20)
		}
		limit = q.Value()
		return nil
	})
	return &limit
}
