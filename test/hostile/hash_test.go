package hostile_test

import (
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"

	identityv1alpha1 "github.com/gatehouse-dev/gatehouse/api/v1alpha1"
	"github.com/gatehouse-dev/gatehouse/test/kubetest"
	"github.com/gatehouse-dev/gatehouse/test/systemtest"
	"github.com/gatehouse-dev/gatehouse/tokenserver/snapshot"
	"github.com/gatehouse-dev/gatehouse/tokenserver/tokentest"
)

// The flood: its users' hashes are argon2id at floodMemoryKiB, t=1, p=1, which must be
// within the caps (lower it to the memory cap if the caps are lower), and floodWorkers
// logins at a time hold floodWorkers times that memory without a limiter: over the
// chart's memory limit. Half the logins are of floodKnownUsers users, few enough at once
// each that attack protection does not lock them out.
const (
	floodMemoryKiB       = 64 << 10
	floodWorkers         = 12
	floodLoginsPerWorker = 2
	floodKnownUsers      = 4
)

// TestExpensiveHashes: mallory's users Secret names a hash that would take a GiB per
// login, and then she floods her own tenant with logins at the highest cost allowed. The
// first is refused by its parameters; the flood gets mallory's logins answered or told
// to come back later, while team-b's logins keep succeeding and the token server stays
// within the memory the chart gives it.
func TestExpensiveHashes(t *testing.T) {
	victim, mallory := newTeams(t, "hash")
	g := startGatehouse(t, "hash")
	b := newIssuer(t, victim.namespace, "bravo")
	victim.serve(t, g, b)

	t.Run("a hash over the caps is refused by its parameters alone", func(t *testing.T) {
		m := newIssuer(t, mallory.namespace, "gigabyte")
		// A real hash at a small cost, then the parameters of 1 GiB and one iteration:
		// the controller must refuse it without computing it.
		hash := strings.Replace(tokentest.Argon2idHash(t, m.password, 64, 1, 1), "$m=64,", "$m=1048576,", 1)
		m.setUsers(t, snapshot.User{ID: "gigabyte-user", Username: m.username, PasswordHash: hash})
		mallory.create(t, m)
		refused := mallory.WaitRefused(t, m.connection, identityv1alpha1.ReasonInvalidSecret)
		if !strings.Contains(refused.Message, m.username) {
			t.Errorf("the condition %q does not name the user %s", refused.Message, m.username)
		}
		// The cap is a number; the hash's own are 1048576 and 1.
		if numbers := regexp.MustCompile(`\d+`).FindAllString(refused.Message, -1); !slices.ContainsFunc(numbers, func(n string) bool { return n != "1048576" && n != "1" }) {
			t.Errorf("the condition %q names no cap (a number other than the hash's own m=1048576, t=1, p=1)", refused.Message)
		}
		b.expectLogin(t, g, "after a hash over the caps")
	})

	t.Run("a flood of logins at the highest cost allowed", func(t *testing.T) {
		m := newIssuer(t, mallory.namespace, "flood")
		known := make([]snapshot.User, floodKnownUsers)
		for i := range known {
			known[i] = snapshot.User{ID: fmt.Sprintf("flood-user-%d", i), Username: fmt.Sprintf("user-%d@flood.example", i),
				PasswordHash: tokentest.Argon2idHash(t, m.password, floodMemoryKiB, 1, 1)}
		}
		m.username = known[0].Username
		m.setUsers(t, known...)
		mallory.create(t, m)
		waitAdmitted(t, mallory, m.connection)
		mallory.waitServed(t, g, m)

		done := make(chan struct{})
		victimLogins := make(chan int)
		go func() { victimLogins <- keepLoggingIn(t, g, b, done) }()
		var flood sync.WaitGroup
		for worker := range floodWorkers {
			flood.Go(func() {
				for i := range floodLoginsPerWorker {
					// Known users and unknown ones cost the same: a hash at the users' cost.
					username := known[(worker+i)/2%len(known)].Username
					if (worker+i)%2 == 1 {
						username = fmt.Sprintf("nobody-%d-%d@flood.example", worker, i)
					}
					if err := allowedUnderFlood(m.login(g.http, username, m.password)); err != nil {
						t.Errorf("mallory's login as %s during her flood: %v", username, err)
					}
				}
			})
		}
		flood.Wait()
		close(done)
		t.Logf("team-b logged in %d times during the flood", <-victimLogins)

		limit := chartMemoryLimit(t)
		if peak := g.Memory(t).PeakRSS; peak > limit {
			t.Errorf("the token server's resident memory peaked at %d MiB, over the chart's limit of %d MiB: one tenant's flood would have it OOM-killed", peak>>20, limit>>20)
		}
	})

	b.expectLogin(t, g, "after the expensive hashes")
}

