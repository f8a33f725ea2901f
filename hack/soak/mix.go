/*
Copyright 2026 The Gatehouse Authors.

Licensed under the Apache License, Version 2.0 (the "License");
you may not use this file except in compliance with the License.
You may obtain a copy of the License at

    http://www.apache.org/licenses/LICENSE-2.0

Unless required by applicable law or agreed to in writing, software
distributed under the License is distributed on an "AS IS" BASIS,
WITHOUT WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied.
See the License for the specific language governing permissions and
limitations under the License.
*/

package main

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"maps"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"

	"github.com/gatehouse-dev/gatehouse/tokenserver/snapshot"
)

// scenario is one kind of request of the mix.
type scenario struct {
	name string
	// weight is the scenario's requests in each cycle of the mix.
	weight int
	// want is the answer a healthy server gives.
	want    outcome
	request func(context.Context, *runner) (*http.Request, error)
}

// mix is the load; the package documentation explains its shares.
var mix = []*scenario{
	{name: "login", weight: 5, want: outcome{status: http.StatusOK}, request: validLogin},
	{name: "login (wrong password)", weight: 1, want: outcome{status: http.StatusBadRequest, code: "invalid_grant"}, request: wrongPasswordLogin},
	{name: "userinfo", weight: 8, want: outcome{status: http.StatusOK}, request: userinfo},
	{name: "jwks", weight: 3, want: outcome{status: http.StatusOK}, request: fetch(func(e endpoints) string { return e.jwks })},
	{name: "discovery", weight: 3, want: outcome{status: http.StatusOK}, request: fetch(func(e endpoints) string { return e.discovery })},
}

// schedule spreads the scenarios over one cycle by their weights, evenly rather than in
// blocks (smooth weighted round robin), so that any stretch of the run has the mix.
func schedule(scenarios []*scenario) []*scenario {
	total := 0
	for _, sc := range scenarios {
		total += sc.weight
	}
	credit := make([]int, len(scenarios))
	cycle := make([]*scenario, 0, total)
	for range total {
		best := 0
		for i, sc := range scenarios {
			credit[i] += sc.weight
			if credit[i] > credit[best] {
				best = i
			}
		}
		credit[best] -= total
		cycle = append(cycle, scenarios[best])
	}
	return cycle
}

// clientAddresses are n simulated client addresses of TEST-NET-3 (RFC 5737).
func clientAddresses(n int) []string {
	addresses := make([]string, n)
	for i := range addresses {
		addresses[i] = "203.0.113." + strconv.Itoa(i+1)
	}
	return addresses
}

// endpoints are the URLs of the tenant under load.
type endpoints struct {
	token, userinfo, jwks, discovery string
}

func endpointsOf(tokenURL string) endpoints {
	issuer := strings.TrimSuffix(tokenURL, snapshot.PathToken)
	return endpoints{
		token:     tokenURL,
		userinfo:  snapshot.UserinfoURL(issuer),
		jwks:      snapshot.JWKSURL(issuer),
		discovery: snapshot.DiscoveryURL(issuer),
	}
}

func validLogin(ctx context.Context, r *runner) (*http.Request, error) {
	return loginRequest(ctx, r, r.target.PasswordGrant)
}

func wrongPasswordLogin(ctx context.Context, r *runner) (*http.Request, error) {
	form := maps.Clone(r.target.PasswordGrant)
	form["password"] += "-wrong"
	return loginRequest(ctx, r, form)
}

func loginRequest(ctx context.Context, r *runner, form map[string]string) (*http.Request, error) {
	values := url.Values{}
	for k, v := range form {
		values.Set(k, v)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, r.endpoints.token, strings.NewReader(values.Encode()))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return req, nil
}

func userinfo(ctx context.Context, r *runner) (*http.Request, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, r.endpoints.userinfo, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+r.tokens.next())
	return req, nil
}

// fetch is a GET of the endpoint that url picks.
func fetch(url func(endpoints) string) func(context.Context, *runner) (*http.Request, error) {
	return func(ctx context.Context, r *runner) (*http.Request, error) {
		return http.NewRequestWithContext(ctx, http.MethodGet, url(r.endpoints), nil)
	}
}

// maxAnswer bounds the body read of an answer; the largest, a JWKS, is a few KiB.
const maxAnswer = 1 << 20

// exchange sends req and classifies the answer; it keeps the access token a login
// returns for the userinfo requests that follow.
func (r *runner) exchange(req *http.Request) (outcome, error) {
	resp, err := r.client.Do(req)
	if err != nil {
		return outcome{}, err
	}
	defer resp.Body.Close() //nolint:errcheck // read to the end below; nothing to report
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxAnswer))
	if err != nil {
		return outcome{}, err
	}
	got, accessToken := classify(resp.StatusCode, resp.Header, body)
	if accessToken != "" {
		r.tokens.add(accessToken)
	}
	return got, nil
}

// outcome is how a request ended: an HTTP status with the OAuth error code of an error
// answer, or a transport failure.
type outcome struct {
	status    int
	code      string
	transport string
}

// Transport failures.
const (
	transportTimeout = "timeout"
	transportError   = "transport error"
)

// kind names the outcome in the report: "200", "400 invalid_grant", "404", "timeout".
func (o outcome) kind() string {
	switch {
	case o.transport != "":
		return o.transport
	case o.code != "":
		return strconv.Itoa(o.status) + " " + o.code
	default:
		return strconv.Itoa(o.status)
	}
}

// classify reads the OAuth error code of an answer, from an RFC 6749 §5.2 body or an
// RFC 6750 WWW-Authenticate header, and the access token of a successful login.
func classify(status int, header http.Header, body []byte) (got outcome, accessToken string) {
	var answer struct {
		Error       string `json:"error"`
		AccessToken string `json:"access_token"`
	}
	_ = json.Unmarshal(body, &answer) // a body that is not JSON has no error code
	got = outcome{status: status}
	if status >= 200 && status < 300 {
		return got, answer.AccessToken
	}
	got.code = answer.Error
	if got.code == "" {
		got.code = bearerError(header.Get("WWW-Authenticate"))
	}
	return got, ""
}

// bearerError is the error attribute of a Bearer challenge, RFC 6750 §3.
func bearerError(challenge string) string {
	_, rest, ok := strings.Cut(challenge, `error="`)
	if !ok {
		return ""
	}
	code, _, _ := strings.Cut(rest, `"`)
	return code
}

func transportOutcome(err error) outcome {
	var netErr net.Error
	if errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &netErr) && netErr.Timeout()) {
		return outcome{transport: transportTimeout}
	}
	return outcome{transport: transportError}
}

// tokenPool keeps the latest access tokens for userinfo requests.
type tokenPool struct {
	mu     sync.Mutex
	tokens []string
	added  int
	used   int
}

const tokenPoolSize = 32

func (p *tokenPool) add(token string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.tokens) < tokenPoolSize {
		p.tokens = append(p.tokens, token)
	} else {
		p.tokens[p.added%tokenPoolSize] = token
	}
	p.added++
}

// next takes the tokens in turn; the warm-up login put the first one in.
func (p *tokenPool) next() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.tokens) == 0 {
		return ""
	}
	p.used++
	return p.tokens[p.used%len(p.tokens)]
}
