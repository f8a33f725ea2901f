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
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"k8s.io/client-go/kubernetes"
	ctrl "sigs.k8s.io/controller-runtime"
	ctrlconfig "sigs.k8s.io/controller-runtime/pkg/client/config"

	"github.com/gatehouse-dev/gatehouse/tokenserver"
	"github.com/gatehouse-dev/gatehouse/tokenserver/attack"
	"github.com/gatehouse-dev/gatehouse/tokenserver/store"
)

func init() {
	commands["tokenserver"] = command{summary: "serve tokens from the snapshots of the operator's namespace", run: runTokenServer}
}

func runTokenServer(args []string) int {
	fs := flag.NewFlagSet("tokenserver", flag.ContinueOnError)
	defaultNamespace := os.Getenv("POD_NAMESPACE")
	if defaultNamespace == "" {
		defaultNamespace = "gatehouse-system"
	}
	namespace := fs.String("namespace", defaultNamespace, "namespace of the snapshot and signing-key Secrets; $POD_NAMESPACE when set")
	opts := tokenserver.ListenOptions{}
	fs.StringVar(&opts.BindAddress, "bind-address", ":8080", "address serving the tenants")
	fs.StringVar(&opts.MetricsBindAddress, "metrics-bind-address", ":8081", "address serving /metrics, /healthz and /readyz")
	fs.StringVar(&opts.TLSCertFile, "tls-cert-file", "", "PEM certificate chain; with --tls-key-file, serve HTTPS")
	fs.StringVar(&opts.TLSKeyFile, "tls-key-file", "", "PEM private key of --tls-cert-file")
	fs.DurationVar(&opts.CertReloadInterval, "tls-reload-interval", 30*time.Second, "how often the certificate files are checked for changes")
	fs.DurationVar(&opts.ReadHeaderTimeout, "read-header-timeout", 5*time.Second, "time allowed to read request headers")
	fs.DurationVar(&opts.ReadTimeout, "read-timeout", 10*time.Second, "time allowed to read a whole request")
	fs.DurationVar(&opts.WriteTimeout, "write-timeout", 30*time.Second, "time allowed to answer a request, queueing for a password check included")
	fs.DurationVar(&opts.IdleTimeout, "idle-timeout", 120*time.Second, "how long an idle keep-alive connection stays open")
	fs.DurationVar(&opts.ShutdownTimeout, "shutdown-timeout", 25*time.Second, "how long in-flight requests may finish after SIGTERM")
	var serverOpts []tokenserver.Option
	fs.Func("trusted-proxies", "comma-separated CIDRs and IP addresses of the proxies in front of the token server, whose X-Forwarded-For header gives the client address that attack protection counts; none by default", func(s string) error {
		proxies, err := attack.ParseTrustedProxies(s)
		if err != nil {
			return err
		}
		serverOpts = append(serverOpts, tokenserver.WithTrustedProxies(proxies))
		return nil
	})
	ctrlconfig.RegisterFlags(fs)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}

	log := slog.New(slog.NewJSONHandler(os.Stderr, nil))
	if err := serveTokens(*namespace, opts, log, serverOpts...); err != nil {
		log.Error("token server failed", "error", err)
		return 1
	}
	return 0
}

func serveTokens(namespace string, opts tokenserver.ListenOptions, log *slog.Logger, serverOpts ...tokenserver.Option) error {
	cfg, err := ctrl.GetConfig()
	if err != nil {
		return fmt.Errorf("loading the Kubernetes client configuration: %w", err)
	}
	client, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()

	st := store.New()
	loader := store.NewLoader(client, namespace, st, store.DefaultFactories(log), log)
	metrics := tokenserver.NewMetrics()
	registry := prometheus.NewRegistry()
	registry.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	registry.MustRegister(loader.Collectors()...)
	registry.MustRegister(metrics.Collectors()...)

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	loaderDone := make(chan error, 1)
	go func() {
		err := loader.Run(ctx)
		cancel() // without snapshots there is nothing to serve
		loaderDone <- err
	}()
	serveErr := tokenserver.Serve(ctx, opts, tokenserver.NewServer(st, log, metrics, serverOpts...), st, registry, log)
	cancel()
	return errors.Join(serveErr, <-loaderDone)
}
