// Package pgstore keeps refresh token families in PostgreSQL, one row per family, for
// clusters whose refresh traffic outgrows the kubernetes store: compare-and-swap is a
// row's version in an UPDATE's WHERE clause, and a login's per-user cap and namespace
// quota are judged in the transaction that inserts its family. The schema's
// migrations are embedded and applied by Migrate.
package pgstore

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/gatehouse-dev/gatehouse/tokenserver/refresh"
)

// Options configure a Store.
type Options struct {
	// PageSize is the most families one statement of Collect deletes; DefaultPageSize
	// when zero.
	PageSize int
	// Timeout bounds each call, so that a database that does not answer makes the grant
	// answer 503 rather than wait; DefaultTimeout when zero.
	Timeout time.Duration
	// MaxConns bounds the pool's connections; pgxpool's default when zero.
	MaxConns int32
	// Tracer, when set, sees every statement (tests count them).
	Tracer pgx.QueryTracer
}

// Defaults of Options.
const (
	DefaultPageSize = 1000
	DefaultTimeout  = 5 * time.Second
)

// namespaceLockClass is the first key of the advisory locks that serialize the logins
// of one namespace, so that two replicas do not both take its last family of quota.
const namespaceLockClass int32 = 0x67617465 // "gate"

// Store is a refresh.Store in PostgreSQL.
type Store struct {
	pool     *pgxpool.Pool
	pageSize int
	timeout  time.Duration
}

var _ refresh.Store = (*Store)(nil)

// Open returns a Store of the database dsn names. It connects lazily: a database that
// is away makes calls fail with refresh.ErrUnavailable until it is back. Call Migrate
// before use, and Close when done.
func Open(dsn string, o Options) (*Store, error) {
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		// pgx's message may quote the DSN, password included.
		return nil, errors.New("pgstore: the DSN does not parse")
	}
	s := &Store{pageSize: o.PageSize, timeout: o.Timeout}
	if s.pageSize <= 0 {
		s.pageSize = DefaultPageSize
	}
	if s.timeout <= 0 {
		s.timeout = DefaultTimeout
	}
	if cfg.ConnConfig.ConnectTimeout == 0 || cfg.ConnConfig.ConnectTimeout > s.timeout {
		cfg.ConnConfig.ConnectTimeout = s.timeout
	}
	if o.MaxConns > 0 {
		cfg.MaxConns = o.MaxConns
	}
	cfg.ConnConfig.Tracer = o.Tracer
	if s.pool, err = pgxpool.NewWithConfig(context.Background(), cfg); err != nil {
		return nil, fmt.Errorf("pgstore: %w", err)
	}
	return s, nil
}

// Close closes the pool's connections.
func (s *Store) Close() { s.pool.Close() }

// columns are a family's columns, in the order of scan and values.
const columns = `id, tenant_uid, tenant, client_id, subject, connection, user_id, audience, scopes,
	created, expires_at, last_used, idle_expires_at, deadline, generation, current_hash, previous_hash,
	rotated_at, sealed_successor, older_hashes, revoked, revoked_reason, namespace, credential, version`

// values are f's columns but version.
func values(f *refresh.Family) []any {
	return []any{
		f.ID, f.TenantUID, f.Tenant, f.ClientID, f.Subject, f.Connection, f.UserID, f.Audience, nonNil(f.Scopes),
		f.Created, f.ExpiresAt, f.LastUsed, f.IdleExpiresAt, f.Deadline(), f.Generation, f.CurrentHash, f.PreviousHash,
		optionalTime(f.RotatedAt), f.SealedSuccessor, nonNil(f.OlderHashes), optionalTime(f.Revoked), f.RevokedReason, f.Namespace,
		f.Credential,
	}
}

