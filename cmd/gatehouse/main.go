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

// Command gatehouse is the one binary of Gatehouse's image: the controller, the token
// server, and the tools a cluster's users run (token, hash-password), chosen by the
// first argument. The local development system (`make run`) is hack/local, which links
// the test control plane and so stays out of this binary.
package main

import (
	"errors"
	"flag"
	"fmt"
	"os"

	"k8s.io/apimachinery/pkg/api/resource"

	"github.com/gatehouse-dev/gatehouse/tokenserver/password"
)

// command is a subcommand: it parses its own flags from args and returns the process
// exit code.
type command struct {
	name, summary string
	run           func(args []string) int
}

// commands are gatehouse's subcommands, in the order usage lists them. Each lives in the
// file of its name and only parses flags and calls the package that does the work.
var commands = []command{
	{"controller", "run the controller: compile Tenants into the snapshots the token server serves", runController},
	{"tokenserver", "serve tokens from the snapshots of the operator's namespace", runTokenServer},
	{"token", "print an access token for a user, with a Client's mounted credentials Secret", runToken},
	{"hash-password", "read a password on standard input and print its bcrypt hash, for a users Secret", runHashPassword},
}

func main() {
	if len(os.Args) >= 2 {
		for _, c := range commands {
			if c.name == os.Args[1] {
				os.Exit(c.run(os.Args[2:]))
			}
		}
	}
	usage()
	os.Exit(2)
}

func usage() {
	fmt.Fprintln(os.Stderr, "usage: gatehouse <command> [flags]\n\ncommands:")
	for _, c := range commands {
		fmt.Fprintf(os.Stderr, "  %-14s %s\n", c.name, c.summary)
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
