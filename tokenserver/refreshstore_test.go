package tokenserver

import (
	"log/slog"
	"strings"
	"testing"

	"k8s.io/client-go/rest"
)

// TestRefreshTokensStoreChoice: the two stores build, anything else is refused, and a
// connection string that does not parse is refused without being repeated.
func TestRefreshTokensStoreChoice(t *testing.T) {
	kube := &rest.Config{Host: "https://127.0.0.1:1"}
	log := slog.New(slog.DiscardHandler)
	const password = "pa55-in-the-dsn"
	for _, c := range []struct {
		name    string
		options RefreshOptions
		wantErr string
	}{
		{"default", RefreshOptions{}, ""},
		{"kubernetes", RefreshOptions{Store: RefreshStoreKubernetes}, ""},
		{"postgres", RefreshOptions{Store: RefreshStorePostgres, PostgresDSN: "postgres://u:" + password + "@127.0.0.1:1/db"}, ""},
		{"postgres, a DSN that does not parse", RefreshOptions{Store: RefreshStorePostgres, PostgresDSN: "postgres://u:" + password + "@h:port/db"}, "does not parse"},
		{"unknown", RefreshOptions{Store: "etcd"}, `unknown refresh token store "etcd"`},
	} {
		t.Run(c.name, func(t *testing.T) {
			tokens, keep, err := refreshTokens(c.options, kube, "gatehouse-system", log)
			if c.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), c.wantErr) || strings.Contains(err.Error(), password) {
					t.Fatalf("err = %v, want one saying %q without the password", err, c.wantErr)
				}
				return
			}
			if err != nil || tokens == nil || keep == nil {
				t.Fatalf("refreshTokens: %v", err)
			}
		})
	}
}
