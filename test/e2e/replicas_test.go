package e2e_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	identityv1alpha1 "github.com/gatehouse-dev/gatehouse/api/v1alpha1"
	"github.com/gatehouse-dev/gatehouse/test/proctest"
	"github.com/gatehouse-dev/gatehouse/test/systemtest"
	"github.com/gatehouse-dev/gatehouse/tokenserver/peers"
	"github.com/gatehouse-dev/gatehouse/tokenserver/tokenclient"
)

// replica is one token-server process and the addresses it listens on.
type replica struct {
	name, addr, metricsAddr, peerAddr string
	proc                              *systemtest.TokenServer
}

func newReplica(t testing.TB, name string) *replica {
	return &replica{name: name, addr: proctest.MustFreeAddress(t), metricsAddr: proctest.MustFreeAddress(t), peerAddr: proctest.MustFreeAddress(t)}
}

// start runs the replica, with more flags, and waits until it is ready, which it is
// only once it has joined its peers.
func (r *replica) start(t testing.TB, flags ...string) {
	t.Helper()
	r.proc = sys.StartTokenServerAt(t, r.addr, r.metricsAddr, append([]string{
		"--peer-identity", r.name, "--peer-bind-address", r.peerAddr, "--peer-advertise-address", r.peerAddr}, flags...)...)
	r.proc.WaitReady(t)
}

// metric reads a sample of the replica's /metrics, 0 when absent.
func (r *replica) metric(t testing.TB, sample string) float64 {
	t.Helper()
	return systemtest.Metric(t, r.proc.MetricsURL, sample)
}

const (
	peersKnown        = "gatehouse_tokenserver_peers"
	messagesReceived  = `gatehouse_tokenserver_peer_messages_total{result="received"}`
	messagesRejected  = `gatehouse_tokenserver_peer_messages_total{result="rejected"}`
	peerWaits         = `gatehouse_tokenserver_login_peer_waits_total{tenant="team-replicas/acme"}`
	overruns          = `gatehouse_tokenserver_login_attempts_overrun_total{reason="brute_force",tenant="team-replicas/acme"}`
	attemptsThreshold = 10
)

// total sums a sample over the replicas.
func total(t testing.TB, replicas []*replica, sample string) float64 {
	t.Helper()
	var sum float64
	for _, r := range replicas {
		sum += r.metric(t, sample)
	}
	return sum
}

// login posts a password grant to the replica and returns the status and error code
// (200 and "" for a token). It may run in a goroutine of the test, so it reports a
// request that got no answer with Errorf, as status 0.
func (r *replica) login(t testing.TB, creds systemtest.Credentials, username, password string) (int, string) {
	t.Helper()
	return r.loginWith(t, http.DefaultClient, creds, username, password)
}

// tokenURL is the token endpoint of creds on the replica.
func (r *replica) tokenURL(t testing.TB, creds systemtest.Credentials) string {
	t.Helper()
	u, err := url.Parse(creds["token_url"])
	if err != nil {
		t.Errorf("token URL: %v", err)
		return ""
	}
	u.Host = r.addr
	return u.String()
}

// loginWith is login through client.
func (r *replica) loginWith(t testing.TB, client *http.Client, creds systemtest.Credentials, username, password string) (int, string) {
	t.Helper()
	tokenURL := r.tokenURL(t, creds)
	if tokenURL == "" {
		return 0, ""
	}
	_, _, err := tokenclient.Fetch(context.Background(), client, tokenclient.Request{
		Credentials: tokenclient.Credentials{ClientID: creds["client_id"], ClientSecret: creds["client_secret"], TokenURL: tokenURL},
		Username:    username, Password: password,
	})
	var answer *tokenclient.Error
	switch {
	case err == nil:
		return http.StatusOK, ""
	case errors.As(err, &answer):
		return answer.Status, answer.Code
	default:
		t.Errorf("login on %s: %v", r.name, err)
		return 0, ""
	}
}