// keepLoggingIn logs the issuer's user in again and again until done, failing the test
// (and stopping) at the first login that does not succeed; it returns how many did.
func keepLoggingIn(t *testing.T, g *gatehouse, is *issuer, done <-chan struct{}) int {
	for n := 0; ; n++ {
		select {
		case <-done:
			return n
		case <-time.After(20 * time.Millisecond): // leaves the cores to the flood
		}
		if err := is.login(g.http, is.username, is.password).is(http.StatusOK, ""); err != nil {
			t.Errorf("login %d of %s/%s during the flood: %v", n+1, is.tenant.Namespace, is.tenant.Name, err)
			return n
		}
	}
}

// waitAdmitted fails the test if the controller refuses conn's users Secret: the
// flood's hash must be within the caps for the flood to test the limiter.
func waitAdmitted(t *testing.T, tm *team, conn *identityv1alpha1.Connection) {
	t.Helper()
	systemtest.Eventually(t, conn.Name+" has a Ready condition", func() error {
		tm.Get(t, conn)
		c := meta.FindStatusCondition(conn.Status.Conditions, identityv1alpha1.ConditionReady)
		switch {
		case c == nil:
			return fmt.Errorf("no Ready condition yet")
		case c.Status == metav1.ConditionFalse && c.Reason == identityv1alpha1.ReasonInvalidSecret:
			t.Fatalf("the flood's hash, argon2id m=%d KiB t=1 p=1, is over the caps; lower floodMemoryKiB to the cap: %s", floodMemoryKiB, c.Message)
		}
		return nil
	})
}

// allowedUnderFlood says what is wrong with an answer to a login of the flooding
// tenant: a token, a wrong login, attack protection's 429 too_many_attempts (the flood
// is many attempts) or 503 temporarily_unavailable with Retry-After are fine; anything
// else, another 5xx above all, is not.
func allowedUnderFlood(o outcome) error {
	switch {
	case o.err != nil:
		return fmt.Errorf("no answer: %w", o.err)
	case o.Status == http.StatusOK,
		o.Status == http.StatusBadRequest && o.Code == "invalid_grant",
		o.Status == http.StatusTooManyRequests && o.Code == "too_many_attempts":
		return nil
	case o.Status == http.StatusServiceUnavailable && o.Code == "temporarily_unavailable" && o.RetryAfter != "":
		return nil
	}
	return fmt.Errorf("answered %v; want 200, 400 invalid_grant, 429 too_many_attempts or 503 temporarily_unavailable with Retry-After", o.Answer)
}

// chartMemoryLimit is the token server's memory limit in the chart's default values.
func chartMemoryLimit(t *testing.T) int64 {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(kubetest.RepoRoot(), "charts", "gatehouse", "values.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var values struct {
		TokenServer struct {
			Resources struct {
				Limits struct {
					Memory string `json:"memory"`
				} `json:"limits"`
			} `json:"resources"`
		} `json:"tokenServer"`
	}
	if err := yaml.Unmarshal(data, &values); err != nil {
		t.Fatal(err)
	}
	limit, err := resource.ParseQuantity(values.TokenServer.Resources.Limits.Memory)
	if err != nil {
		t.Fatalf("tokenServer.resources.limits.memory of the chart: %v", err)
	}
	return limit.Value()
}
