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
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/go-logr/logr"
	"k8s.io/klog/v2"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	identityv1alpha1 "github.com/gatehouse-dev/gatehouse/api/v1alpha1"
	"github.com/gatehouse-dev/gatehouse/controllers"
	"github.com/gatehouse-dev/gatehouse/tokenserver/password"
)

func init() {
	commands["controller"] = command{
		summary: "run the controller: compile Tenants into the snapshots the token server serves",
		run:     runController,
	}
}

func runController(args []string) int {
	fs := flag.NewFlagSet("controller", flag.ContinueOnError)
	namespace := fs.String("namespace", cmp.Or(os.Getenv("POD_NAMESPACE"), "gatehouse-system"),
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

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := serveController(ctx, controllerConfig{
		namespace: *namespace, tokenServerURL: *tokenServerURL, metricsAddr: *metricsAddr,
		probeAddr: *probeAddr, leaderElect: *leaderElect, concurrency: *concurrency, domains: domains,
		passwordCaps: password.CapsFor(password.Budget(*tokenServerMemoryLimit)),
	}); err != nil {
		logger.Error(err, "controller stopped")
		return 1
	}
	return 0
}

type controllerConfig struct {
	namespace, tokenServerURL, metricsAddr, probeAddr string
	leaderElect                                       bool
	concurrency                                       int
	domains                                           controllers.DomainPolicy
	passwordCaps                                      password.Caps
}

func serveController(ctx context.Context, c controllerConfig) error {
	cfg, err := ctrl.GetConfig()
	if err != nil {
		return fmt.Errorf("reaching the API server: %w", err)
	}
	mgr, err := ctrl.NewManager(cfg, ctrl.Options{
		Scheme:                  controllers.NewScheme(),
		Cache:                   controllers.CacheOptions(c.namespace),
		Metrics:                 metricsserver.Options{BindAddress: c.metricsAddr},
		HealthProbeBindAddress:  c.probeAddr,
		LeaderElection:          c.leaderElect,
		LeaderElectionID:        "gatehouse-controller",
		LeaderElectionNamespace: c.namespace,
	})
	if err != nil {
		return err
	}
	if err := controllers.Setup(ctx, mgr, controllers.Options{
		Namespace:               c.namespace,
		TokenServerURL:          c.tokenServerURL,
		Domains:                 c.domains,
		MaxConcurrentReconciles: c.concurrency,
		PasswordCaps:            c.passwordCaps,
	}); err != nil {
		return err
	}
	if err := mgr.AddHealthzCheck("ping", healthz.Ping); err != nil {
		return err
	}
	if err := mgr.AddReadyzCheck("ping", healthz.Ping); err != nil {
		return err
	}
	return mgr.Start(ctx)
}
