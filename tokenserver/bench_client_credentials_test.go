package tokenserver

import (
	"fmt"
	"log/slog"
	"net/http/httptest"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"golang.org/x/crypto/bcrypt"

	"github.com/gatehouse-dev/gatehouse/tokenserver/serviceaccount"
	"github.com/gatehouse-dev/gatehouse/tokenserver/snapshot"
	"github.com/gatehouse-dev/gatehouse/tokenserver/store"
	"github.com/gatehouse-dev/gatehouse/tokenserver/tokentest"
)

// BenchmarkClientCredentials measures machine tokens through HTTP, the client
// authenticated by its secret or by a ServiceAccount token (verified with the issuer's
// keys, its TokenReview remembered as a Job reusing its projected token finds it), at
// concurrency 1, 8 and 32, signed ES256 and RS256. Beside the CPU per token of the
// process (server and load generator, which share it) it reports the floor: the CPU of
// the signature, and of the assertion's verification, that a token cannot avoid.
func BenchmarkClientCredentials(b *testing.B) {
	cluster := tokentest.NewServiceAccountIssuer(b)
	verifier, err := serviceaccount.New(cluster.Config(), slog.New(slog.DiscardHandler), serviceaccount.Options{ReviewTTL: time.Hour})
	if err != nil {
		b.Fatal(err)
	}
	for _, alg := range []string{"ES256", "RS256"} {
		st := store.New()
		srv := httptest.NewServer(NewServer(st, slog.New(slog.DiscardHandler), NewMetrics(), WithServiceAccounts(verifier)))
		b.Cleanup(srv.Close)
		key := tokentest.NewKey(b, "bench-"+alg, alg, "current")
		ft := tokentest.NewTenant(b, "uid-bench", "bench", "acme", srv.URL+"/bench/acme/", "", bcrypt.MinCost, key)
		ft.Snapshot.Clients = append(ft.Snapshot.Clients, snapshot.Client{
			ClientID: boundMachine, Name: "bound", Type: "confidential", GrantTypes: []string{"client_credentials"},
			ServiceAccount: &snapshot.ServiceAccountRef{Namespace: "bench", Name: "reporter"},
			APIs:           []snapshot.ClientGrant{{Identifier: tokentest.APIIdentifier, Scopes: []string{"read:sample"}}},
		})
		st.Publish([]*store.Tenant{ft.View(b)})
		assertion := cluster.Token(b, "bench", "reporter", []string{ft.Snapshot.Issuer}, nil, nil)
		sign := func() error { return tokentest.Sign(key.Signer) }
		verifyAssertion := func() error {
			jws, err := jose.ParseSignedCompact(assertion, []jose.SignatureAlgorithm{jose.ES256})
			if err == nil {
				_, err = jws.Verify(&cluster.Key.PublicKey)
			}
			return err
		}
		for _, method := range []struct {
			name  string
			body  string
			floor []func() error
		}{
			{"secret", form("grant_type", "client_credentials", "client_id", tokentest.Machine, "client_secret", ft.MachineSecret), []func() error{sign}},
			{"serviceaccount", form("grant_type", "client_credentials", "client_id", boundMachine,
				"client_assertion_type", assertionTypeJWTBearer, "client_assertion", assertion), []func() error{sign, verifyAssertion}},
		} {
			for _, concurrency := range []int{1, 8, 32} {
				b.Run(fmt.Sprintf("%s/%s/concurrency=%d", alg, method.name, concurrency), func(b *testing.B) {
					cpu := tokentest.ProcessCPU(b)
					load := tokentest.PostLoad(b, []string{benchTokenURL(srv)}, []string{method.body}, concurrency)
					perToken := (tokentest.ProcessCPU(b) - cpu) / time.Duration(b.N)
					floor := tokentest.CPUPerOp(b, concurrency, func() error {
						for _, op := range method.floor {
							if err := op(); err != nil {
								return err
							}
						}
						return nil
					})
					load.Report(b)
					b.ReportMetric(float64(perToken.Microseconds()), "cpu-µs/token")
					b.ReportMetric(float64(floor.Microseconds()), "floor-cpu-µs/token")
					b.ReportMetric(float64(perToken)/float64(floor), "cpu/floor")
				})
			}
		}
	}
}
