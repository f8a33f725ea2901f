package pgstore

import (
	"context"
	"embed"
	"fmt"
	"io/fs"
	"sort"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"
)

// migrations are the schema's steps, "<version>_<name>.sql", applied in order of version.
//
//go:embed migrations/*.sql
var migrations embed.FS

// migrationLock is the advisory lock the replicas take to migrate one at a time:
// "gatehouse" in ASCII, so that it names this use.
const migrationLock int64 = 0x67617465686f7573

// Migrate applies the migrations the database lacks, holding an advisory lock so that
// replicas starting at once apply each migration once.
func (s *Store) Migrate(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, s.timeout*4)
	defer cancel()
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return unavailable(err)
	}
	defer conn.Release()
	if _, err := conn.Exec(ctx, `SELECT pg_advisory_lock($1)`, migrationLock); err != nil {
		return unavailable(err)
	}
	//nolint:errcheck // a lost session releases the lock with it
	defer conn.Exec(context.WithoutCancel(ctx), `SELECT pg_advisory_unlock($1)`, migrationLock)
	if _, err := conn.Exec(ctx, `CREATE TABLE IF NOT EXISTS refresh_token_schema_migrations (
		version integer PRIMARY KEY, applied timestamptz NOT NULL DEFAULT now())`); err != nil {
		return unavailable(err)
	}
	steps, err := migrationSteps()
	if err != nil {
		return err
	}
	for _, step := range steps {
		if err := applyStep(ctx, conn.Conn(), step); err != nil {
			return err
		}
	}
	return nil
}

type migrationStep struct {
	version int
	name    string
	sql     string
}

func migrationSteps() ([]migrationStep, error) {
	files, err := fs.Glob(migrations, "migrations/*.sql")
	if err != nil {
		return nil, err
	}
	var steps []migrationStep
	for _, f := range files {
		name := strings.TrimPrefix(f, "migrations/")
		prefix, _, _ := strings.Cut(name, "_")
		version, err := strconv.Atoi(prefix)
		if err != nil {
			return nil, fmt.Errorf("migration %s: no version", name)
		}
		sql, err := migrations.ReadFile(f)
		if err != nil {
			return nil, err
		}
		steps = append(steps, migrationStep{version: version, name: name, sql: string(sql)})
	}
	sort.Slice(steps, func(i, j int) bool { return steps[i].version < steps[j].version })
	return steps, nil
}

// applyStep applies step unless it was applied, in one transaction with its record.
func applyStep(ctx context.Context, conn *pgx.Conn, step migrationStep) error {
	return pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
		var applied bool
		if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM refresh_token_schema_migrations WHERE version = $1)`, step.version).Scan(&applied); err != nil {
			return unavailable(err)
		}
		if applied {
			return nil
		}
		if _, err := tx.Exec(ctx, step.sql); err != nil {
			return fmt.Errorf("migration %s: %w", step.name, err)
		}
		_, err := tx.Exec(ctx, `INSERT INTO refresh_token_schema_migrations (version) VALUES ($1)`, step.version)
		return err
	})
}
