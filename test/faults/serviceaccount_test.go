package faults_test

import (
	"errors"
	"net/http"
	"testing"

	"github.com/gatehouse-dev/gatehouse/test/systemtest"
	"github.com/gatehouse-dev/gatehouse/tokenserver/tokenclient"
)

// sampleAudience is the sample API's identifier.
const sampleAudience = "https://someapi.com/api"

// TestServiceAccountTokensThroughAnAPIServerOutage: with the API server down, a
// ServiceAccount token the token server can verify with the cluster's keys it read
// before still authenticates its Client (no TokenReview can say whether its Pod still
// exists until the API server is back); a token of another ServiceAccount is still
// refused.
func TestServiceAccountTokensThroughAnAPIServerOutage(t *testing.T) {
	ctx := t.Context()
	sys.StartGatehouse(t)
	acme := applySample(t, "sa-outage")
	ns := acme.tenant.Namespace
	job := systemtest.ServiceAccountClient(ns, "reporter", "reporter")
	sys.Create(t, job)
	sys.WaitReady(t, job)
	creds := sys.Credentials(t, job)
	pod := sys.WorkloadPod(t, ns, "reporter", "reporter-job")
	other := sys.WorkloadPod(t, ns, "other", "other-job")
	before := sys.ProjectedToken(t, pod, creds["issuer"])
	during := sys.ProjectedToken(t, pod, creds["issuer"])
	otherToken := sys.ProjectedToken(t, other, creds["issuer"])
	systemtest.Eventually(t, "the token server serves the bound Client", func() error {
		_, err := creds.AssertionToken(ctx, before, sampleAudience)
		return err
	})

	if err := sys.Env.StopAPIServer(); err != nil {
		t.Fatalf("stopping the API server: %v", err)
	}
	restarted := false
	t.Cleanup(func() {
		if !restarted {
			_ = sys.Env.StartAPIServer() // for the tests that follow
		}
	})
	if _, err := creds.AssertionToken(ctx, during, sampleAudience); err != nil {
		t.Errorf("a valid token never seen before, during the outage: %v", err)
	}
	_, err := creds.AssertionToken(ctx, otherToken, sampleAudience)
	var answer *tokenclient.Error
	if !errors.As(err, &answer) || answer.Status != http.StatusUnauthorized {
		t.Errorf("another ServiceAccount's token during the outage: %v, want 401", err)
	}
	if err := sys.Env.StartAPIServer(); err != nil {
		t.Fatalf("starting the API server again: %v", err)
	}
	restarted = true
	if _, err := creds.AssertionToken(ctx, during, sampleAudience); err != nil {
		t.Errorf("after the outage: %v", err)
	}
}
