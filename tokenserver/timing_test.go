package tokenserver

import (
	"bytes"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/gatehouse-dev/gatehouse/tokenserver/store"
	"github.com/gatehouse-dev/gatehouse/tokenserver/tokentest"
)

// TestUnknownUserIsIndistinguishable compares, over interleaved samples, the answers to
// an unknown user and to a known user with a password longer than bcrypt checks with
// those to a known user with a wrong password: they must be byte-identical and take
// about as long. A server that skips the dummy hash answers unknown users many times
// faster; one whose dummy hash has a fixed cost answers them 4× slower than users hashed
// at a cost two lower; one that refuses long passwords without a check answers them
// many times faster.
func TestUnknownUserIsIndistinguishable(t *testing.T) {
	for _, cost := range []int{bcrypt.DefaultCost, bcrypt.DefaultCost - 2} {
		t.Run("bcrypt cost "+strconv.Itoa(cost), func(t *testing.T) { testUnknownUserIsIndistinguishable(t, cost) })
	}
}

func testUnknownUserIsIndistinguishable(t *testing.T, cost int) {
	const samples = 15
	// Each request moves the clock a day, past the longest cool-down, so no login gets
	// blocked while attack protection still runs on every attempt.
	var ticks atomic.Int64
	clock := func() time.Time { return time.Now().Add(time.Duration(ticks.Add(1)) * 24 * time.Hour) }
	st := store.New()
	srv := httptest.NewServer(NewServer(st, slog.New(slog.DiscardHandler), NewMetrics(), WithClock(clock)))
	t.Cleanup(srv.Close)
	ft := tokentest.NewTenant(t, "uid-timing", "team-t", "timing", srv.URL+"/team-t/timing/", "", cost,
		tokentest.NewKey(t, "timing-current", "ES256", "current"))
	st.Publish([]*store.Tenant{ft.View(t)})

	login := func(username, password string) (answer []byte, took time.Duration) {
		body := form("grant_type", "password", "client_id", tokentest.Public, "username", username, "password", password)
		start := time.Now()
		resp, err := http.Post(ft.Snapshot.Issuer+"oauth/token", formType, strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		raw, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatal(err)
		}
		return append([]byte(strconv.Itoa(resp.StatusCode)+" "), raw...), time.Since(start)
	}

	long := ft.AlicePassword + strings.Repeat("x", 72)
	want, _ := login(tokentest.Alice, "wrong")
	var known, unknown, tooLong []time.Duration
	for i := range samples {
		answer, took := login(tokentest.Alice, "wrong")
		if !bytes.Equal(answer, want) {
			t.Fatalf("wrong password: %q, then %q", want, answer)
		}
		known = append(known, took)
		if answer, took = login("nobody-"+strconv.Itoa(i), "wrong"); !bytes.Equal(answer, want) {
			t.Fatalf("unknown user: %q, wrong password: %q", answer, want)
		}
		unknown = append(unknown, took)
		if answer, took = login(tokentest.Alice, long); !bytes.Equal(answer, want) {
			t.Fatalf("password over 72 bytes: %q, wrong password: %q", answer, want)
		}
		tooLong = append(tooLong, took)
	}
	k := median(known)
	for name, d := range map[string]time.Duration{"an unknown user": median(unknown), "a password over 72 bytes": median(tooLong)} {
		t.Logf("median answer: known user with a wrong password %v, %s %v", k, name, d)
		if d < k/2 || d > 2*k {
			t.Errorf("median answer to %s %v, to a wrong password %v: not within a factor of 2", name, d, k)
		}
	}
}

func median(ds []time.Duration) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[len(s)/2]
}
