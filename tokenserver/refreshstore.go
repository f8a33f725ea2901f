package tokenserver

import (
	"cmp"
	"context"
	"fmt"
	"log/slog"
	"time"

	"k8s.io/client-go/rest"

	"github.com/gatehouse-dev/gatehouse/tokenserver/refresh"
	"github.com/gatehouse-dev/gatehouse/tokenserver/refresh/kubestore"
	"github.com/gatehouse-dev/gatehouse/tokenserver/refresh/pgstore"
)

// The refresh token stores of RefreshOptions.Store.
const (
	RefreshStoreKubernetes = "kubernetes"
	RefreshStorePostgres   = "postgres"
)

// RefreshOptions choose where refresh token families are kept.
type RefreshOptions struct {
	// Store is RefreshStoreKubernetes (RefreshTokenFamily objects in the operator's
	// namespace; the default when empty) or RefreshStorePostgres.
	Store string
	// PostgresDSN reaches the postgres store's database. It holds a password: it is
	// never logged.
	PostgresDSN string
	// TenantQuota is how many families one tenant holds; refresh.DefaultTenantQuota
	// when zero.
	TenantQuota int
}

// migrateRetry is how long a replica waits between attempts to migrate a postgres
// store it could not reach: refreshes answer 503 meanwhile, password logins work.
const migrateRetry = 5 * time.Second

// refreshTokens builds the refresh tokens of o, and returns what keeps them (migrating
// the schema when the store has one, then collecting expired families) until ctx ends,
// and closes the store.
func refreshTokens(o RefreshOptions, kube *rest.Config, namespace string, log *slog.Logger) (*refresh.Tokens, func(context.Context) error, error) {
	log = log.With("component", "refresh-tokens", "store", cmp.Or(o.Store, RefreshStoreKubernetes))
	options := refresh.Options{Log: log, TenantQuota: o.TenantQuota}
	switch o.Store {
	case "", RefreshStoreKubernetes:
		s, err := kubestore.New(kube, kubestore.Options{Namespace: namespace})
		if err != nil {
			return nil, nil, err
		}
		tokens := refresh.New(s, options)
		return tokens, tokens.Run, nil
	case RefreshStorePostgres:
		s, err := pgstore.Open(o.PostgresDSN, pgstore.Options{})
		if err != nil {
			return nil, nil, err
		}
		tokens := refresh.New(s, options)
		return tokens, func(ctx context.Context) error {
			defer s.Close()
			if !migrate(ctx, s, log) {
				return nil
			}
			return tokens.Run(ctx)
		}, nil
	default:
		return nil, nil, fmt.Errorf("unknown refresh token store %q: want %s or %s", o.Store, RefreshStoreKubernetes, RefreshStorePostgres)
	}
}

// migrate migrates s until it succeeds, and reports whether it did before ctx ended.
func migrate(ctx context.Context, s *pgstore.Store, log *slog.Logger) bool {
	for {
		err := s.Migrate(ctx)
		if err == nil {
			return true
		}
		log.Error("migrating the refresh token database; refreshes fail until it succeeds", "error", err, "retry", migrateRetry)
		select {
		case <-ctx.Done():
			return false
		case <-time.After(migrateRetry):
		}
	}
}