// Create inserts f within l, in one transaction that holds f's namespace's lock.
func (s *Store) Create(ctx context.Context, f *refresh.Family, l refresh.Limits) (int, error) {
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	var version int64
	var revoked int
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1, hashtext($2))`, namespaceLockClass, f.Namespace); err != nil {
			return err
		}
		var families int
		if err := tx.QueryRow(ctx, `SELECT count(*) FROM refresh_token_families WHERE namespace = $1 AND deadline > $2`,
			f.Namespace, f.Created).Scan(&families); err != nil {
			return err
		}
		if families >= l.FamiliesPerNamespace {
			return refresh.ErrQuota
		}
		// All but the newest FamiliesPerUser-1 of the owner's live families go, so that
		// with f it holds FamiliesPerUser.
		tag, err := tx.Exec(ctx, `UPDATE refresh_token_families
			SET revoked = $5, revoked_reason = $6, sealed_successor = NULL, version = version + 1
			WHERE id IN (SELECT id FROM refresh_token_families
				WHERE tenant_uid = $1 AND client_id = $2 AND subject = $3 AND revoked IS NULL AND deadline > $5
				ORDER BY created DESC OFFSET $4)`,
			f.TenantUID, f.ClientID, f.Subject, max(l.FamiliesPerUser-1, 0), f.Created, refresh.ReasonFamiliesPerUser)
		if err != nil {
			return err
		}
		revoked = int(tag.RowsAffected())
		return tx.QueryRow(ctx, `INSERT INTO refresh_token_families (`+columns+`)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22, $23, $24, 1)
			RETURNING version`, values(f)...).Scan(&version)
	})
	if err != nil {
		return 0, storeError(err)
	}
	f.Version = strconv.FormatInt(version, 10)
	return revoked, nil
}

// Get returns family id of tenantUID.
func (s *Store) Get(ctx context.Context, tenantUID, id string) (*refresh.Family, error) {
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	f, err := scanFamily(s.pool.QueryRow(ctx, `SELECT `+columns+` FROM refresh_token_families WHERE id = $1 AND tenant_uid = $2`, id, tenantUID))
	if err != nil {
		return nil, storeError(err)
	}
	return f, nil
}

// CompareAndSwap writes f over the row at f.Version.
func (s *Store) CompareAndSwap(ctx context.Context, f *refresh.Family) error {
	version, err := strconv.ParseInt(f.Version, 10, 64)
	if err != nil {
		return fmt.Errorf("pgstore: CompareAndSwap of a family never read: %w", err)
	}
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	v := values(f)
	var next int64
	err = s.pool.QueryRow(ctx, `UPDATE refresh_token_families SET
		tenant = $3, client_id = $4, subject = $5, connection = $6, user_id = $7, audience = $8, scopes = $9,
		created = $10, expires_at = $11, last_used = $12, idle_expires_at = $13, deadline = $14, generation = $15,
		current_hash = $16, previous_hash = $17, rotated_at = $18, sealed_successor = $19, older_hashes = $20,
		revoked = $21, revoked_reason = $22, namespace = $23, credential = $24, version = version + 1
		WHERE id = $1 AND tenant_uid = $2 AND version = $25
		RETURNING version`, append(v, version)...).Scan(&next)
	if errors.Is(err, pgx.ErrNoRows) {
		return s.whyNotSwapped(ctx, f)
	}
	if err != nil {
		return storeError(err)
	}
	f.Version = strconv.FormatInt(next, 10)
	return nil
}

// whyNotSwapped tells a family that changed (ErrConflict) from one that is not there.
func (s *Store) whyNotSwapped(ctx context.Context, f *refresh.Family) error {
	var exists bool
	if err := s.pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM refresh_token_families WHERE id = $1 AND tenant_uid = $2)`,
		f.ID, f.TenantUID).Scan(&exists); err != nil {
		return storeError(err)
	}
	if exists {
		return refresh.ErrConflict
	}
	return refresh.ErrNotFound
}

// RevokeSubject revokes the live families of subject in tenantUID.
func (s *Store) RevokeSubject(ctx context.Context, tenantUID, subject, reason string, now time.Time) (refresh.Revoked, error) {
	return s.revokeWhere(ctx, `subject = $4`, tenantUID, reason, now, subject)
}

