package controllers

import (
	"context"

	"k8s.io/client-go/rest"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	identityv1alpha1 "github.com/gatehouse-dev/gatehouse/api/v1alpha1"
)

// Config is everything the controller needs to run: what `gatehouse controller`
// assembles from its flags and environment.
type Config struct {
	// Kube reaches the API server.
	Kube *rest.Config
	// Options configure the reconcilers; Options.Namespace is also where the leader
	// election Lease is held.
	Options
	// MetricsAddr serves Prometheus metrics ("0" disables it); ProbeAddr serves /healthz
	// and /readyz.
	MetricsAddr, ProbeAddr string
	// LeaderElect makes only one replica reconcile.
	LeaderElect bool
}

// Run runs the controllers until ctx ends.
func Run(ctx context.Context, c Config) error {
	mgr, err := ctrl.NewManager(c.Kube, ctrl.Options{
		Scheme:                  identityv1alpha1.NewScheme(),
		Cache:                   CacheOptions(c.Namespace),
		Metrics:                 metricsserver.Options{BindAddress: c.MetricsAddr},
		HealthProbeBindAddress:  c.ProbeAddr,
		LeaderElection:          c.LeaderElect,
		LeaderElectionID:        "gatehouse-controller",
		LeaderElectionNamespace: c.Namespace,
	})
	if err != nil {
		return err
	}
	if err := Setup(ctx, mgr, c.Options); err != nil {
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
