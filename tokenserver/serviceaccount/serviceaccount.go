// Package serviceaccount verifies Kubernetes ServiceAccount tokens that workloads present
// as client assertions (RFC 7523 §2.2).
//
// It checks a token twice. First offline, against the keys the cluster publishes for its
// ServiceAccount issuer (the API server's /.well-known/openid-configuration and
// /openid/v1/jwks): signature, issuer, audience, expiry, and the ServiceAccount's name
// and namespace. That needs the API server only to learn a new key, so assertions keep
// verifying while it is away. Then, when the API server can be asked, by a TokenReview,
// which alone can tell that the ServiceAccount and the Pod the token is bound to still
// exist. A TokenReview's yes is remembered for ReviewTTL at most, and never past the
// token's expiry; its no refuses the token. A TokenReview that cannot be made (the API
// server is down) leaves the offline check to decide.
package serviceaccount

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	authenticationv1 "k8s.io/api/authentication/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/gatehouse-dev/gatehouse/tokenserver/jwt"
)

// Errors of Verify: ErrInvalid is the client's (the token does not authenticate it),
// ErrUnavailable the cluster's (its keys cannot be read to check it).
var (
	ErrInvalid     = errors.New("not a valid token of the ServiceAccount")
	ErrUnavailable = errors.New("the cluster's ServiceAccount keys cannot be read")
)

// Defaults of Options.
const (
	DefaultReviewTTL     = time.Minute
	DefaultMaxCached     = 4096
	keysInterval         = 10 * time.Minute
	minRefetchInterval   = 10 * time.Second
	maxTokenBytes        = 16 << 10
	clockSkewOnNotBefore = 30 * time.Second
)

// Account is the ServiceAccount a token must be of.
type Account struct {
	Namespace, Name string
}

// Username is the user name Kubernetes gives the ServiceAccount's tokens.
func (a Account) Username() string { return "system:serviceaccount:" + a.Namespace + ":" + a.Name }

// Options tune a Verifier; zero values take the defaults.
type Options struct {
	// ReviewTTL bounds how long a TokenReview's yes is trusted: a Pod deleted since is
	// noticed within it.
	ReviewTTL time.Duration
	// MaxCached bounds the TokenReviews remembered.
	MaxCached int
	Now       func() time.Time
}

// Verifier checks ServiceAccount tokens for one cluster.
type Verifier struct {
	http    *http.Client
	host    string
	reviews kubernetes.Interface
	opts    Options
	log     *slog.Logger

	// fetching is held while the keys are read; mu guards the rest.
	fetching    sync.Mutex
	mu          sync.Mutex
	issuer      string
	keys        jose.JSONWebKeySet
	fetchedAt   time.Time
	attemptedAt time.Time
	reviewed    map[[sha256.Size]byte]time.Time
}

