package tokenserver

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"runtime/debug"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/gatehouse-dev/gatehouse/tokenserver/attack"
	"github.com/gatehouse-dev/gatehouse/tokenserver/connector/database"
	"github.com/gatehouse-dev/gatehouse/tokenserver/peers"
	"github.com/gatehouse-dev/gatehouse/tokenserver/serviceaccount"
	"github.com/gatehouse-dev/gatehouse/tokenserver/store"
)

// Config is everything a token server replica needs to run: what `gatehouse tokenserver`
// assembles from its flags and environment.
type Config struct {
	// Kube reaches the API server; the replica reads Secrets and holds a Lease in Namespace.
	Kube *rest.Config
	// Namespace is the operator's namespace, of the snapshot and signing-key Secrets.
	Namespace string
	Listen    ListenOptions
	Peers     PeerOptions
	// Counters bound the failed-login counts this replica holds; Report is set by Run.
	Counters attack.MemoryOptions
	// MemoryLimit is the replica's memory limit, from which the password checks' budget
	// and the Go runtime's soft memory limit follow.
	MemoryLimit int64
	// Refresh chooses the refresh token store.
	Refresh RefreshOptions
	// ServerOptions are passed to NewServer.
	ServerOptions []Option
	Log           *slog.Logger
}

// PeerOptions configure how this replica shares login-attempt counts with the others.
type PeerOptions struct {
	BindAddress, AdvertiseAddress string
	// Identity names this replica's Lease: its pod name.
	Identity string
	// PodUID, from $POD_UID, makes the pod own the Lease.
	PodUID types.UID
	// PodIP, from $POD_IP, is advertised when AdvertiseAddress is empty.
	PodIP       string
	JoinTimeout time.Duration
}

// Run serves tokens until ctx ends: it loads the snapshots of c.Namespace, joins the
// other replicas, and serves the tenants and the operations endpoints. It returns when
// all of that has stopped, with what made it stop.
func Run(ctx context.Context, c Config) error {
	client, err := kubernetes.NewForConfig(c.Kube)
	if err != nil {
		return err
	}
	log := c.Log
	limitHeap(c.MemoryLimit, log)
	st := store.New()
	loader := store.NewLoader(client, c.Namespace, st, store.DefaultFactories(log, database.ChecksFor(c.MemoryLimit)), log)
	metrics := NewMetrics()
	registry := prometheus.NewRegistry()
	registry.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	registry.MustRegister(loader.Collectors()...)
	registry.MustRegister(metrics.Collectors()...)

	tokens, keepTokens, err := refreshTokens(c.Refresh, c.Kube, c.Namespace, log)
	if err != nil {
		return err
	}
	registry.MustRegister(tokens.Collectors()...)
	revocations := NewRevocations(tokens, log)
	loader.OnChange(revocations.Changed)
	serviceAccounts, err := serviceaccount.New(c.Kube, log, serviceaccount.Options{})
	if err != nil {
		return err
	}

	c.Counters.Report = CountersReporter(st, metrics, log)
	counters := peers.New(attack.NewMemory(c.Counters), log, peers.Options{})
	registry.MustRegister(counters.Collectors()...)

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	loaderDone := make(chan error, 1)
	go func() {
		err := loader.Run(ctx)
		cancel() // without snapshots there is nothing to serve
		loaderDone <- err
	}()
	tokensDone := make(chan error, 1)
	go func() {
		revoked := make(chan error, 1)
		go func() { revoked <- revocations.Run(ctx) }()
		tokensDone <- errors.Join(keepTokens(ctx), <-revoked)
	}()
	peersDone, err := startPeers(ctx, client, c.Namespace, c.Peers, counters, log)
	if err != nil {
		cancel()
		return errors.Join(err, <-loaderDone, <-tokensDone)
	}
	server := NewServer(st, log, metrics, append(c.ServerOptions, WithCounters(counters), WithRefreshTokens(tokens), WithServiceAccounts(serviceAccounts))...)
	serveErr := Serve(ctx, c.Listen, server, st, registry, log)
	cancel()
	return errors.Join(serveErr, <-loaderDone, peersDone(), <-tokensDone)
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

// startPeers serves the peer listener, watches the peer key, and holds this replica's
// Lease, broadcasting counts to the others. It returns once this replica has joined
// (taken a peer's counts, or found no peer) or JoinTimeout has passed: a replica that
// cannot join serves anyway, counting on its own. wait waits for all of it to stop after
// ctx ends; the Lease is deleted by then.
func startPeers(ctx context.Context, client kubernetes.Interface, namespace string, o PeerOptions, counters *peers.Counters, log *slog.Logger) (wait func() error, err error) {
	listener, err := (&net.ListenConfig{}).Listen(ctx, "tcp", o.BindAddress)
	if err != nil {
		return nil, fmt.Errorf("peer listener: %w", err)
	}
	membership := &peers.Membership{
		Client: client, Namespace: namespace, Identity: o.Identity, PodUID: o.PodUID,
		Address:  advertiseAddress(o.AdvertiseAddress, o.PodIP, listener.Addr().(*net.TCPAddr)),
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