// fail makes n failed logins of user, alternating between the replicas. Before each the
// test waits until the other replica has received the last: counts converge within the
// broadcast latency, milliseconds, which a remote attacker's round trip exceeds; guesses
// sent at once are the documented limit.
func fail(t *testing.T, replicas []*replica, creds systemtest.Credentials, user string, n int) {
	t.Helper()
	for i := range n {
		r, other := replicas[i%2], replicas[(i+1)%2]
		before := other.metric(t, messagesReceived)
		if status, code := r.login(t, creds, user, "wrong"); code != "invalid_grant" {
			t.Fatalf("failure %d on %s: %d %s, want invalid_grant", i+1, r.name, status, code)
		}
		systemtest.Eventually(t, other.name+" receives the count", func() error {
			if other.metric(t, messagesReceived) <= before {
				return fmt.Errorf("nothing received yet")
			}
			return nil
		})
	}
}

// connected returns a client holding n open connections to each replica, so that n
// requests to one leave at once rather than each after its own handshake.
func connected(t *testing.T, replicas []*replica, creds systemtest.Credentials, n int) *http.Client {
	t.Helper()
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: n}}
	t.Cleanup(client.CloseIdleConnections)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for _, r := range replicas {
		tokenURL := r.tokenURL(t, creds)
		for range n {
			wg.Go(func() {
				<-start
				resp, err := client.Get(tokenURL) // any answer opens a connection
				if err != nil {
					t.Errorf("connecting to %s: %v", r.name, err)
					return
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			})
		}
	}
	close(start)
	wg.Wait()
	return client
}

func expectBlocked(t *testing.T, replicas []*replica, creds systemtest.Credentials, user string) {
	t.Helper()
	for _, r := range replicas {
		if status, code := r.login(t, creds, user, "wrong"); status != http.StatusTooManyRequests || code != "too_many_attempts" {
			t.Errorf("%s answered %d %s; want 429 too_many_attempts", r.name, status, code)
		}
	}
}

