package faults_test

import (
	"net/http"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	identityv1alpha1 "github.com/gatehouse-dev/gatehouse/api/v1alpha1"
	"github.com/gatehouse-dev/gatehouse/test/proctest"
	"github.com/gatehouse-dev/gatehouse/test/systemtest"
)

// TestRefreshStoreDown stops each refresh token store under a serving token server (the
// API server for kubernetes, PostgreSQL for postgres): password logins keep being
// answered 200, without a refresh token; refreshes are answered 503
// temporarily_unavailable; once the store is back, the same refresh token refreshes.
func TestRefreshStoreDown(t *testing.T) {
	for _, name := range systemtest.RefreshStores {
		t.Run(name, func(t *testing.T) { testRefreshStoreDown(t, name) })
	}
}

func testRefreshStoreDown(t *testing.T, storeName string) {
	rs := systemtest.StartRefreshStore(t, storeName)
	ts := sys.StartTokenServerAt(t, proctest.MustFreeAddress(t), proctest.MustFreeAddress(t), rs.Flags...)
	sys.StartController(t, ts.URL)
	s := applySample(t, "refresh-down-"+storeName)
	api := &identityv1alpha1.API{ObjectMeta: metav1.ObjectMeta{Namespace: s.client.Namespace, Name: "sample"}}
	sys.EnableRefreshTokens(t, s.client, api, identityv1alpha1.RefreshTokensSpec{})
	cfg := s.creds.OfflineConfig("")
	tok := systemtest.WaitOfflineToken(t, cfg, sampleUser, s.password)

	stop, start := sys.Env.StopAPIServer, sys.Env.StartAPIServer
	if rs.Postgres != nil {
		stop, start = rs.Postgres.Stop, rs.Postgres.Start
	}
	if err := stop(); err != nil {
		t.Fatalf("stopping the %s store: %v", storeName, err)
	}
	restarted := false
	t.Cleanup(func() {
		if !restarted {
			_ = start() // for the tests that follow
		}
	})
	s.keepIssuing(t, "while the store is down", 3, 100*time.Millisecond)
	offline, err := cfg.PasswordCredentialsToken(t.Context(), sampleUser, s.password)
	if err != nil || offline.RefreshToken != "" {
		t.Errorf("login with offline_access while the store is down: %v, refresh token %t; want 200 without one", err, offline != nil && offline.RefreshToken != "")
	}
	expired := *tok
	expired.Expiry = time.Now().Add(-time.Minute)
	_, err = cfg.TokenSource(t.Context(), &expired).Token()
	if status, code := oauthError(err); status != http.StatusServiceUnavailable || code != "temporarily_unavailable" {
		t.Errorf("refresh while the store is down: %v, want 503 temporarily_unavailable", err)
	}

	if err := start(); err != nil {
		t.Fatalf("starting the %s store again: %v", storeName, err)
	}
	restarted = true
	systemtest.Eventually(t, "the refresh token refreshes again", func() error {
		_, err := cfg.TokenSource(t.Context(), &expired).Token()
		return err
	})
}
