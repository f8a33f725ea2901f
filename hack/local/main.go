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

// Command local is `make run`: it starts a local control plane (kube-apiserver, etcd and
// kube-controller-manager, from $KUBEBUILDER_ASSETS or what hack/controlplane.sh builds),
// runs the gatehouse binary's controller and token server against it as a cluster would,
// applies the samples and prints a curl for the sample user (test/systemtest.RunLocal).
//
// It is a developer tool, not a gatehouse subcommand: it links controller-runtime's
// envtest and the repository's test harnesses, and needs the repository's CRDs, samples
// and hack/controlplane.sh, none of which belong in the production image.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/gatehouse-dev/gatehouse/test/systemtest"
)

func main() {
	o := systemtest.LocalOptions{Out: os.Stdout}
	flag.StringVar(&o.Gatehouse, "gatehouse", "bin/gatehouse", "the gatehouse binary whose controller and token server run")
	flag.StringVar(&o.SamplesDir, "samples", "config/samples", "kustomization directory of the samples")
	flag.StringVar(&o.OperatorNamespace, "namespace", systemtest.OperatorNamespace, "namespace of the controller's keys and snapshots")
	flag.StringVar(&o.SamplesNamespace, "samples-namespace", "default", "namespace the samples are applied to")
	flag.IntVar(&o.Port, "port", 8080, "port of the token server on 127.0.0.1; 0 picks a free one")
	flag.DurationVar(&o.ReadyTimeout, "ready-timeout", 2*time.Minute, "how long to wait for the samples to become Ready")
	flag.Parse()
	if err := run(o); err != nil {
		fmt.Fprintln(os.Stderr, "local:", err)
		os.Exit(1)
	}
}

func run(o systemtest.LocalOptions) error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return systemtest.RunLocal(ctx, o)
}
