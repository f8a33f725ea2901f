package pgstore_test

import (
	"context"
	"errors"
	"fmt"
	"os"
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
	var applied int
	if err := conn.QueryRow(ctx, `SELECT count(*) FROM refresh_token_schema_migrations`).Scan(&applied); err != nil {
		t.Fatal(err)
	}
	if applied != 1 {
		t.Errorf("%d migrations recorded, want 1", applied)
	}
	// Migrating a migrated database does nothing.
	open(t, dsn, pgstore.Options{})
}

// TestDatabaseDown: while PostgreSQL is stopped, refreshes are ErrUnavailable (the
// grant's 503) and nothing hangs; once it is back, the same token refreshes.
func TestDatabaseDown(t *testing.T) {
	store := open(t, newDatabase(t), pgstore.Options{Timeout: 2 * time.Second})
	tokens := refresh.New(store, refresh.Options{})
	grant := refresh.Grant{Tenant: "ns/t", TenantUID: "uid-down", ClientID: "c", Subject: "db|alice"}
	p := refresh.Policy{Rotation: true, ReuseInterval: time.Minute}
	ctx := context.Background()
	token, err := tokens.Issue(ctx, grant, p)
	if err != nil {
		t.Fatal(err)
	}
	if err := server.Stop(); err != nil {
		t.Fatal(err)
	}
	restarted := false
	t.Cleanup(func() {
		if !restarted {
			_ = server.Start()
		}
	})
	started := time.Now()
	if _, err := tokens.Refresh(ctx, grant.TenantUID, grant.ClientID, token, p); !errors.Is(err, refresh.ErrUnavailable) {
		t.Errorf("Refresh with the database down: %v, want ErrUnavailable", err)
	}
	if _, err := tokens.Issue(ctx, grant, p); !errors.Is(err, refresh.ErrUnavailable) {
		t.Errorf("Issue with the database down: %v, want ErrUnavailable", err)
	}
	if took := time.Since(started); took > 4*time.Second {
		t.Errorf("refusing took %v", took)
	}
	if err := server.Start(); err != nil {
		t.Fatal(err)
	}
	restarted = true
	if _, err := tokens.Refresh(ctx, grant.TenantUID, grant.ClientID, token, p); err != nil {
		t.Errorf("Refresh once the database is back: %v", err)
	}
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