// RevokeTenant revokes the live families of tenantUID.
func (s *Store) RevokeTenant(ctx context.Context, tenantUID, reason string, now time.Time) (refresh.Revoked, error) {
	return s.revokeWhere(ctx, `true`, tenantUID, reason, now)
}

// revokeWhere revokes the live families of tenantUID that also match condition, whose
// parameters follow $1 (tenant), $2 (now) and $3 (reason).
func (s *Store) revokeWhere(ctx context.Context, condition, tenantUID, reason string, now time.Time, args ...any) (refresh.Revoked, error) {
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	rows, err := s.pool.Query(ctx, `UPDATE refresh_token_families
		SET revoked = $2, revoked_reason = $3, sealed_successor = NULL, version = version + 1
		WHERE tenant_uid = $1 AND revoked IS NULL AND deadline > $2 AND `+condition+`
		RETURNING tenant`, append([]any{tenantUID, now, reason}, args...)...)
	if err != nil {
		return refresh.Revoked{}, storeError(err)
	}
	var r refresh.Revoked
	_, err = pgx.ForEachRow(rows, []any{&r.Tenant}, func() error {
		r.Count++
		return nil
	})
	if err != nil {
		return refresh.Revoked{}, storeError(err)
	}
	return r, nil
}

// Collect deletes the revoked and expired families, PageSize at a time, and counts the
// live ones.
func (s *Store) Collect(ctx context.Context, now time.Time) (refresh.Collected, error) {
	c := refresh.Collected{Live: map[string]int{}}
	for {
		n, err := s.deletePage(ctx, now)
		if err != nil {
			return c, err
		}
		c.Deleted += n
		if n < s.pageSize {
			break
		}
	}
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	rows, err := s.pool.Query(ctx, `SELECT tenant, count(*) FROM refresh_token_families
		WHERE revoked IS NULL AND deadline > $1 GROUP BY tenant`, now)
	if err != nil {
		return c, storeError(err)
	}
	var tenant string
	var n int
	_, err = pgx.ForEachRow(rows, []any{&tenant, &n}, func() error {
		c.Live[tenant] = n
		return nil
	})
	return c, storeError(err)
}

func (s *Store) deletePage(ctx context.Context, now time.Time) (int, error) {
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	tag, err := s.pool.Exec(ctx, `DELETE FROM refresh_token_families WHERE id IN (
		SELECT id FROM refresh_token_families WHERE revoked IS NOT NULL OR deadline <= $1 LIMIT $2)`, now, s.pageSize)
	if err != nil {
		return 0, storeError(err)
	}
	return int(tag.RowsAffected()), nil
}

func scanFamily(row pgx.Row) (*refresh.Family, error) {
	var f refresh.Family
	var deadline time.Time
	var rotated, revoked *time.Time
	var version int64
	if err := row.Scan(&f.ID, &f.TenantUID, &f.Tenant, &f.ClientID, &f.Subject, &f.Connection, &f.UserID, &f.Audience, &f.Scopes,
		&f.Created, &f.ExpiresAt, &f.LastUsed, &f.IdleExpiresAt, &deadline, &f.Generation, &f.CurrentHash, &f.PreviousHash,
		&rotated, &f.SealedSuccessor, &f.OlderHashes, &revoked, &f.RevokedReason, &f.Namespace, &f.Credential, &version); err != nil {
		return nil, err
	}
	if rotated != nil {
		f.RotatedAt = *rotated
	}
	if revoked != nil {
		f.Revoked = *revoked
	}
	f.Version = strconv.FormatInt(version, 10)
	return &f, nil
}

func optionalTime(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}

// nonNil is s, or an empty slice for nil: the array columns are NOT NULL.
func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

// storeError is an error of pgx as a refresh.Store error.
func storeError(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, pgx.ErrNoRows):
		return refresh.ErrNotFound
	case errors.Is(err, refresh.ErrQuota):
		return err
	default:
		return unavailable(err)
	}
}

func unavailable(err error) error {
	return fmt.Errorf("%w: %w", refresh.ErrUnavailable, err)
}
