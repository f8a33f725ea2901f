package e2e_test

import (
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	identityv1alpha1 "github.com/gatehouse-dev/gatehouse/api/v1alpha1"
	"github.com/gatehouse-dev/gatehouse/test/ldaptest"
	"github.com/gatehouse-dev/gatehouse/test/systemtest"
	"github.com/gatehouse-dev/gatehouse/tokenserver/connector/ldap"
	"github.com/gatehouse-dev/gatehouse/tokenserver/tokentest"
)

// benchUsers is how many directory users the logins of BenchmarkReplicas spread over,
// as the peer measurement (Dex against the same slapd) did; in -short runs, a
// few, so that `make test` checks that the benchmark works.
func benchUsers() int {
	if testing.Short() {
		return 40
	}
	return 1000
}

// BenchmarkReplicas measures LDAP logins (search, bind and group search against a real
// slapd over LDAPS; scope openid email profile, so two signatures each) through
// token-server processes as the chart runs them: one replica, then two that share
// attack counts through their peers, the chart's default. For an RS256 and an ES256
// tenant, at concurrency 1, 8 and 32, the logins spread over the directory's users and
// go round robin to the replicas, as a Service spreads them. Each case reports logins/s,
// p50, p99, the peer messages received per login and the servers' CPU per login beside
// its floor: two signatures and the directory's round trips, measured in this process
// right after; a two-replica case also reports its logins/s over those of the
// one-replica case run just before it (vs-1-replica). A last case sends one
// user's right password at concurrency 32 to both replicas: concurrent right passwords
// are not failures, so every answer must be 200.
func BenchmarkReplicas(b *testing.B) {
	const namespace = "bench-replicas"
	sys.CreateNamespace(b, namespace)
	directory, passwords := ldaptest.StartSample(b)
	users, err := directory.AddUsers(benchUsers())
	if err != nil {
		b.Fatal(err)
	}
	a, second := newReplica(b, "replica-a"), newReplica(b, "replica-b")
	sys.StartController(b, "http://"+a.addr)
	a.start(b)

	tenants := map[string]systemtest.Credentials{}
	sys.Create(b, systemtest.LDAPBindSecret(namespace, "corp-ldap", directory, passwords["gatehouse"]))
	for _, alg := range []identityv1alpha1.SigningAlgorithm{identityv1alpha1.RS256, identityv1alpha1.ES256} {
		tenants[string(alg)] = ldapTenant(b, namespace, strings.ToLower(string(alg)), alg, directory.LDAPSURL)
	}
	bodies := func(creds systemtest.Credentials, users map[string]string) []string {
		var out []string
		for _, uid := range slices.Sorted(maps.Keys(users)) {
			out = append(out, url.Values{"grant_type": {"password"}, "client_id": {creds["client_id"]},
				"client_secret": {creds["client_secret"]}, "username": {uid}, "password": {users[uid]},
				"scope": {"openid email profile"}}.Encode())
		}
		return out
	}
	floorDirectory, err := ldap.New("floor", directory.SampleConfig(passwords["gatehouse"], directory.LDAPSURL))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = floorDirectory.Close() })

	// Each two-replica case runs right after its one-replica case, the second replica
	// started for it and stopped before the next one-replica case: the machine's speed
	// drifts over minutes (a shared VM here), and cases minutes apart compared the drift
	// as much as the replicas.
	single, both := []*replica{a}, []*replica{a, second}
	secondRunning := false
	for _, alg := range slices.Sorted(maps.Keys(tenants)) {
		creds := tenants[alg]
		signer := tokentest.NewKey(b, "floor", alg, "current").Signer
		for _, concurrency := range []int{1, 8, 32} {
			var oneReplica float64
			for _, replicas := range [][]*replica{single, both} {
				if running := len(replicas) == 2; running != secondRunning {
					if running {
						second.start(b)
					} else {
						second.proc.Stop(b)
					}
					secondRunning = running
				}
				waitPeers(b, replicas)
				urls := tokenURLs(b, replicas, creds, "user0", users["user0"])
				b.Run(fmt.Sprintf("replicas=%d/%s/concurrency=%d", len(replicas), alg, concurrency), func(b *testing.B) {
					cpu, messages := serversCPU(b, replicas), total(b, replicas, messagesReceived)
					load := tokentest.PostLoad(b, urls, bodies(creds, users), concurrency)
					load.Report(b)
					perLogin := (serversCPU(b, replicas) - cpu) / time.Duration(b.N)
					b.ReportMetric((total(b, replicas, messagesReceived)-messages)/float64(b.N), "peer-msgs/login")
					floor := tokentest.LoginFloor(b, floorDirectory, signer, "user0", users["user0"], concurrency)
					b.ReportMetric(float64(perLogin.Microseconds()), "server-cpu-µs/login")
					b.ReportMetric(float64(floor.Microseconds()), "floor-cpu-µs/login")
					b.ReportMetric(float64(perLogin)/float64(floor), "cpu/floor")
					if len(replicas) == 1 {
						oneReplica = load.Rate
					} else if oneReplica > 0 {
						b.ReportMetric(load.Rate/oneReplica, "vs-1-replica")
					}
				})
			}
		}
	}
	// The last case ran on both replicas, which still run.
	b.Run("replicas=2/RS256/one-user/concurrency=32", func(b *testing.B) {
		creds := tenants["RS256"]
		tokentest.PostLoad(b, tokenURLs(b, both, creds, "alice", passwords["alice"]), bodies(creds, map[string]string{"alice": passwords["alice"]}), 32).Report(b)
	})
}

