package refreshtest

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/tokenserver/refresh"
	"github.com/gatehouse-dev/gatehouse/tokenserver/tokentest"
)

// Bench benchmarks refreshes with rotation over s at concurrency 1, 8 and 32 (1 alone
// with -short): each of the concurrent clients rotates a family of its own, as clients
// of one tenant do. It reports refreshes/s, p50 and p99 and, per refresh, each count
// that counts reports (what the store costs: API-server writes, SQL statements), read
// before and after the run.
func Bench(b *testing.B, s refresh.Store, counts func() map[string]int64) {
	levels := []int{1, 8, 32}
	if testing.Short() {
		levels = levels[:1]
	}
	for _, c := range levels {
		b.Run(fmt.Sprintf("c=%d", c), func(b *testing.B) {
			tokens := refresh.New(s, refresh.Options{})
			grant := refresh.Grant{Tenant: "ns/bench", TenantUID: uniqueTenant("bench"), ClientID: "client", Connection: "db", Scopes: []string{"openid", "offline_access"}}
			p := refresh.Policy{Rotation: true, ReuseInterval: 10 * time.Second, AbsoluteLifetime: time.Hour, IdleLifetime: time.Hour}
			live := make(chan string, c)
			for i := range c {
				grant.UserID = fmt.Sprintf("user%d", i)
				grant.Subject = "db|" + grant.UserID
				token, err := tokens.Issue(context.Background(), grant, p)
				if err != nil {
					b.Fatal(err)
				}
				live <- token
			}
			before := counts()
			result := tokentest.Load(b, c, func(ctx context.Context, _ int) error {
				token := <-live
				r, err := tokens.Refresh(ctx, grant.TenantUID, grant.ClientID, token, p)
				if err != nil {
					return err
				}
				live <- r.Token
				return nil
			})
			after := counts()
			b.ReportMetric(result.Rate, "refreshes/s")
			b.ReportMetric(tokentest.Milliseconds(result.P50), "p50-ms")
			b.ReportMetric(tokentest.Milliseconds(result.P99), "p99-ms")
			b.ReportMetric(0, "ns/op")
			for _, name := range slices.Sorted(maps.Keys(after)) {
				b.ReportMetric(float64(after[name]-before[name])/float64(b.N), name+"/refresh")
			}
		})
	}
}
