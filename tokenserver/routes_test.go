package tokenserver

import (
	"log/slog"
	"maps"
	"net/http"
	"testing"

	"github.com/gatehouse-dev/gatehouse/tokenserver/snapshot"
	"github.com/gatehouse-dev/gatehouse/tokenserver/store"
)

// TestServerRoutesExactlyTheContractsPaths: the server routes the endpoints package
// snapshot names and no other, so that a path changed on one side only fails here rather
// than break the URLs the controller publishes.
func TestServerRoutesExactlyTheContractsPaths(t *testing.T) {
	want := map[string]string{
		snapshot.PathToken:                       "token",
		snapshot.PathRevoke:                      "revoke",
		snapshot.PathUserinfo:                    "userinfo",
		snapshot.PathJWKS:                        "jwks",
		snapshot.PathOpenIDConfiguration:         "discovery",
		snapshot.PathAuthorizationServerMetadata: "discovery",
	}
	got := map[string]string{}
	for path, r := range NewServer(store.New(), slog.New(slog.DiscardHandler), NewMetrics()).routes {
		got[path] = r.endpoint
	}
	if !maps.Equal(got, want) {
		t.Errorf("the server routes %v, the contract names %v", got, want)
	}
}

// TestPublishedURLsAreServed: the URLs built by package snapshot from a tenant's issuer,
// which the controller publishes in status and credentials, reach the tenant's endpoints.
func TestPublishedURLsAreServed(t *testing.T) {
	ts := newTestServer(t)
	issuer := ts.acme.Snapshot.Issuer
	for _, tc := range []struct {
		url, method string
		want        int
	}{
		{snapshot.TokenURL(issuer), http.MethodPost, http.StatusBadRequest}, // no grant
		{snapshot.RevokeURL(issuer), http.MethodPost, http.StatusBadRequest},
		{snapshot.UserinfoURL(issuer), http.MethodGet, http.StatusUnauthorized},
		{snapshot.JWKSURL(issuer), http.MethodGet, http.StatusOK},
		{snapshot.DiscoveryURL(issuer), http.MethodGet, http.StatusOK},
		{snapshot.TokenURL(issuer) + "/", http.MethodPost, http.StatusNotFound},
	} {
		req, err := http.NewRequest(tc.method, tc.url, nil)
		if err != nil {
			t.Fatal(err)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != tc.want {
			t.Errorf("%s %s: %d, want %d", tc.method, tc.url, resp.StatusCode, tc.want)
		}
	}
}
