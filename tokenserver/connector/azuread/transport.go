package azuread

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"
)

// Grant types MSAL sends to the token endpoint for a password login: the password grant
// for a managed user, a SAML bearer grant for a federated one.
const (
	grantPassword = "password"
	grantSAML11   = "urn:ietf:params:oauth:grant-type:saml1_1-bearer"
	grantSAML20   = "urn:ietf:params:oauth:grant-type:saml2-bearer"
)

// errUnknownRealm is the answer of user-realm discovery for a username whose domain the
// cloud does not know. MSAL fails such a login with an error of its own text; this one,
// which MSAL wraps, lets classify refuse it as an unknown user.
var errUnknownRealm = errors.New("user-realm discovery does not know the username's domain")

// tokenRequests amends what MSAL Go sends and reads where it offers no option:
//   - a confidential client's secret is added to the token requests of a login, which
//     MSAL's confidential client leaves out of the password grant;
//   - the password is dropped from the SAML bearer grant of a federated user: MSAL sends
//     it to Entra ID with the assertion, though only the federation server checks it;
//   - a user realm that is neither Managed nor Federated becomes errUnknownRealm.
type tokenRequests struct {
	next         http.RoundTripper
	clientSecret string
}

func (t tokenRequests) RoundTrip(r *http.Request) (*http.Response, error) {
	if isForm(r) {
		amended, err := t.amend(r)
		if err != nil {
			return nil, err
		}
		r = amended
	}
	resp, err := t.next.RoundTrip(r)
	if err != nil || r.Method != http.MethodGet || !strings.Contains(strings.ToLower(r.URL.Path), "/common/userrealm/") {
		return resp, err
	}
	return checkRealm(resp)
}

func isForm(r *http.Request) bool {
	media, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	return r.Method == http.MethodPost && media == "application/x-www-form-urlencoded" && r.Body != nil
}

// amend returns a copy of the form request r with the login's grant amended.
func (t tokenRequests) amend(r *http.Request) (*http.Request, error) {
	raw, err := io.ReadAll(r.Body)
	_ = r.Body.Close()
	if err != nil {
		return nil, err
	}
	form, err := url.ParseQuery(string(raw))
	if err != nil {
		return nil, err
	}
	switch form.Get("grant_type") {
	case grantPassword:
	case grantSAML11, grantSAML20:
		form.Del("password")
	default:
		return withBody(r, raw), nil
	}
	if t.clientSecret != "" {
		form.Set("client_secret", t.clientSecret)
	}
	return withBody(r, []byte(form.Encode())), nil
}

func withBody(r *http.Request, body []byte) *http.Request {
	c := r.Clone(r.Context())
	c.Body = io.NopCloser(bytes.NewReader(body))
	c.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(body)), nil }
	c.ContentLength = int64(len(body))
	c.Header.Set("Content-Length", strconv.Itoa(len(body)))
	return c
}

// checkRealm reads a user-realm answer and gives it back to MSAL unread, or fails it with
// errUnknownRealm.
func checkRealm(resp *http.Response) (*http.Response, error) {
	body, err := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	if err != nil {
		return nil, err
	}
	var realm struct {
		AccountType string `json:"account_type"`
	}
	if resp.StatusCode == http.StatusOK && json.Unmarshal(body, &realm) == nil &&
		realm.AccountType != "Managed" && realm.AccountType != "Federated" {
		return nil, errUnknownRealm
	}
	resp.Body = io.NopCloser(bytes.NewReader(body))
	return resp, nil
}
