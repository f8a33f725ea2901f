package pgstore_test

import (
	"testing"

	"github.com/gatehouse-dev/gatehouse/tokenserver/refresh/pgstore"
	"github.com/gatehouse-dev/gatehouse/tokenserver/refresh/refreshtest"
)

// BenchmarkRefresh: refreshes with rotation over PostgreSQL, with the SQL statements
// each costs, reads and writes.
func BenchmarkRefresh(b *testing.B) {
	calls := &refreshtest.Calls{}
	s := open(b, newDatabase(b), pgstore.Options{Tracer: calls.Tracer()})
	refreshtest.Bench(b, s, func() map[string]int64 {
		return map[string]int64{"sql-reads": calls.Reads.Load(), "sql-writes": calls.Writes.Load()}
	})
}
