package pgstore_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/gatehouse-dev/gatehouse/test/pgtest"
	"github.com/gatehouse-dev/gatehouse/tokenserver/refresh"
	"github.com/gatehouse-dev/gatehouse/tokenserver/refresh/pgstore"
	"github.com/gatehouse-dev/gatehouse/tokenserver/refresh/refreshtest"
)

var server *pgtest.Server

func TestMain(m *testing.M) {
	s, err := pgtest.Start()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	server = s
	code := m.Run()
	s.Close()
	os.Exit(code)
}

var databases atomic.Int32

// newDatabase creates an empty database and returns its DSN.
func newDatabase(t testing.TB) string {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, server.DSN("postgres"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx) //nolint:errcheck // a test's connection
	name := fmt.Sprintf("refresh_%d", databases.Add(1))
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		t.Fatal(err)
	}
	return server.DSN(name)
}

func open(t testing.TB, dsn string, o pgstore.Options) *pgstore.Store {
	t.Helper()
	s, err := pgstore.Open(dsn, o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	if err := s.Migrate(context.Background()); err != nil {
		t.Fatal(err)
	}
	return s
}

func TestConformance(t *testing.T) {
	dsn := newDatabase(t)
	refreshtest.Run(t, func(t *testing.T) refresh.Store { return open(t, dsn, pgstore.Options{PageSize: refreshtest.PageSize}) })
}

// TestMigrateConcurrently: replicas starting at once on an empty database all migrate
// it, and the schema is applied once.
func TestMigrateConcurrently(t *testing.T) {
	dsn := newDatabase(t)
	var wg sync.WaitGroup
	errs := make([]error, 4)
	for i := range errs {
		wg.Go(func() {
			s, err := pgstore.Open(dsn, pgstore.Options{})
			if err != nil {
				errs[i] = err
				return
			}
			defer s.Close()
			errs[i] = s.Migrate(context.Background())
		})
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("replica %d: %v", i, err)
		}
	}
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx) //nolint:errcheck // a test's connection
	var applied []int
	if err := conn.QueryRow(ctx, `SELECT array_agg(version ORDER BY version) FROM refresh_token_schema_migrations`).Scan(&applied); err != nil {
		t.Fatal(err)
	}
	files, err := filepath.Glob("migrations/*.sql")
	if err != nil {
		t.Fatal(err)
	}
	var want []int
	for i := range files {
		want = append(want, i+1)
	}
	if !slices.Equal(applied, want) {
		t.Errorf("migrations recorded %v, want %v once each", applied, want)
	}
	// Migrating a migrated database does nothing.
	open(t, dsn, pgstore.Options{})
}

// TestMigrateNamespace: migration 2 gives the families stored before it their Tenant's
// namespace, which they then count against: a namespace does not get its quota back
// by the upgrade.
func TestMigrateNamespace(t *testing.T) {
	ctx := context.Background()
	dsn := newDatabase(t)
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx) //nolint:errcheck // a test's connection
	first, err := os.ReadFile("migrations/0001_families.sql")
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	for _, sql := range []string{
		string(first),
		`CREATE TABLE refresh_token_schema_migrations (version integer PRIMARY KEY, applied timestamptz NOT NULL DEFAULT now())`,
		`INSERT INTO refresh_token_schema_migrations (version) VALUES (1)`,
	} {
		if _, err := conn.Exec(ctx, sql); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := conn.Exec(ctx, `INSERT INTO refresh_token_families (id, tenant_uid, tenant, client_id, subject, connection, user_id,
		audience, scopes, created, expires_at, last_used, idle_expires_at, deadline, generation, current_hash, older_hashes,
		revoked_reason, version) VALUES ('00000000000000000000000000000001', 'uid-old', 'team-a/old', 'c', 'db|alice', 'db', 'alice',
		'', '{}', $1, $2, $1, $2, $2, 0, '\x00', '{}', '', 1)`, now, now.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}

	s := open(t, dsn, pgstore.Options{})
	old, err := s.Get(ctx, "uid-old", "00000000000000000000000000000001")
	if err != nil {
		t.Fatal(err)
	}
	if old.Namespace != "team-a" {
		t.Errorf("a family of team-a/old migrated with namespace %q, want team-a", old.Namespace)
	}
	tokens := refresh.New(s, refresh.Options{FamiliesPerNamespace: 1})
	grant := refresh.Grant{Tenant: "team-a/new", TenantUID: "uid-new", ClientID: "c", Subject: "db|alice"}
	if _, err := tokens.Issue(ctx, grant, refresh.Policy{}); !errors.Is(err, refresh.ErrQuota) {
		t.Errorf("Issue in a namespace whose quota a migrated family holds: %v, want ErrQuota", err)
	}
}

// TestDatabaseDown: while PostgreSQL is stopped, refreshes are ErrUnavailable (the
// grant's 503) and nothing hangs; once it is back, the same token refreshes.
func TestDatabaseDown(t *testing.T) {
	refreshtest.Outage(t, open(t, newDatabase(t), pgstore.Options{Timeout: 2 * time.Second}), 4*time.Second, server.Stop, server.Start)
}

// TestDSNNotLogged: a DSN that does not parse is refused without repeating it, since
// it holds the password.
func TestDSNNotLogged(t *testing.T) {
	const secret = "s3cr3t-in-dsn"
	_, err := pgstore.Open("postgres://user:"+secret+"@host:notaport/db", pgstore.Options{})
	if err == nil {
		t.Fatal("a bad DSN opened")
	}
	if got := err.Error(); strings.Contains(got, secret) {
		t.Errorf("the error repeats the password: %s", got)
	}
}
