package kubestore

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/selection"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/gatehouse-dev/gatehouse/tokenserver/refresh"
)

// Labels and annotations of a RefreshTokenFamily, by which the store selects families
// without reading them whole. The owners' values are hashes, which fit a label value
// whatever a tenant, client or subject holds.
const (
	labelTenant   = "tokenserver.gatehouse.dev/tenant"
	labelOwner    = "tokenserver.gatehouse.dev/owner"
	labelSubject  = "tokenserver.gatehouse.dev/subject"
	labelDeadline = "tokenserver.gatehouse.dev/deadline"
	labelRevoked  = "tokenserver.gatehouse.dev/revoked"
	// annotationTenant is Family.Tenant, which Collect counts live families by.
	annotationTenant = "tokenserver.gatehouse.dev/tenant"
	// annotationCreated orders a user's families when the oldest must go.
	annotationCreated = "tokenserver.gatehouse.dev/created"
)

// Options configure a Store.
type Options struct {
	// Namespace holds the families: the operator's namespace.
	Namespace string
	// PageSize is the most families one list request returns; DefaultPageSize when zero.
	PageSize int64
	// Timeout bounds each call, so that an API server that does not answer makes the
	// grant answer 503 rather than wait; DefaultTimeout when zero.
	Timeout time.Duration
}

// Defaults of Options.
const (
	DefaultPageSize = 500
	DefaultTimeout  = 5 * time.Second
	// qps and burst bound the API-server requests of one replica's store: refreshes
	// come from the network, and each costs one read at least.
	qps   = 200
	burst = 400
	// countTTL is how long a tenant's count of families is trusted before it is listed
	// again; nearQuotaTTL when the tenant is within a tenth of its quota, so that other
	// replicas' logins take it past the quota by at most what they create in that time.
	countTTL     = time.Minute
	nearQuotaTTL = time.Second
)

// Store is a refresh.Store of RefreshTokenFamily objects in one namespace.
type Store struct {
	client    client.Client
	namespace string
	pageSize  int64
	timeout   time.Duration
	counts    tenantCounts
}

var _ refresh.Store = (*Store)(nil)

// New returns a Store reaching the API server with cfg. It makes no request.
func New(cfg *rest.Config, o Options) (*Store, error) {
	if o.Namespace == "" {
		return nil, errors.New("kubestore: no namespace")
	}
	scheme := runtime.NewScheme()
	if err := AddToScheme(scheme); err != nil {
		return nil, err
	}
	// A fixed mapping: the store needs no discovery, which would be one more request
	// failing while the API server is away.
	mapper := meta.NewDefaultRESTMapper([]schema.GroupVersion{GroupVersion})
	mapper.Add(GroupVersion.WithKind("RefreshTokenFamily"), meta.RESTScopeNamespace)
	cfg = rest.CopyConfig(cfg)
	cfg.QPS, cfg.Burst = qps, burst
	c, err := client.New(cfg, client.Options{Scheme: scheme, Mapper: mapper})
	if err != nil {
		return nil, err
	}
	s := &Store{client: c, namespace: o.Namespace, pageSize: o.PageSize, timeout: o.Timeout, counts: tenantCounts{m: map[string]tenantCount{}}}
	if s.pageSize <= 0 {
		s.pageSize = DefaultPageSize
	}
	if s.timeout <= 0 {
		s.timeout = DefaultTimeout
	}
	return s, nil
}

// Create stores f within l.
func (s *Store) Create(ctx context.Context, f *refresh.Family, l refresh.Limits) (int, error) {
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	if err := s.checkQuota(ctx, f, l.FamiliesPerTenant); err != nil {
		return 0, err
	}
	revoked, err := s.capOwner(ctx, f, l.FamiliesPerUser)
	if err != nil {
		return 0, err
	}
	obj := toObject(f, s.namespace)
	if err := s.client.Create(ctx, obj); err != nil {
		return 0, unavailable(err)
	}
	f.Version = obj.ResourceVersion
	s.counts.add(f.TenantUID)
	return revoked, nil
}

// checkQuota returns ErrQuota when f's tenant holds quota unexpired families. It lists
// them only when its count is old: a count a minute old (a second, near the quota) and
// the families this replica created since are enough.
func (s *Store) checkQuota(ctx context.Context, f *refresh.Family, quota int) error {
	c, known := s.counts.get(f.TenantUID)
	if needsCount(c, known, quota, time.Now()) {
		n := 0
		err := s.eachMeta(ctx, selector(tenantIs(f.TenantUID), deadlineAfter(f.Created)), func(*metav1.PartialObjectMetadata) error {
			n++
			return nil
		})
		if err != nil {
			return err
		}
		c = s.counts.set(f.TenantUID, n)
	}
	if c.n >= quota {
		return refresh.ErrQuota
	}
	return nil
}

