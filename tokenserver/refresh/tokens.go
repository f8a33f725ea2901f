package refresh

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Grant is what a login grants, from which Issue starts a family.
type Grant struct {
	// Tenant is the tenant's name, as the token server's metrics label tenants:
	// "<namespace>/<name>", whose namespace the family counts against.
	Tenant, TenantUID, ClientID, Connection, UserID, Subject, Audience string
	Scopes                                                             []string
	// Credential is the login's connector.Identity.Credential.
	Credential string
}

// Options configure Tokens.
type Options struct {
	// Now is the clock; time.Now when nil.
	Now func() time.Time
	Log *slog.Logger
	// FamiliesPerNamespace is how many families the Tenants of one namespace hold;
	// DefaultFamiliesPerNamespace when zero.
	FamiliesPerNamespace int
	// FamiliesPerUser is how many live families one user holds per client;
	// MaxFamiliesPerUser when zero (tests lower it).
	FamiliesPerUser int
	// CollectInterval is how often Run collects; DefaultCollectInterval when zero.
	CollectInterval time.Duration
}

// DefaultCollectInterval is how often Run collects expired and revoked families.
const DefaultCollectInterval = 10 * time.Minute

// maxSwaps bounds the compare-and-swap attempts of one operation on one family: each
// conflict means another replica changed it, and after a rotation the next read is
// decisive, so more than a few means something keeps writing it.
const maxSwaps = 5

// Tokens issues, refreshes and revokes the refresh tokens of all tenants over a Store.
type Tokens struct {
	store   Store
	now     func() time.Time
	log     *slog.Logger
	limits  Limits
	every   time.Duration
	metrics *metrics
}

// Refreshed is what a refresh gives: the family after it, and the token to answer with
// (the successor with rotation, the presented one without).
type Refreshed struct {
	Family *Family
	Token  string
}

// New returns Tokens over s.
func New(s Store, o Options) *Tokens {
	t := &Tokens{
		store:   s,
		now:     o.Now,
		log:     o.Log,
		limits:  Limits{FamiliesPerUser: o.FamiliesPerUser, FamiliesPerNamespace: o.FamiliesPerNamespace},
		every:   o.CollectInterval,
		metrics: newMetrics(),
	}
	if t.now == nil {
		t.now = time.Now
	}
	if t.log == nil {
		t.log = slog.New(slog.DiscardHandler)
	}
	if t.limits.FamiliesPerUser <= 0 {
		t.limits.FamiliesPerUser = MaxFamiliesPerUser
	}
	if t.limits.FamiliesPerNamespace <= 0 {
		t.limits.FamiliesPerNamespace = DefaultFamiliesPerNamespace
	}
	if t.every <= 0 {
		t.every = DefaultCollectInterval
	}
	return t
}

// Collectors are the metrics of refresh tokens, to register.
func (t *Tokens) Collectors() []prometheus.Collector { return t.metrics.collectors() }

// Issue starts a family for g under p and returns its first token. It returns ErrQuota
// when g's tenant's namespace holds its quota of families, ErrUnavailable when the
// store cannot be reached.
func (t *Tokens) Issue(ctx context.Context, g Grant, p Policy) (string, error) {
	namespace, _, named := strings.Cut(g.Tenant, "/")
	if !named || namespace == "" || g.TenantUID == "" || g.ClientID == "" || g.Subject == "" {
		return "", errors.New("refresh token grant without tenant namespace, client or subject")
	}
	now := t.now()
	s := newSecret()
	f := &Family{
		ID: newFamilyID(), Tenant: g.Tenant, Namespace: namespace, TenantUID: g.TenantUID, ClientID: g.ClientID, Subject: g.Subject,
		Connection: g.Connection, UserID: g.UserID, Audience: g.Audience, Scopes: slices.Clone(g.Scopes), Credential: g.Credential,
		Created: now, ExpiresAt: now.Add(p.absolute()), CurrentHash: s.hash(),
	}
	touch(f, now, p)
	capped, err := t.store.Create(ctx, f, t.limits)
	if errors.Is(err, ErrQuota) {
		t.metrics.quotaRefusals.WithLabelValues(g.Tenant).Inc()
		t.log.Warn("refresh token refused: the namespace holds its quota of families", "tenant", g.Tenant, "namespace", namespace, "client", g.ClientID, "quota", t.limits.FamiliesPerNamespace)
	}
	if err != nil {
		return "", storeError(err)
	}
	t.metrics.issued.WithLabelValues(g.Tenant).Inc()
	if capped > 0 {
		t.revoked(g.Tenant, ReasonFamiliesPerUser, capped)
		t.log.Info("refresh token families revoked", "tenant", g.Tenant, "client", g.ClientID, "families", capped, "reason", ReasonFamiliesPerUser, "limit", t.limits.FamiliesPerUser)
	}
	return formatToken(f.ID, s), nil
}

