package faults_test

import (
	"context"
	"fmt"
	"sync"
	"testing"

	"github.com/coreos/go-oidc/v3/oidc"

	identityv1alpha1 "github.com/gatehouse-dev/gatehouse/api/v1alpha1"
	"github.com/gatehouse-dev/gatehouse/test/systemtest"
)

// loadWorkers get tokens at once, without pause, during the rotations.
const loadWorkers = 4

// TestKeyRotationUnderLoad rotates a Tenant's keys twice while clients keep getting
// tokens: every token verifies through the Tenant's JWKS with go-oidc when it is issued,
// and again after the rotations, when a key removed too early would fail it.
func TestKeyRotationUnderLoad(t *testing.T) {
	sys.StartGatehouse(t)
	acme := applySample(t, "rotation")
	ctx := t.Context()
	verifierFor := func(keySet oidc.KeySet) *oidc.IDTokenVerifier {
		return oidc.NewVerifier(acme.creds["issuer"], keySet, &oidc.Config{ClientID: "https://someapi.com/api"})
	}
	whenIssued := verifierFor(oidc.NewRemoteKeySet(ctx, acme.creds.JWKSURL()))

	load := startLoad(ctx, acme, whenIssued)
	kids := []string{currentKID(t, acme.tenant)}
	for i := range 2 {
		kids = append(kids, sys.RotateKeys(t, acme.tenant, fmt.Sprintf("rotation-%d", i), acme.token))
	}
	load.waitForTokens(t, kids[len(kids)-1], loadWorkers*5)
	tokens, errs := load.stop()
	for _, err := range errs {
		t.Error(err)
	}

	afterwards := verifierFor(oidc.NewRemoteKeySet(ctx, acme.creds.JWKSURL()))
	signedBy := map[string]int{}
	for _, tok := range tokens {
		signedBy[systemtest.TokenKID(t, tok)]++
		if _, err := afterwards.Verify(ctx, tok); err != nil {
			t.Errorf("a token signed with key %s no longer verifies after the rotations: %v", systemtest.TokenKID(t, tok), err)
		}
	}
	t.Logf("%d tokens verified, by signing key: %v", len(tokens), signedBy)
	for _, kid := range kids {
		if signedBy[kid] == 0 {
			t.Errorf("no token of the load was signed with key %s (keys %v): the load did not span the rotations", kid, kids)
		}
	}
}

// load is clients getting tokens without pause, each verified at once.
type load struct {
	cancel context.CancelFunc
	wg     sync.WaitGroup
	mu     sync.Mutex
	tokens []string
	errs   []error
}

func startLoad(ctx context.Context, s *sample, verifier *oidc.IDTokenVerifier) *load {
	ctx, cancel := context.WithCancel(ctx)
	l := &load{cancel: cancel}
	for range loadWorkers {
		l.wg.Go(func() {
			for ctx.Err() == nil {
				l.record(issueAndVerify(ctx, s, verifier))
			}
		})
	}
	return l
}

func issueAndVerify(ctx context.Context, s *sample, verifier *oidc.IDTokenVerifier) (string, error) {
	tok, err := s.token()
	if err != nil {
		return "", fmt.Errorf("a token request failed during the rotations: %w", err)
	}
	if _, err := verifier.Verify(ctx, tok.AccessToken); err != nil && ctx.Err() == nil {
		return "", fmt.Errorf("a token just issued does not verify: %w", err)
	}
	return tok.AccessToken, nil
}

func (l *load) record(token string, err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if err != nil {
		l.errs = append(l.errs, err)
		return
	}
	l.tokens = append(l.tokens, token)
}

// waitForTokens waits until the load got n tokens signed with kid.
func (l *load) waitForTokens(t *testing.T, kid string, n int) {
	t.Helper()
	systemtest.Eventually(t, fmt.Sprintf("the load gets %d tokens signed with %s", n, kid), func() error {
		l.mu.Lock()
		defer l.mu.Unlock()
		got := 0
		for _, tok := range l.tokens {
			if systemtest.TokenKID(t, tok) == kid {
				got++
			}
		}
		if got < n {
			return fmt.Errorf("%d so far", got)
		}
		return nil
	})
}

// stop ends the load and returns the tokens it got and its failures.
func (l *load) stop() ([]string, []error) {
	l.cancel()
	l.wg.Wait()
	return l.tokens, l.errs
}

func currentKID(t *testing.T, tenant *identityv1alpha1.Tenant) string {
	t.Helper()
	sys.Get(t, tenant)
	return systemtest.CurrentKID(tenant)
}