// ldapTenant creates a Tenant signing with alg whose default directory is the slapd at
// ldapsURL, and a Client of it, and returns the Client's credentials once both are Ready.
func ldapTenant(b *testing.B, namespace, name string, alg identityv1alpha1.SigningAlgorithm, ldapsURL string) systemtest.Credentials {
	b.Helper()
	conn := systemtest.LDAPConnection(namespace, name+"-directory", name, "corp-ldap", ldapsURL)
	tenant := &identityv1alpha1.Tenant{
		ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: name},
		Spec:       identityv1alpha1.TenantSpec{DefaultDirectory: conn.Name, SigningKeys: identityv1alpha1.SigningKeysSpec{Algorithm: alg}},
	}
	app := &identityv1alpha1.Client{
		ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: name + "-app"},
		Spec:       identityv1alpha1.ClientSpec{TenantRef: identityv1alpha1.TenantReference{Name: name}},
	}
	sys.Create(b, tenant, conn, app)
	sys.WaitReady(b, tenant, conn, app)
	return sys.Credentials(b, app)
}

// waitPeers waits until each replica knows all the others.
func waitPeers(b *testing.B, replicas []*replica) {
	b.Helper()
	for _, r := range replicas {
		systemtest.Eventually(b, r.name+" knows its peers", func() error {
			if n := r.metric(b, peersKnown); int(n) != len(replicas)-1 {
				return fmt.Errorf("%v peers", n)
			}
			return nil
		})
	}
}

// tokenURLs are creds' token endpoint on each replica, once each serves the tenant
// (a login of username succeeds).
func tokenURLs(b *testing.B, replicas []*replica, creds systemtest.Credentials, username, password string) []string {
	b.Helper()
	var urls []string
	for _, r := range replicas {
		systemtest.Eventually(b, r.name+" serves the tenant", func() error {
			if status, code := r.login(b, creds, username, password); status != http.StatusOK {
				return fmt.Errorf("%d %s", status, code)
			}
			return nil
		})
		urls = append(urls, r.tokenURL(b, creds))
	}
	return urls
}

// serversCPU is the CPU time the replicas have used so far.
func serversCPU(b *testing.B, replicas []*replica) time.Duration {
	b.Helper()
	var sum time.Duration
	for _, r := range replicas {
		sum += r.proc.CPU(b)
	}
	return sum
}
