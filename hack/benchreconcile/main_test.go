package main

import (
	"context"
	"testing"
	"time"

	"github.com/go-logr/logr"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/gatehouse-dev/gatehouse/test/systemtest"
)

// TestBenchReconcile runs the benchmark at 3 Tenants, so that it cannot break unseen,
// and holds the controller to the counts it stands for, which do not depend on the
// machine's load: each Connection, API and Client reconciled about once (its own status
// write does not reconcile it again), writes per Tenant near their floor, and none on a
// converged cluster.
func TestBenchReconcile(t *testing.T) {
	ctrllog.SetLogger(logr.Discard())
	gatehouse, err := systemtest.BuildGatehouse(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	res, err := run(ctx, t.Output(), config{tenants: 3, algorithm: "ES256", gatehouse: gatehouse})
	if err != nil {
		t.Fatal(err)
	}
	n := float64(res.tenants)
	// A child is reconciled again only when a race makes it: its Tenant not yet in the
	// cache, a referenced Secret's event after the child's.
	for kind, objects := range map[string]float64{"connection": 2 * n, "api": 2 * n, "client": 3 * n} {
		if per := res.reconciles[kind] / objects; per > 1.5 {
			t.Errorf("%.2f reconciles per %s, want at most 1.5", per, kind)
		}
	}
	// The writes of a Tenant's snapshot and status depend on how many of its children
	// arrive while it compiles; every other write is at its floor, 14 (see the
	// package's doc), give or take a conflict.
	settled := res.writes.less(requests{"APPLY secrets": res.writes["APPLY secrets"], "PATCH tenants/status": res.writes["PATCH tenants/status"]})
	if per := settled.total() / n; per > 15 {
		t.Errorf("%.2f writes per tenant besides snapshots and Tenant status (%s), want at most 15", per, settled.perTenant(n))
	}
	if res.idleWrites != 0 {
		t.Errorf("a restarted controller made %.0f writes on the converged cluster, want 0", res.idleWrites)
	}
}