// TestReplicasShareAttemptCounts runs the controller and two token-server replicas as
// processes with the shipped RBAC: failed logins spread over both count once, towards
// one threshold; a restarted replica takes its peer's counts; forged peer messages are
// refused.
func TestReplicasShareAttemptCounts(t *testing.T) {
	const namespace = "team-replicas"
	sys.CreateNamespace(t, namespace)
	a, b := newReplica(t, "replica-a"), newReplica(t, "replica-b")
	sys.StartController(t, "http://"+a.addr)
	a.start(t)
	b.start(t)
	replicas := []*replica{a, b}

	password := rand.Text()
	sys.ApplySamples(t, namespace, password)
	app := &identityv1alpha1.Client{ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: "reporting-job"}}
	sys.WaitReady(t, app)
	creds := sys.Credentials(t, app)
	const user = "user@example.com"
	for _, r := range replicas {
		systemtest.Eventually(t, r.name+" serves the tenant", func() error {
			if status, code := r.login(t, creds, user, password); status != http.StatusOK {
				return fmt.Errorf("%d %s", status, code)
			}
			return nil
		})
		systemtest.Eventually(t, r.name+" knows its peer", func() error {
			if n := r.metric(t, peersKnown); n != 1 {
				return fmt.Errorf("%v peers", n)
			}
			return nil
		})
	}

	t.Run("a first login waits for no peer", func(t *testing.T) {
		// Within its replica's share of the threshold, an attempt is answered at once.
		for _, r := range replicas {
			before := r.metric(t, peerWaits)
			if status, code := r.login(t, creds, user, password); status != http.StatusOK {
				t.Fatalf("%s: %d %s", r.name, status, code)
			}
			if got := r.metric(t, peerWaits); got != before {
				t.Errorf("%s: %v logins waited for the peer, want %v", r.name, got, before)
			}
		}
	})

	t.Run("failures on both replicas count towards one threshold", func(t *testing.T) {
		before := total(t, replicas, peerWaits)
		fail(t, replicas, creds, user, attemptsThreshold)
		expectBlocked(t, replicas, creds, user)
		if status, code := a.login(t, creds, user, password); status != http.StatusTooManyRequests {
			t.Errorf("the right password while locked out: %d %s, want 429", status, code)
		}
		// The failures past each replica's share (half the threshold) waited for the peer.
		if got := total(t, replicas, peerWaits) - before; got != attemptsThreshold/2 {
			t.Errorf("%v failures waited for the peer, want the %d past the replicas' shares", got, attemptsThreshold/2)
		}
	})

	t.Run("a peer message with a wrong HMAC is refused", func(t *testing.T) {
		before := a.metric(t, messagesRejected)
		// A reset of every count, signed with a key of the attacker's.
		body := []byte(`{"ops":[{"k":"","r":true}]}`)
		req, err := http.NewRequest(http.MethodPost, "http://"+a.peerAddr+peers.PathOps, bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Gatehouse-Peer-Timestamp", strconv.FormatInt(time.Now().UnixMilli(), 10))
		req.Header.Set("Gatehouse-Peer-Nonce", rand.Text())
		req.Header.Set("Gatehouse-Peer-Signature", rand.Text())
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("a forged message: %s, want 401", resp.Status)
		}
		if got := a.metric(t, messagesRejected); got != before+1 {
			t.Errorf("rejected messages %v, want %v", got, before+1)
		}
		if status, code := a.login(t, creds, user, "wrong"); status != http.StatusTooManyRequests {
			t.Errorf("after a forged reset: %d %s; want 429 too_many_attempts", status, code)
		}
	})

	t.Run("a simultaneous burst gets no more answers than the threshold", func(t *testing.T) {
		// 40 guesses at once, half on each replica, land within the broadcast latency:
		// each replica passes up to the threshold on its own count, but those past its
		// share wait for the peer's reservations, and an attempt over the limit is then
		// refused whatever its password: the cross-replica check must have refused some,
		// or the guesses did not arrive at once.
		overrunsBefore := total(t, replicas, overruns)
		const burst = 4 * attemptsThreshold
		client := connected(t, replicas, creds, burst/len(replicas))
		start := make(chan struct{})
		var mu sync.Mutex
		let := 0
		var wg sync.WaitGroup
		for i := range burst {
			wg.Go(func() {
				<-start
				if _, code := replicas[i%2].loginWith(t, client, creds, "burst@example.com", "wrong"); code == "invalid_grant" {
					mu.Lock()
					let++
					mu.Unlock()
				}
			})
		}
		close(start)
		wg.Wait()
		refused := total(t, replicas, overruns) - overrunsBefore
		t.Logf("a burst of %d simultaneous guesses over %d replicas: %d answered, %v refused after their password check, the rest before", burst, len(replicas), let, refused)
		if let > attemptsThreshold {
			t.Errorf("%d guesses answered, want at most %d", let, attemptsThreshold)
		}
		if refused == 0 {
			t.Error("the cross-replica check refused no guess: the burst did not reach both replicas at once")
		}
		for _, r := range replicas {
			systemtest.Eventually(t, r.name+" refuses the burst's user", func() error {
				if status, code := r.login(t, creds, "burst@example.com", "wrong"); status != http.StatusTooManyRequests {
					return fmt.Errorf("%d %s", status, code)
				}
				return nil
			})
		}
	})

	// A restarted replica keeps the lockout. This is not a subtest, as the processes a
	// test starts stop when it ends.
	b.proc.Stop(t)
	b.start(t)
	if status, code := b.login(t, creds, user, "wrong"); status != http.StatusTooManyRequests {
		t.Errorf("the restarted replica answered %d %s; want 429 too_many_attempts", status, code)
	}

	// An unblock is applied once: failures counted after it survive a replica's restart,
	// which must not apply it again.
	tenant := &identityv1alpha1.Tenant{ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: "acme"}}
	sys.Update(t, tenant, func() {
		metav1.SetMetaDataAnnotation(&tenant.ObjectMeta, identityv1alpha1.UnblockAnnotation, user+";1")
	})
	systemtest.Eventually(t, "the unblock reaches the token servers", func() error {
		if status, code := a.login(t, creds, user, password); status != http.StatusOK {
			return fmt.Errorf("%d %s", status, code)
		}
		return nil
	})
	const before = 3
	fail(t, replicas, creds, user, before)
	a.proc.Stop(t)
	a.start(t)
	fail(t, []*replica{a, b}, creds, user, attemptsThreshold-before)
	expectBlocked(t, replicas, creds, user)
}