// New returns a Verifier of the tokens of the cluster cfg reaches, with cfg's credentials.
func New(cfg *rest.Config, log *slog.Logger, opts Options) (*Verifier, error) {
	httpClient, err := rest.HTTPClientFor(cfg)
	if err != nil {
		return nil, err
	}
	reviews, err := kubernetes.NewForConfigAndClient(cfg, httpClient)
	if err != nil {
		return nil, err
	}
	if opts.ReviewTTL <= 0 {
		opts.ReviewTTL = DefaultReviewTTL
	}
	if opts.MaxCached <= 0 {
		opts.MaxCached = DefaultMaxCached
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	return &Verifier{http: httpClient, host: strings.TrimSuffix(cfg.Host, "/"), reviews: reviews, opts: opts, log: log,
		reviewed: map[[sha256.Size]byte]time.Time{}}, nil
}

// claims are what a ServiceAccount token says.
type claims struct {
	Issuer     string       `json:"iss"`
	Subject    string       `json:"sub"`
	Audience   jwt.Audience `json:"aud"`
	Expiry     int64        `json:"exp"`
	NotBefore  int64        `json:"nbf"`
	Kubernetes struct {
		Namespace      string `json:"namespace"`
		ServiceAccount struct {
			Name string `json:"name"`
		} `json:"serviceaccount"`
	} `json:"kubernetes.io"`
}

// Verify checks that token is a live token of account for one of audiences, every
// audience it names being one of them: a token the API server would also accept, such
// as one of its default audience, is refused. The error wraps ErrInvalid or
// ErrUnavailable.
func (v *Verifier) Verify(ctx context.Context, token string, audiences []string, account Account) error {
	c, err := v.verifyOffline(ctx, token)
	if err != nil {
		return err
	}
	now := v.opts.Now()
	switch {
	case c.Expiry == 0 || !now.Before(time.Unix(c.Expiry, 0)):
		return fmt.Errorf("%w: it has expired or has no expiry", ErrInvalid)
	case c.NotBefore != 0 && now.Add(clockSkewOnNotBefore).Before(time.Unix(c.NotBefore, 0)):
		return fmt.Errorf("%w: it is not valid yet", ErrInvalid)
	case len(c.Audience) == 0 || slices.ContainsFunc(c.Audience, func(a string) bool { return !slices.Contains(audiences, a) }):
		return fmt.Errorf("%w: its audience %v is not this tenant's", ErrInvalid, []string(c.Audience))
	case c.Subject != account.Username() || c.Kubernetes.Namespace != account.Namespace || c.Kubernetes.ServiceAccount.Name != account.Name:
		return fmt.Errorf("%w: it is a token of %s, not of the client's ServiceAccount", ErrInvalid, c.Subject)
	}
	return v.review(ctx, token, c, account)
}

// verifyOffline checks the token's signature with the cluster's keys, and its issuer.
func (v *Verifier) verifyOffline(ctx context.Context, token string) (*claims, error) {
	if len(token) > maxTokenBytes {
		return nil, fmt.Errorf("%w: it is too long", ErrInvalid)
	}
	jws, err := jose.ParseSignedCompact(token, []jose.SignatureAlgorithm{jose.RS256, jose.ES256})
	if err != nil || len(jws.Signatures) != 1 {
		return nil, fmt.Errorf("%w: not a signed JWT", ErrInvalid)
	}
	issuer, key, err := v.key(ctx, jws.Signatures[0].Header.KeyID)
	if err != nil {
		return nil, err
	}
	payload, err := jws.Verify(key)
	if err != nil {
		return nil, fmt.Errorf("%w: its signature does not verify with the cluster's key", ErrInvalid)
	}
	var c claims
	if err := json.Unmarshal(payload, &c); err != nil {
		return nil, fmt.Errorf("%w: its claims do not parse", ErrInvalid)
	}
	if c.Issuer != issuer {
		return nil, fmt.Errorf("%w: its issuer is not the cluster's ServiceAccount issuer", ErrInvalid)
	}
	return &c, nil
}

// key returns the cluster's issuer and its key kid. They are read from the API server
// the first time and when kid is new to them, waiting for the read, at most every
// minRefetchInterval so that made-up kids cannot make every request read them; and
// again in the background when they are older than keysInterval. Keys already read keep
// verifying while the API server cannot be reached.
func (v *Verifier) key(ctx context.Context, kid string) (string, *jose.JSONWebKey, error) {
	issuer, keys, fetchedAt := v.keysFor(kid)
	switch {
	case len(keys) == 0:
		v.refresh(ctx, true)
		issuer, keys, _ = v.keysFor(kid)
	case v.opts.Now().Sub(fetchedAt) > keysInterval:
		go v.refresh(context.WithoutCancel(ctx), false)
	}
	switch {
	case issuer == "":
		return "", nil, ErrUnavailable
	case len(keys) == 0:
		return "", nil, fmt.Errorf("%w: it is signed with a key the cluster does not publish", ErrInvalid)
	}
	return issuer, &keys[0], nil
}

func (v *Verifier) keysFor(kid string) (string, []jose.JSONWebKey, time.Time) {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.issuer, v.keys.Key(kid), v.fetchedAt
}

// refresh reads the issuer and keys unless they were read within minRefetchInterval.
// wait says whether to wait for a read in progress, or leave it be.
func (v *Verifier) refresh(ctx context.Context, wait bool) {
	if wait {
		v.fetching.Lock()
	} else if !v.fetching.TryLock() {
		return
	}
	defer v.fetching.Unlock()
	v.mu.Lock()
	recent := v.opts.Now().Sub(v.attemptedAt) < minRefetchInterval
	if !recent {
		v.attemptedAt = v.opts.Now()
	}
	v.mu.Unlock()
	if recent {
		return
	}
	issuer, keys, err := v.fetch(ctx)
	if err != nil {
		v.log.Warn("reading the cluster's ServiceAccount keys; the keys read before keep verifying", "error", err)
		return
	}
	v.mu.Lock()
	v.issuer, v.keys, v.fetchedAt = issuer, keys, v.opts.Now()
	v.mu.Unlock()
}

// fetch reads the issuer from the API server's discovery document, and its keys.
func (v *Verifier) fetch(ctx context.Context) (string, jose.JSONWebKeySet, error) {
	var discovery struct {
		Issuer string `json:"issuer"`
	}
	var keys jose.JSONWebKeySet
	if err := v.get(ctx, "/.well-known/openid-configuration", &discovery); err != nil {
		return "", keys, err
	}
	if err := v.get(ctx, "/openid/v1/jwks", &keys); err != nil {
		return "", keys, err
	}
	if discovery.Issuer == "" || len(keys.Keys) == 0 {
		return "", keys, errors.New("the API server publishes no ServiceAccount issuer or keys")
	}
	return discovery.Issuer, keys, nil
}

func (v *Verifier) get(ctx context.Context, path string, into any) error {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, v.host+path, nil)
	if err != nil {
		return err
	}
	resp, err := v.http.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s", path, resp.Status)
	}
	return json.NewDecoder(http.MaxBytesReader(nil, resp.Body, 1<<20)).Decode(into)
}

