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

// Command soak runs `make soak`: it starts the whole of Gatehouse on loopback (as
// `make run` does: a control plane, the controller, the token server and the
// samples), sends it a bounded open-loop load of logins, wrong passwords, userinfo,
// JWKS and discovery requests (see soak.go), and prints a report: requests
// by kind, latency percentiles, and the token server's memory over time. It exits 1
// when an answer was a 5xx or a request got no answer.
//
// Progress goes to stderr and the report to stdout, to paste into a note.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"
)

func main() {
	cfg := Config{Progress: os.Stderr}
	flag.DurationVar(&cfg.Duration, "duration", 5*time.Minute, "how long requests are started for")
	flag.Float64Var(&cfg.Rate, "rate", 20, "requests started per second, whatever the answers take (open loop)")
	flag.IntVar(&cfg.MaxInFlight, "max-in-flight", DefaultMaxInFlight, "requests awaiting an answer at most; a request due beyond it is not sent and fails the run")
	flag.DurationVar(&cfg.Timeout, "timeout", DefaultTimeout, "time allowed for each request")
	flag.IntVar(&cfg.ClientAddresses, "client-addresses", DefaultClientAddresses, "simulated client addresses sent in X-Forwarded-For, 1 to 254")
	flag.DurationVar(&cfg.SampleEvery, "sample-every", 0, "interval of the token server's memory samples (default duration/30, within 1s to 1m)")
	gatehouse := flag.String("gatehouse", "bin/gatehouse", "the gatehouse binary")
	var tokenServerArgs []string
	flag.Func("tokenserver-flag", "an extra flag of the token server, e.g. one that trusts X-Forwarded-For from loopback; repeatable",
		func(arg string) error { tokenServerArgs = append(tokenServerArgs, arg); return nil })
	flag.Parse()

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	passed, err := run(ctx, cfg, *gatehouse, tokenServerArgs)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "soak:", err)
	}
	if err != nil || !passed {
		os.Exit(1)
	}
}

// run starts Gatehouse, soaks it and prints the report; it reports whether the run passed.
func run(ctx context.Context, cfg Config, gatehouse string, tokenServerArgs []string) (passed bool, err error) {
	sys, err := StartLocal(ctx, gatehouse, tokenServerArgs, os.Stderr)
	if err != nil {
		return false, err
	}
	defer func() {
		if stopErr := sys.Stop(); stopErr != nil && err == nil {
			err = stopErr
		}
	}()

	// A child that exits ends the run: the report then shows what the load saw until then.
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	go func() {
		select {
		case exited := <-sys.Exited():
			cancel(exited)
		case <-ctx.Done():
		}
	}()

	fmt.Fprintf(os.Stderr, "==> Soaking for %v at %g requests/s\n", cfg.Duration, cfg.Rate)
	report, err := Run(ctx, cfg, TargetOf(sys))
	if err != nil {
		return false, err
	}
	if err := report.Write(os.Stdout); err != nil {
		return false, err
	}
	if cause := context.Cause(ctx); cause != nil && !errors.Is(cause, context.Canceled) {
		return false, cause
	}
	return len(report.Failures()) == 0, nil
}
