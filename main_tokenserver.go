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
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"runtime/debug"
	"strconv"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	ctrl "sigs.k8s.io/controller-runtime"
	ctrlconfig "sigs.k8s.io/controller-runtime/pkg/client/config"

	"github.com/gatehouse-dev/gatehouse/tokenserver"
	"github.com/gatehouse-dev/gatehouse/tokenserver/attack"
	"github.com/gatehouse-dev/gatehouse/tokenserver/connector/database"
	"github.com/gatehouse-dev/gatehouse/tokenserver/peers"
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
	peerOpts := peerOptions{PodUID: types.UID(os.Getenv("POD_UID"))}
	fs.StringVar(&peerOpts.Identity, "peer-identity", cmp.Or(os.Getenv("POD_NAME"), hostname()), "name of this replica's peer Lease; $POD_NAME when set, else the host name")
	fs.StringVar(&peerOpts.BindAddress, "peer-bind-address", ":8082", "address where the other replicas send login-attempt counts")
	fs.StringVar(&peerOpts.AdvertiseAddress, "peer-advertise-address", "", "host:port the other replicas reach --peer-bind-address at (default: $POD_IP and the bound port)")
	fs.DurationVar(&peerOpts.JoinTimeout, "peer-join-timeout", 10*time.Second, "how long to wait for the peers' counts before serving")
	counterOpts := attack.MemoryOptions{}
	fs.Func("attack-keys-per-tenant", fmt.Sprintf("how many failed-login counts one tenant may hold in a replica, 1-%d (default %d); past it the tenant's oldest counts that block nothing go first", attack.DefaultTenantBudget, attack.DefaultTenantBudget), func(s string) error {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > attack.DefaultTenantBudget {
			return fmt.Errorf("want a whole number from 1 to %d", attack.DefaultTenantBudget)
		}
		counterOpts.TenantBudget = n
		return nil
	})
	var serverOpts []tokenserver.Option
	fs.Func("trusted-proxies", "comma-separated CIDRs and IP addresses of the proxies in front of the token server, whose X-Forwarded-For header gives the client address that attack protection counts; none by default", func(s string) error {
		proxies, err := attack.ParseTrustedProxies(s)
		if err != nil {
			return err
		}
		serverOpts = append(serverOpts, tokenserver.WithTrustedProxies(proxies))
		return nil
	})
	memoryLimit := tokenServerMemoryLimitFlag(fs)
	ctrlconfig.RegisterFlags(fs)
	if code, ok := parseFlags(fs, args); !ok {
		return code
	}

	log := slog.New(slog.NewJSONHandler(os.Stderr, nil))
	if err := serveTokens(*namespace, opts, peerOpts, counterOpts, *memoryLimit, log, serverOpts...); err != nil {
		log.Error("token server failed", "error", err)
		return 1
	}
	return 0
}

func serveTokens(namespace string, opts tokenserver.ListenOptions, peerOpts peerOptions, counterOpts attack.MemoryOptions, memoryLimit int64, log *slog.Logger, serverOpts ...tokenserver.Option) error {
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

	limitHeap(memoryLimit, log)
	st := store.New()
	loader := store.NewLoader(client, namespace, st, store.DefaultFactories(log, database.ChecksFor(memoryLimit)), log)
	metrics := tokenserver.NewMetrics()
	registry := prometheus.NewRegistry()
	registry.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	registry.MustRegister(loader.Collectors()...)
	registry.MustRegister(metrics.Collectors()...)

	counterOpts.Report = tokenserver.CountersReporter(st, metrics, log)
	memory := attack.NewMemory(counterOpts)
	counters := peers.New(memory, log, peers.Options{})
	registry.MustRegister(counters.Collectors()...)

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	loaderDone := make(chan error, 1)
	go func() {
		err := loader.Run(ctx)
		cancel() // without snapshots there is nothing to serve
		loaderDone <- err
	}()
	peersDone, err := startPeers(ctx, client, namespace, peerOpts, counters, log)
	if err != nil {
		cancel()
		return errors.Join(err, <-loaderDone)
	}
	server := tokenserver.NewServer(st, log, metrics, append(serverOpts, tokenserver.WithCounters(counters))...)
	serveErr := tokenserver.Serve(ctx, opts, server, st, registry, log)
	cancel()
	return errors.Join(serveErr, <-loaderDone, peersDone())
}

// limitHeap sets the Go runtime's soft memory limit to 90% of the replica's memory
// limit, unless $GOMEMLIMIT sets one: password checks allocate and drop tens of MiB
// each, and without a limit the collector lets garbage grow to the size of the live
// heap before collecting, which, with the password-check budget in use, is over the
// replica's limit.
func limitHeap(memoryLimit int64, log *slog.Logger) {
	if os.Getenv("GOMEMLIMIT") != "" {
		return
	}
	soft := memoryLimit / 10 * 9
	debug.SetMemoryLimit(soft)
	log.Info("Go soft memory limit set", "bytes", soft)
}

// peerOptions configure how this replica shares login-attempt counts with the others.
type peerOptions struct {
	BindAddress, AdvertiseAddress string
	// Identity names this replica's Lease: its pod name.
	Identity string
	// PodUID, from $POD_UID, makes the pod own the Lease.
	PodUID      types.UID
	JoinTimeout time.Duration
}

// startPeers serves the peer listener, watches the peer key, and holds this replica's
// Lease, broadcasting counts to the others. It returns once this replica has joined
// (taken a peer's counts, or found no peer) or JoinTimeout has passed: a replica that
// cannot join serves anyway, counting on its own. wait waits for all of it to stop after
// ctx ends; the Lease is deleted by then.
func startPeers(ctx context.Context, client kubernetes.Interface, namespace string, o peerOptions, counters *peers.Counters, log *slog.Logger) (wait func() error, err error) {
	listener, err := (&net.ListenConfig{}).Listen(ctx, "tcp", o.BindAddress)
	if err != nil {
		return nil, fmt.Errorf("peer listener: %w", err)
	}
	membership := &peers.Membership{
		Client: client, Namespace: namespace, Identity: o.Identity, PodUID: o.PodUID,
		Address:  advertiseAddress(o.AdvertiseAddress, os.Getenv("POD_IP"), listener.Addr().(*net.TCPAddr)),
		Counters: counters, Log: log,
	}
	joined := make(chan struct{})
	errs := make(chan error, 3)
	for _, run := range []func() error{
		func() error { return counters.Serve(ctx, listener) },
		func() error { return peers.WatchKey(ctx, client, namespace, counters, log) },
		func() error { return membership.Run(ctx, func() { close(joined) }) },
	} {
		go func() { errs <- run() }()
	}
	select {
	case <-joined:
	case <-time.After(o.JoinTimeout):
		log.Error("serving without the peers' earlier counts; still trying to take them", "timeout", o.JoinTimeout)
	case <-ctx.Done():
	}
	return func() error {
		var all []error
		for range 3 {
			all = append(all, <-errs)
		}
		return errors.Join(all...)
	}, nil
}

// advertiseAddress is the flag when set, else the pod IP, else the bound IP (loopback
// when unspecified), with the bound port.
func advertiseAddress(flagValue, podIP string, bound *net.TCPAddr) string {
	if flagValue != "" {
		return flagValue
	}
	host := podIP
	if host == "" {
		host = "127.0.0.1"
		if !bound.IP.IsUnspecified() {
			host = bound.IP.String()
		}
	}
	return net.JoinHostPort(host, strconv.Itoa(bound.Port))
}

func hostname() string {
	name, _ := os.Hostname()
	return name
}
