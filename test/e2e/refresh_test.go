package e2e_test

import (
	"crypto/rand"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"
	"golang.org/x/oauth2"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	identityv1alpha1 "github.com/gatehouse-dev/gatehouse/api/v1alpha1"
	"github.com/gatehouse-dev/gatehouse/test/systemtest"
	"github.com/gatehouse-dev/gatehouse/tokenserver/snapshot"
)

// TestRefreshTokens runs the controller and two token-server replicas sharing each
// refresh token store: golang.org/x/oauth2 logs in with offline_access and its
// TokenSource refreshes through rotations on both replicas; a rotated-out token revokes
// its family; oauth/revoke revokes one; concurrent refreshes of one token on both
// replicas get one successor; a new password and the Tenant's annotation revoke.
func TestRefreshTokens(t *testing.T) {
	for _, name := range systemtest.RefreshStores {
		t.Run(name, func(t *testing.T) { testRefreshTokens(t, name) })
	}
}

func testRefreshTokens(t *testing.T, storeName string) {
	rs := systemtest.StartRefreshStore(t, storeName)
	namespace := "refresh-" + storeName
	sys.CreateNamespace(t, namespace)
	a, b := newReplica(t, "refresh-a-"+storeName), newReplica(t, "refresh-b-"+storeName)
	sys.StartController(t, "http://"+a.addr)
	a.start(t, rs.Flags...)
	b.start(t, rs.Flags...)

	password := rand.Text()
	sys.ApplySamples(t, namespace, password)
	app := &identityv1alpha1.Client{ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: "reporting-job"}}
	api := &identityv1alpha1.API{ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: "sample"}}
	sys.WaitReady(t, app, api)
	// A reuse interval, so that two replicas refreshing one token at once both answer.
	sys.EnableRefreshTokens(t, app, api, identityv1alpha1.RefreshTokensSpec{Leeway: &metav1.Duration{Duration: 30 * time.Second}})
	creds := sys.Credentials(t, app)
	const user = "user@example.com"
	configs := []oauth2.Config{creds.OfflineConfig(a.addr), creds.OfflineConfig(b.addr)}
	for _, cfg := range configs {
		systemtest.WaitOfflineToken(t, cfg, user, password)
	}
	login := func(t *testing.T) *oauth2.Token {
		t.Helper()
		tok, err := configs[0].PasswordCredentialsToken(t.Context(), user, password)
		if err != nil || tok.RefreshToken == "" {
			t.Fatalf("login: %v, refresh token %t", err, tok != nil && tok.RefreshToken != "")
		}
		return tok
	}

	t.Run("TokenSource refreshes through rotations on both replicas, then a rotated-out token revokes the family", func(t *testing.T) {
		first := login(t)
		if scope := first.Extra("scope"); !strings.Contains(fmt.Sprint(scope), "offline_access") {
			t.Errorf("login scope %v, want offline_access granted", scope)
		}
		latest := first
		for i := range 4 {
			next := refreshed(t, configs[i%2], latest)
			if next.RefreshToken == latest.RefreshToken || next.Extra("id_token") == nil {
				t.Fatalf("refresh %d on replica %d: no new refresh token or no id_token", i, i%2)
			}
			latest = next
		}
		expectRefused(t, configs[1], first, http.StatusBadRequest, "invalid_grant")
		expectRefused(t, configs[0], latest, http.StatusBadRequest, "invalid_grant")
	})

	t.Run("oauth/revoke on one replica revokes the family on the other", func(t *testing.T) {
		tok := login(t)
		revokeURL := snapshot.RevokeURL(strings.Replace(creds["issuer"], a.addr, b.addr, 1))
		req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, revokeURL, strings.NewReader(url.Values{"token": {tok.RefreshToken}}.Encode()))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.SetBasicAuth(url.QueryEscape(creds["client_id"]), url.QueryEscape(creds["client_secret"]))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("revocation on %s: %s", b.name, resp.Status)
		}
		expectRefused(t, configs[0], tok, http.StatusBadRequest, "invalid_grant")
	})

	t.Run("one token refreshed on both replicas at once gets one successor", func(t *testing.T) {
		tok := login(t)
		answers := make([]*oauth2.Token, 2)
		errs := make([]error, 2)
		var wg sync.WaitGroup
		for i, cfg := range configs {
			wg.Go(func() { answers[i], errs[i] = refresh(t, cfg, tok) })
		}
		wg.Wait()
		if errs[0] != nil || errs[1] != nil {
			t.Fatalf("refreshes: %v; %v", errs[0], errs[1])
		}
		if answers[0].RefreshToken != answers[1].RefreshToken {
			t.Fatal("the replicas answered two successors: the family has two live branches")
		}
		refreshed(t, configs[1], answers[0])
	})

	t.Run("a new password in the users Secret revokes the user's families", func(t *testing.T) {
		tok := login(t)
		samples, err := systemtest.ReadSamples(systemtest.SamplesDir(), namespace)
		if err != nil {
			t.Fatal(err)
		}
		newPassword := rand.Text()
		if err := samples.SetPassword(newPassword, bcrypt.MinCost); err != nil {
			t.Fatal(err)
		}
		users := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: samples.Users.Name}}
		sys.Update(t, users, func() { users.StringData = samples.Users.StringData })
		waitRevoked(t, configs, tok)
		password = newPassword
	})

	t.Run("the revoke-refresh-tokens annotation revokes the tenant's families, and no later one", func(t *testing.T) {
		tok := login(t)
		reloads := `gatehouse_tokenserver_snapshot_reloads_total{result="loaded",tenant="` + namespace + `/acme"}`
		before := []float64{a.metric(t, reloads), b.metric(t, reloads)}
		tenant := &identityv1alpha1.Tenant{ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: "acme"}}
		sys.Update(t, tenant, func() {
			metav1.SetMetaDataAnnotation(&tenant.ObjectMeta, identityv1alpha1.RevokeRefreshTokensAnnotation, "*;1")
		})
		waitRevoked(t, configs, tok)
		// Each replica revokes once it sees the change; a family issued after both saw it
		// stays.
		for i, r := range []*replica{a, b} {
			systemtest.Eventually(t, r.name+" loads the annotated snapshot", func() error {
				if r.metric(t, reloads) <= before[i] {
					return errors.New("not yet")
				}
				return nil
			})
		}
		later := login(t)
		time.Sleep(500 * time.Millisecond) // what each replica's revocation worker does takes milliseconds
		refreshed(t, configs[1], later)
	})
}

