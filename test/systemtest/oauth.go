package systemtest

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	identityv1alpha1 "github.com/gatehouse-dev/gatehouse/api/v1alpha1"
	"github.com/gatehouse-dev/gatehouse/tokenserver/snapshot"
)

// Credentials are the keys of a Client's credentials Secret: client_id, client_secret,
// token_url and issuer.
type Credentials map[string]string

// requestTimeout bounds one token request of PasswordToken.
const requestTimeout = 10 * time.Second

// PasswordToken gets a token with the password grant, as golang.org/x/oauth2 does it.
func (c Credentials) PasswordToken(username, password string) (*oauth2.Token, error) {
	ctx, cancel := context.WithTimeout(context.Background(), requestTimeout)
	defer cancel()
	return c.PasswordTokenWith(ctx, username, password)
}

// PasswordTokenWith is PasswordToken with the caller's context, which may carry an
// *http.Client as oauth2.HTTPClient.
func (c Credentials) PasswordTokenWith(ctx context.Context, username, password string) (*oauth2.Token, error) {
	cfg := oauth2.Config{
		ClientID:     c["client_id"],
		ClientSecret: c["client_secret"],
		Endpoint:     oauth2.Endpoint{TokenURL: c["token_url"], AuthStyle: oauth2.AuthStyleInHeader},
		// Scopes an audience does not define are dropped, not refused.
		Scopes: []string{"openid", "profile", "email", "read:sample"},
	}
	return cfg.PasswordCredentialsToken(ctx, username, password)
}

// WithHTTPClient is ctx for PasswordTokenWith with client as the HTTP client.
func WithHTTPClient(ctx context.Context, client *http.Client) context.Context {
	return context.WithValue(ctx, oauth2.HTTPClient, client)
}

// JWKSURL is the JWKS of the issuer of c.
func (c Credentials) JWKSURL() string { return snapshot.JWKSURL(c["issuer"]) }

// RotateKeys asks for a rotation of tenant's signing keys, with request as the value of
// the annotation, and waits until a new key is current and the token server signs with
// it (token gets a token of the Tenant); it returns the new key's kid.
func (cl Cluster) RotateKeys(t testing.TB, tenant *identityv1alpha1.Tenant, request string, token func() (*oauth2.Token, error)) string {
	t.Helper()
	cl.Get(t, tenant)
	oldKID := CurrentKID(tenant)
	cl.Update(t, tenant, func() {
		metav1.SetMetaDataAnnotation(&tenant.ObjectMeta, identityv1alpha1.RotateKeysAnnotation, request)
	})
	var newKID string
	Eventually(t, "a new key is current after "+request, func() error {
		cl.Get(t, tenant)
		if newKID = CurrentKID(tenant); newKID == oldKID || newKID == "" {
			// What the controller last reported, for a rotation that never comes.
			return fmt.Errorf("the current key is still %q; lastRotationRequest %q, keys %s, conditions %v",
				newKID, tenant.Status.LastRotationRequest, keyStates(tenant), tenant.Status.Conditions)
		}
		return nil
	})
	Eventually(t, "the token server signs with "+newKID, func() error {
		tok, err := token()
		if err != nil {
			return err
		}
		if kid := TokenKID(t, tok.AccessToken); kid != newKID {
			return fmt.Errorf("signed with %s", kid)
		}
		return nil
	})
	return newKID
}

// CurrentKID is the kid of the Tenant's current signing key, as its status reports it.
func CurrentKID(tenant *identityv1alpha1.Tenant) string {
	for _, k := range tenant.Status.Keys {
		if k.State == identityv1alpha1.KeyStateCurrent {
			return k.KID
		}
	}
	return ""
}

// keyStates lists a Tenant's keys as its status reports them, "kid=state@notBefore".
func keyStates(tenant *identityv1alpha1.Tenant) string {
	var states []string
	for _, k := range tenant.Status.Keys {
		states = append(states, fmt.Sprintf("%s=%s@%v", k.KID, k.State, k.NotBefore))
	}
	return strings.Join(states, " ")
}

// TokenKID reads the kid header of a JWT.
func TokenKID(t testing.TB, jwt string) string {
	t.Helper()
	header, _, _ := strings.Cut(jwt, ".")
	var h struct {
		KID string `json:"kid"`
	}
	data, err := base64.RawURLEncoding.DecodeString(header)
	if err == nil {
		err = json.Unmarshal(data, &h)
	}
	if err != nil {
		t.Fatalf("reading a token header: %v", err)
	}
	return h.KID
}

// Answer is how the token server answered a token request.
type Answer struct {
	Status int
	// Code is the RFC 6749 error code; "" for a token.
	Code string
	// RetryAfter is the Retry-After header; "" when there is none.
	RetryAfter string
}

func (a Answer) String() string {
	s := strconv.Itoa(a.Status)
	if a.Code != "" {
		s += " " + a.Code
	}
	if a.RetryAfter != "" {
		s += " (Retry-After " + a.RetryAfter + ")"
	}
	return s
}

// AnswerOf is the answer that err, the error of PasswordToken or PasswordTokenWith
// (nil for a token), reports; false when the request got no HTTP answer at all.
func AnswerOf(err error) (Answer, bool) {
	if err == nil {
		return Answer{Status: http.StatusOK}, true
	}
	var re *oauth2.RetrieveError
	if !errors.As(err, &re) || re.Response == nil {
		return Answer{}, false
	}
	return Answer{Status: re.Response.StatusCode, Code: re.ErrorCode, RetryAfter: re.Response.Header.Get("Retry-After")}, true
}

// HTTPClient sends every request to the token server over plain HTTP, whatever the
// scheme and host of its URL, with that host in the Host header: as the load balancer in
// front of the token server does, terminating TLS for the Tenants' domains. Each request
// also carries header (such as X-Forwarded-For, which the token server believes when
// started with --trusted-proxies=127.0.0.1); header may be nil.
func (ts *TokenServer) HTTPClient(header http.Header) *http.Client {
	transport := http.DefaultTransport.(*http.Transport).Clone()
	transport.MaxIdleConnsPerHost = 64 // the floods of the tests reuse their connections
	return &http.Client{
		Transport: &toTokenServer{addr: ts.addr, header: header, next: transport},
		Timeout:   time.Minute,
	}
}

// toTokenServer is the RoundTripper of HTTPClient.
type toTokenServer struct {
	addr   string
	header http.Header
	next   http.RoundTripper
}

func (r *toTokenServer) RoundTrip(req *http.Request) (*http.Response, error) {
	req = req.Clone(req.Context())
	req.Host = req.URL.Host
	req.URL.Scheme, req.URL.Host = "http", r.addr
	for name, values := range r.header {
		req.Header[name] = values
	}
	return r.next.RoundTrip(req)
}