// Refresh refreshes token for clientID in tenantUID under the client's policy p. It
// returns ErrInvalidToken for a token that does not refresh, ErrReused (having revoked
// the family) for a rotated-out one presented after its reuse interval, and
// ErrUnavailable when the store cannot be reached.
func (t *Tokens) Refresh(ctx context.Context, tenantUID, clientID, token string, p Policy) (Refreshed, error) {
	id, presented, ok := parseToken(token)
	if !ok {
		return Refreshed{}, ErrInvalidToken
	}
	for range maxSwaps {
		f, err := t.owned(ctx, tenantUID, clientID, id)
		if err != nil {
			return Refreshed{}, err
		}
		r, err := t.refreshFamily(ctx, f, presented, p)
		if !errors.Is(err, ErrConflict) {
			return r, err
		}
	}
	return Refreshed{}, fmt.Errorf("%w: family %s keeps changing", ErrUnavailable, id)
}

// owned reads family id, and refuses it as ErrInvalidToken unless clientID owns it.
func (t *Tokens) owned(ctx context.Context, tenantUID, clientID, id string) (*Family, error) {
	f, err := t.store.Get(ctx, tenantUID, id)
	if errors.Is(err, ErrNotFound) {
		return nil, ErrInvalidToken
	}
	if err != nil {
		return nil, storeError(err)
	}
	if f.ClientID != clientID {
		return nil, ErrInvalidToken
	}
	return f, nil
}

// refreshFamily does what judge decides for presented on f; ErrConflict when another
// replica changed f first.
func (t *Tokens) refreshFamily(ctx context.Context, f *Family, presented secret, p Policy) (Refreshed, error) {
	now := t.now()
	v, reason := judge(f, presented.hash(), now, p)
	switch v {
	case refreshCurrent:
		if !p.Rotation {
			return t.keep(ctx, f, presented, now, p)
		}
		next := newSecret()
		rotate(f, presented, next, now, p)
		if err := t.swap(ctx, f); err != nil {
			return Refreshed{}, err
		}
		t.metrics.rotated.WithLabelValues(f.Tenant).Inc()
		return Refreshed{Family: f, Token: formatToken(f.ID, next)}, nil
	case resendSuccessor:
		next, err := openSuccessor(presented, f.SealedSuccessor, f.ID, f.Generation)
		if err != nil {
			t.log.Error("refresh token successor does not open", "tenant", f.Tenant, "client", f.ClientID, "family", f.ID, "error", err)
			return Refreshed{}, ErrInvalidToken
		}
		return Refreshed{Family: f, Token: formatToken(f.ID, next)}, nil
	case revokeReused:
		revoke(f, now, reason)
		if err := t.swap(ctx, f); err != nil {
			return Refreshed{}, err
		}
		t.metrics.reused.WithLabelValues(f.Tenant).Inc()
		t.revoked(f.Tenant, reason, 1)
		t.log.Warn("refresh token reuse detected; family revoked", "tenant", f.Tenant, "client", f.ClientID, "family", f.ID, "generation", f.Generation, "reason", reason)
		return Refreshed{}, ErrReused
	default:
		return Refreshed{}, ErrInvalidToken
	}
}

// keep answers a refresh without rotation with the presented token, writing LastUsed
// only when it is stale.
func (t *Tokens) keep(ctx context.Context, f *Family, presented secret, now time.Time, p Policy) (Refreshed, error) {
	if staleLastUsed(f, now, p) {
		touch(f, now, p)
		if err := t.swap(ctx, f); err != nil {
			return Refreshed{}, err
		}
	}
	return Refreshed{Family: f, Token: formatToken(f.ID, presented)}, nil
}

