package refreshtest

import (
	"context"
	"net/http"
	"strings"
	"sync/atomic"

	"github.com/jackc/pgx/v5"
	"k8s.io/client-go/rest"
)

// Calls counts what a store asks of its backend, reads apart from writes: the
// API-server requests of a kubernetes store (GETs are reads) or the SQL statements of a
// postgres store (SELECTs are reads; transaction control counts as writes).
type Calls struct {
	Reads, Writes atomic.Int64
}

// CountRequests makes the requests sent with cfg count in c.
func (c *Calls) CountRequests(cfg *rest.Config) {
	cfg.Wrap(func(rt http.RoundTripper) http.RoundTripper { return countingTransport{rt, c} })
}

// Tracer is a pgx tracer that counts the statements a pool sends in c.
func (c *Calls) Tracer() pgx.QueryTracer { return countingTracer{c} }

func (c *Calls) count(read bool) {
	if read {
		c.Reads.Add(1)
	} else {
		c.Writes.Add(1)
	}
}

type countingTransport struct {
	next  http.RoundTripper
	calls *Calls
}

func (t countingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	t.calls.count(r.Method == http.MethodGet)
	return t.next.RoundTrip(r)
}

type countingTracer struct{ calls *Calls }

func (t countingTracer) TraceQueryStart(ctx context.Context, _ *pgx.Conn, data pgx.TraceQueryStartData) context.Context {
	t.calls.count(strings.HasPrefix(strings.ToUpper(strings.TrimSpace(data.SQL)), "SELECT"))
	return ctx
}

func (countingTracer) TraceQueryEnd(context.Context, *pgx.Conn, pgx.TraceQueryEndData) {}
