package pgstore_test

import (
	"context"
	"sync/atomic"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/gatehouse-dev/gatehouse/tokenserver/refresh/pgstore"
	"github.com/gatehouse-dev/gatehouse/tokenserver/refresh/refreshtest"
)

// statementCounter counts the statements the pool sends.
type statementCounter struct{ n atomic.Int64 }

func (c *statementCounter) TraceQueryStart(ctx context.Context, _ *pgx.Conn, _ pgx.TraceQueryStartData) context.Context {
	c.n.Add(1)
	return ctx
}

func (*statementCounter) TraceQueryEnd(context.Context, *pgx.Conn, pgx.TraceQueryEndData) {}

// BenchmarkRefresh: refreshes with rotation over PostgreSQL, with the SQL statements
// each costs.
func BenchmarkRefresh(b *testing.B) {
	counter := &statementCounter{}
	s := open(b, newDatabase(b), pgstore.Options{Tracer: counter})
	refreshtest.Bench(b, s, func() map[string]int64 { return map[string]int64{"sql-statements": counter.n.Load()} })
}