// review asks the API server whether the token is still good: its ServiceAccount, and
// the Pod it is bound to, still exist. A yes is remembered; an unanswered review leaves
// the offline check's word.
func (v *Verifier) review(ctx context.Context, token string, c *claims, account Account) error {
	digest := sha256.Sum256([]byte(token))
	now := v.opts.Now()
	v.mu.Lock()
	until, ok := v.reviewed[digest]
	v.mu.Unlock()
	if ok && now.Before(until) {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	tr, err := v.reviews.AuthenticationV1().TokenReviews().Create(ctx, &authenticationv1.TokenReview{
		Spec: authenticationv1.TokenReviewSpec{Token: token, Audiences: []string(c.Audience)},
	}, metav1.CreateOptions{})
	if err != nil {
		v.log.Warn("TokenReview failed; the ServiceAccount token is accepted on its signature alone", "serviceAccount", account.Username(), "error", err)
		return nil
	}
	if !tr.Status.Authenticated || tr.Status.User.Username != account.Username() {
		return fmt.Errorf("%w: the API server refuses it (%s)", ErrInvalid, tr.Status.Error)
	}
	until = now.Add(v.opts.ReviewTTL)
	if expiry := time.Unix(c.Expiry, 0); expiry.Before(until) {
		until = expiry
	}
	v.remember(digest, until, now)
	return nil
}

// remember keeps a review's yes until until, dropping expired ones when full; with
// MaxCached live ones it keeps none, and the next request asks again.
func (v *Verifier) remember(digest [sha256.Size]byte, until, now time.Time) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if len(v.reviewed) >= v.opts.MaxCached {
		for d, u := range v.reviewed {
			if !now.Before(u) {
				delete(v.reviewed, d)
			}
		}
	}
	if len(v.reviewed) < v.opts.MaxCached {
		v.reviewed[digest] = until
	}
}