// needsCount reports whether a tenant's count c (known, or not) must be listed again
// at now before a family is created against quota. A count at the quota always is:
// families expire, and a refusal must be right.
func needsCount(c tenantCount, known bool, quota int, now time.Time) bool {
	ttl := countTTL
	if c.n >= quota-quota/10 {
		ttl = nearQuotaTTL
	}
	return !known || now.Sub(c.at) > ttl || c.n >= quota
}

// capOwner revokes the oldest live families of f's owner so that, with f, it holds at
// most limit, and returns how many it revoked.
func (s *Store) capOwner(ctx context.Context, f *refresh.Family, limit int) (int, error) {
	var live []*metav1.PartialObjectMetadata
	err := s.eachMeta(ctx, selector(ownerIs(f.TenantUID, f.ClientID, f.Subject), notRevoked(), deadlineAfter(f.Created)), func(m *metav1.PartialObjectMetadata) error {
		live = append(live, m)
		return nil
	})
	if err != nil || len(live) < limit {
		return 0, err
	}
	slices.SortFunc(live, func(a, b *metav1.PartialObjectMetadata) int {
		return cmp.Compare(a.Annotations[annotationCreated], b.Annotations[annotationCreated])
	})
	oldest := live[:len(live)-limit+1]
	for _, m := range oldest {
		if err := s.revokeNamed(ctx, m.Name, f.TenantUID, refresh.ReasonFamiliesPerUser, f.Created); err != nil {
			return 0, err
		}
	}
	return len(oldest), nil
}

// Get returns family id of tenantUID.
func (s *Store) Get(ctx context.Context, tenantUID, id string) (*refresh.Family, error) {
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	obj, err := s.get(ctx, objectName(tenantUID, id), tenantUID)
	if err != nil {
		return nil, err
	}
	return toFamily(obj), nil
}

// get reads the object name, which must be tenantUID's.
func (s *Store) get(ctx context.Context, name, tenantUID string) (*RefreshTokenFamily, error) {
	obj := &RefreshTokenFamily{}
	if err := s.client.Get(ctx, client.ObjectKey{Namespace: s.namespace, Name: name}, obj); err != nil {
		return nil, storeError(err)
	}
	if obj.Spec.TenantUID != tenantUID {
		return nil, refresh.ErrNotFound
	}
	return obj, nil
}

// CompareAndSwap writes f over its stored version, f.Version.
func (s *Store) CompareAndSwap(ctx context.Context, f *refresh.Family) error {
	if f.Version == "" {
		return errors.New("kubestore: CompareAndSwap of a family never read")
	}
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	obj := toObject(f, s.namespace)
	obj.ResourceVersion = f.Version
	if err := s.client.Update(ctx, obj); err != nil {
		return storeError(err)
	}
	f.Version = obj.ResourceVersion
	return nil
}

// RevokeSubject revokes the live families of subject in tenantUID.
func (s *Store) RevokeSubject(ctx context.Context, tenantUID, subject, reason string, now time.Time) (refresh.Revoked, error) {
	return s.revokeAll(ctx, selector(tenantIs(tenantUID), subjectIs(tenantUID, subject), notRevoked()), tenantUID, reason, now)
}

// RevokeTenant revokes the live families of tenantUID.
func (s *Store) RevokeTenant(ctx context.Context, tenantUID, reason string, now time.Time) (refresh.Revoked, error) {
	return s.revokeAll(ctx, selector(tenantIs(tenantUID), notRevoked()), tenantUID, reason, now)
}

func (s *Store) revokeAll(ctx context.Context, sel labels.Selector, tenantUID, reason string, now time.Time) (refresh.Revoked, error) {
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	var r refresh.Revoked
	err := s.eachMeta(ctx, sel, func(m *metav1.PartialObjectMetadata) error {
		if expired(m, now) {
			return nil
		}
		if err := s.revokeNamed(ctx, m.Name, tenantUID, reason, now); err != nil {
			return err
		}
		r.Tenant = m.Annotations[annotationTenant]
		r.Count++
		return nil
	})
	return r, err
}

