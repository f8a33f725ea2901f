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
	"cmp"
	"context"
	"flag"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/go-logr/logr"
	"k8s.io/klog/v2"
	ctrl "sigs.k8s.io/controller-runtime"

	identityv1alpha1 "github.com/gatehouse-dev/gatehouse/api/v1alpha1"
	"github.com/gatehouse-dev/gatehouse/controllers"
	"github.com/gatehouse-dev/gatehouse/tokenserver/password"
	"github.com/gatehouse-dev/gatehouse/tokenserver/snapshot"
)

func runController(args []string) int {
	fs := flag.NewFlagSet("controller", flag.ContinueOnError)
	namespace := fs.String("namespace", cmp.Or(os.Getenv("POD_NAMESPACE"), snapshot.DefaultNamespace),
		"the operator's namespace, where signing keys and snapshots are written ($POD_NAMESPACE when set)")
	tokenServerURL := fs.String("token-server-url", "",
		"external URL of the token server; Tenants without spec.domain get the issuer <url>/<namespace>/<name>/ (default: http://gatehouse-tokenserver.<namespace>.svc:8080)")
	metricsAddr := fs.String("metrics-bind-address", ":9090", "address of the Prometheus metrics endpoint; 0 disables it")
	probeAddr := fs.String("health-probe-bind-address", ":8081", "address of the /healthz and /readyz endpoints")
	leaderElect := fs.Bool("leader-elect", true, "elect a leader so that only one replica reconciles")
	concurrency := fs.Int("max-concurrent-reconciles", 4, "reconciles each controller runs at once")
	logLevel := fs.Int("v", 0, "log verbosity: 0 for info, higher for more detail")
	var domains controllers.DomainPolicy
	fs.Func("allowed-domains", "comma-separated hosts that Tenants of every namespace may claim as spec.domain: exact, *.suffix for the hosts below suffix, or * for any; beside these, a namespace may claim what its annotation "+identityv1alpha1.AnnotationAllowedDomains+" lists (none by default)", func(s string) error {
		domains.Allowed = controllers.ParseDomainList(s)
		return nil
	})
	fs.Func("reserved-domains", "comma-separated hosts (exact or *.suffix) that no Tenant may claim; the token server's own host is always reserved", func(s string) error {
		domains.Reserved = controllers.ParseDomainList(s)
		return nil
	})
	tokenServerMemoryLimit := tokenServerMemoryLimitFlag(fs)
	if code, ok := parseFlags(fs, args); !ok {
		return code
	}

	logger := logr.FromSlogHandler(slog.NewJSONHandler(os.Stderr, &slog.HandlerOptions{Level: slog.Level(-*logLevel)}))
	ctrl.SetLogger(logger)
	klog.SetLogger(logger)

	kube, err := ctrl.GetConfig()
	if err != nil {
		logger.Error(err, "reaching the API server")
		return 1
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := controllers.Run(ctx, controllers.Config{
		Kube: kube, MetricsAddr: *metricsAddr, ProbeAddr: *probeAddr, LeaderElect: *leaderElect,
		Options: controllers.Options{
			Namespace: *namespace, TokenServerURL: *tokenServerURL, Domains: domains,
			MaxConcurrentReconciles: *concurrency,
			PasswordCaps:            password.CapsFor(password.Budget(*tokenServerMemoryLimit)),
		},
	}); err != nil {
		logger.Error(err, "controller stopped")
		return 1
	}
	return 0
}