// waitRevoked refreshes tok, each time with the last token answered, alternating
// between the replicas, until a refresh is refused: since each refresh presents the
// current token, a refusal means the family was revoked.
func waitRevoked(t *testing.T, configs []oauth2.Config, tok *oauth2.Token) {
	t.Helper()
	i := 0
	systemtest.Eventually(t, "the family is revoked", func() error {
		next, err := refresh(t, configs[i%len(configs)], tok)
		i++
		if answer, ok := systemtest.AnswerOf(err); ok && answer.Code == "invalid_grant" {
			return nil
		}
		if err != nil {
			return err
		}
		tok = next
		return errors.New("the family still refreshes")
	})
	expectRefused(t, configs[i%len(configs)], tok, http.StatusBadRequest, "invalid_grant")
}

// refresh makes cfg's TokenSource refresh tok now.
func refresh(t *testing.T, cfg oauth2.Config, tok *oauth2.Token) (*oauth2.Token, error) {
	expired := *tok
	expired.Expiry = time.Now().Add(-time.Minute)
	return cfg.TokenSource(t.Context(), &expired).Token()
}

// refreshed is refresh, failing the test on an error.
func refreshed(t *testing.T, cfg oauth2.Config, tok *oauth2.Token) *oauth2.Token {
	t.Helper()
	next, err := refresh(t, cfg, tok)
	if err != nil {
		t.Fatalf("refresh at %s: %v", cfg.Endpoint.TokenURL, err)
	}
	return next
}

// expectRefused refreshes tok through cfg and expects the error answer status and code.
func expectRefused(t *testing.T, cfg oauth2.Config, tok *oauth2.Token, status int, code string) {
	t.Helper()
	_, err := refresh(t, cfg, tok)
	var re *oauth2.RetrieveError
	if !errors.As(err, &re) || re.Response.StatusCode != status || re.ErrorCode != code {
		t.Errorf("refresh at %s: %v, want %d %s", cfg.Endpoint.TokenURL, err, status, code)
	}
}
