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

package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/local"
)

func init() {
	commands["local"] = command{
		summary: "run a local control plane, the controller, the token server and the samples (what 'make run' starts)",
		run:     runLocal,
	}
}

func runLocal(args []string) int {
	fs := flag.NewFlagSet("local", flag.ContinueOnError)
	o := local.Options{Out: os.Stdout}
	fs.StringVar(&o.AssetsDir, "assets", os.Getenv("KUBEBUILDER_ASSETS"),
		"directory of kube-apiserver and etcd (default: $KUBEBUILDER_ASSETS, else what hack/controlplane.sh builds)")
	fs.StringVar(&o.CRDDir, "crds", "config/crd/bases", "directory of the CRDs")
	fs.StringVar(&o.SamplesDir, "samples", "config/samples", "kustomization directory of the samples")
	fs.StringVar(&o.OperatorNamespace, "namespace", "gatehouse-system", "namespace of the controller's keys and snapshots")
	fs.StringVar(&o.SamplesNamespace, "samples-namespace", "default", "namespace the samples are applied to")
	fs.IntVar(&o.Port, "port", 8080, "port of the token server on 127.0.0.1; 0 picks a free one")
	fs.DurationVar(&o.ReadyTimeout, "ready-timeout", 2*time.Minute, "how long to wait for the samples to become Ready")
	if code, ok := parseFlags(fs, args); !ok {
		return code
	}
	var err error
	if o.Gatehouse, err = os.Executable(); err != nil {
		fmt.Fprintln(os.Stderr, "gatehouse local:", err)
		return 1
	}
	if o.AssetsDir == "" {
		if o.AssetsDir, err = controlPlanePath(); err != nil {
			fmt.Fprintln(os.Stderr, "gatehouse local:", err)
			return 1
		}
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := local.Run(ctx, o); err != nil {
		fmt.Fprintln(os.Stderr, "gatehouse local:", err)
		return 1
	}
	return 0
}

// controlPlanePath asks hack/controlplane.sh, from the repository root, where it builds
// kube-apiserver and etcd.
func controlPlanePath() (string, error) {
	out, err := exec.CommandContext(context.Background(), "hack/controlplane.sh", "path").Output()
	if err != nil {
		return "", fmt.Errorf("locating kube-apiserver and etcd (run from the repository root, or set --assets): %w", err)
	}
	return strings.TrimSpace(string(out)), nil
}