// revokeNamed revokes the family of object name, re-reading it when another replica
// wrote it meanwhile. A family gone is no error.
func (s *Store) revokeNamed(ctx context.Context, name, tenantUID, reason string, now time.Time) error {
	for {
		obj, err := s.get(ctx, name, tenantUID)
		if errors.Is(err, refresh.ErrNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		f := toFamily(obj)
		if !f.Revoked.IsZero() {
			return nil
		}
		f.Revoked, f.RevokedReason, f.SealedSuccessor = now, reason, nil
		err = s.CompareAndSwap(ctx, f)
		if !errors.Is(err, refresh.ErrConflict) {
			return err
		}
	}
}

// Collect deletes the revoked and expired families, listing them a page at a time, and
// counts the live ones. A family written since it was listed (rotated, so live again)
// is left for the next time.
func (s *Store) Collect(ctx context.Context, now time.Time) (refresh.Collected, error) {
	c := refresh.Collected{Live: map[string]int{}}
	err := s.eachMeta(ctx, selector(hasTenant()), func(m *metav1.PartialObjectMetadata) error {
		if m.Labels[labelRevoked] != "true" && !expired(m, now) {
			c.Live[m.Annotations[annotationTenant]]++
			return nil
		}
		callCtx, cancel := context.WithTimeout(ctx, s.timeout)
		defer cancel()
		err := s.client.Delete(callCtx, m, client.Preconditions{UID: &m.UID, ResourceVersion: &m.ResourceVersion})
		switch {
		case err == nil:
			c.Deleted++
		case !apierrors.IsNotFound(err) && !apierrors.IsConflict(err):
			return unavailable(err)
		}
		return nil
	})
	s.counts.reset()
	return c, err
}

// eachMeta calls fn with the metadata of every family sel selects, a page at a time.
func (s *Store) eachMeta(ctx context.Context, sel labels.Selector, fn func(*metav1.PartialObjectMetadata) error) error {
	list := &metav1.PartialObjectMetadataList{}
	list.SetGroupVersionKind(GroupVersion.WithKind("RefreshTokenFamilyList"))
	opts := []client.ListOption{client.InNamespace(s.namespace), client.MatchingLabelsSelector{Selector: sel}, client.Limit(s.pageSize)}
	for {
		pageCtx, cancel := context.WithTimeout(ctx, s.timeout)
		err := s.client.List(pageCtx, list, opts...)
		cancel()
		if err != nil {
			return unavailable(err)
		}
		for i := range list.Items {
			if err := fn(&list.Items[i]); err != nil {
				return err
			}
		}
		if list.Continue == "" {
			return nil
		}
		opts = append(opts[:3], client.Continue(list.Continue))
	}
}

// expired reports whether the family of m has passed its deadline at now.
func expired(m *metav1.PartialObjectMetadata, now time.Time) bool {
	deadline, err := strconv.ParseInt(m.Labels[labelDeadline], 10, 64)
	return err != nil || deadline <= now.Unix()
}

func selector(reqs ...labels.Requirement) labels.Selector {
	return labels.NewSelector().Add(reqs...)
}

func requirement(key string, op selection.Operator, values ...string) labels.Requirement {
	r, err := labels.NewRequirement(key, op, values)
	if err != nil {
		panic(err) // the keys are constants and the values hashes or integers
	}
	return *r
}

func hasTenant() labels.Requirement { return requirement(labelTenant, selection.Exists) }
func tenantIs(tenantUID string) labels.Requirement {
	return requirement(labelTenant, selection.Equals, hashLabel(tenantUID))
}

func ownerIs(tenantUID, clientID, subject string) labels.Requirement {
	return requirement(labelOwner, selection.Equals, hashLabel(tenantUID, clientID, subject))
}

func subjectIs(tenantUID, subject string) labels.Requirement {
	return requirement(labelSubject, selection.Equals, hashLabel(tenantUID, subject))
}

func notRevoked() labels.Requirement { return requirement(labelRevoked, selection.DoesNotExist) }

// deadlineAfter selects the families whose deadline, to the second, is after t.
func deadlineAfter(t time.Time) labels.Requirement {
	return requirement(labelDeadline, selection.GreaterThan, strconv.FormatInt(t.Unix(), 10))
}

// hashLabel is a label value naming parts: 40 hex characters of their SHA-256.
func hashLabel(parts ...string) string {
	h := sha256.New()
	for _, p := range parts {
		h.Write([]byte(p))
		h.Write([]byte{0})
	}
	return hex.EncodeToString(h.Sum(nil))[:40]
}

// objectName is the name of family id of tenantUID: the family ID and a hash of the
// tenant, so that one tenant cannot even name another's family.
func objectName(tenantUID, id string) string {
	return id + "-" + hashLabel(tenantUID)[:16]
}

// storeError is err of the API server as a refresh.Store error.
func storeError(err error) error {
	switch {
	case apierrors.IsNotFound(err):
		return refresh.ErrNotFound
	case apierrors.IsConflict(err):
		return refresh.ErrConflict
	default:
		return unavailable(err)
	}
}

func unavailable(err error) error {
	return fmt.Errorf("%w: %w", refresh.ErrUnavailable, err)
}

// tenantCounts are the last counts of families of each tenant, with the families this
// replica created since.
type tenantCounts struct {
	mu sync.Mutex
	m  map[string]tenantCount
}

type tenantCount struct {
	n  int
	at time.Time
}

func (c *tenantCounts) get(tenantUID string) (tenantCount, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	n, ok := c.m[tenantUID]
	return n, ok
}

func (c *tenantCounts) set(tenantUID string, n int) tenantCount {
	c.mu.Lock()
	defer c.mu.Unlock()
	tc := tenantCount{n: n, at: time.Now()}
	c.m[tenantUID] = tc
	return tc
}

func (c *tenantCounts) add(tenantUID string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if tc, ok := c.m[tenantUID]; ok {
		tc.n++
		c.m[tenantUID] = tc
	}
}

// reset forgets every count, after a collection changed them (and so that tenants
// gone are forgotten).
func (c *tenantCounts) reset() {
	c.mu.Lock()
	defer c.mu.Unlock()
	clear(c.m)
}