// swap writes f over the version it was read at.
func (t *Tokens) swap(ctx context.Context, f *Family) error {
	if err := t.store.CompareAndSwap(ctx, f); err != nil {
		return storeError(err)
	}
	return nil
}

// Revoke revokes the family of token (RFC 7009) for clientID in tenantUID. A malformed
// or unknown token, or a secret its family never had, is no error (RFC 7009 §2.2);
// another client's token is ErrWrongClient.
func (t *Tokens) Revoke(ctx context.Context, tenantUID, clientID, token string) error {
	id, presented, ok := parseToken(token)
	if !ok {
		return nil
	}
	for range maxSwaps {
		f, err := t.store.Get(ctx, tenantUID, id)
		if errors.Is(err, ErrNotFound) {
			return nil
		}
		if err != nil {
			return storeError(err)
		}
		// The secret first: without it, a family ID must tell nothing, not even its client.
		if !holds(f, presented.hash()) || !f.Revoked.IsZero() {
			return nil
		}
		if f.ClientID != clientID {
			return ErrWrongClient
		}
		revoke(f, t.now(), ReasonClient)
		err = t.swap(ctx, f)
		if errors.Is(err, ErrConflict) {
			continue
		}
		if err != nil {
			return err
		}
		t.revoked(f.Tenant, ReasonClient, 1)
		t.log.Info("refresh token family revoked", "tenant", f.Tenant, "client", f.ClientID, "family", f.ID, "reason", ReasonClient)
		return nil
	}
	return fmt.Errorf("%w: family %s keeps changing", ErrUnavailable, id)
}

// RevokeSubject revokes every live family of subject in tenantUID, and returns how many
// it revoked.
func (t *Tokens) RevokeSubject(ctx context.Context, tenantUID, subject, reason string) (int, error) {
	r, err := t.store.RevokeSubject(ctx, tenantUID, subject, reason, t.now())
	if err != nil {
		return 0, storeError(err)
	}
	t.revokedAll(r, tenantUID, reason, "subject", subject)
	return r.Count, nil
}

// RevokeTenant revokes every live family of tenantUID, and returns how many it revoked.
func (t *Tokens) RevokeTenant(ctx context.Context, tenantUID, reason string) (int, error) {
	r, err := t.store.RevokeTenant(ctx, tenantUID, reason, t.now())
	if err != nil {
		return 0, storeError(err)
	}
	t.revokedAll(r, tenantUID, reason)
	return r.Count, nil
}

func (t *Tokens) revokedAll(r Revoked, tenantUID, reason string, attrs ...any) {
	if r.Count == 0 {
		return
	}
	t.revoked(r.Tenant, reason, r.Count)
	t.log.Info("refresh token families revoked", append([]any{"tenant", r.Tenant, "tenantUID", tenantUID, "families", r.Count, "reason", reason}, attrs...)...)
}

func (t *Tokens) revoked(tenant, reason string, n int) {
	t.metrics.revoked.WithLabelValues(tenant, reason).Add(float64(n))
}

// Run collects revoked and expired families every CollectInterval, first at once, and
// sets the live-families gauge, until ctx ends. A collection that fails is logged and
// tried again at the next interval: refreshes do not depend on it.
func (t *Tokens) Run(ctx context.Context) error {
	ticker := time.NewTicker(t.every)
	defer ticker.Stop()
	for {
		t.collect(ctx)
		select {
		case <-ctx.Done():
			return nil
		case <-ticker.C:
		}
	}
}

func (t *Tokens) collect(ctx context.Context) {
	c, err := t.store.Collect(ctx, t.now())
	if err != nil {
		if ctx.Err() == nil {
			t.log.Error("collecting refresh token families", "error", err)
		}
		return
	}
	t.metrics.setLive(c.Live)
	if c.Deleted > 0 {
		t.log.Info("refresh token families collected", "deleted", c.Deleted)
	}
}

// storeError is err as Tokens returns it: the store's own errors as they are, anything
// else as ErrUnavailable.
func storeError(err error) error {
	if errors.Is(err, ErrUnavailable) || errors.Is(err, ErrConflict) || errors.Is(err, ErrQuota) || errors.Is(err, ErrNotFound) {
		return err
	}
	return fmt.Errorf("%w: %w", ErrUnavailable, err)
}
