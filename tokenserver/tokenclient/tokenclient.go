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

// Package tokenclient gets an access token from a Gatehouse token server with the
// Resource Owner Password grant or the Client Credentials grant, using the credentials
// Secret the controller writes for a Client, as a workload mounts it, or a projected
// ServiceAccount token as the client's assertion.
package tokenclient

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
)

// Keys of a Client's credentials Secret, which are also the file names of its volume.
const (
	FileClientID     = "client_id"
	FileClientSecret = "client_secret"
	FileTokenURL     = "token_url"
)

// Credentials identify a Client to the token server.
type Credentials struct {
	ClientID     string
	ClientSecret string
	TokenURL     string
}

// AssertionTypeJWTBearer is the client_assertion_type of a ServiceAccount token.
const AssertionTypeJWTBearer = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"

// ReadCredentials reads a mounted credentials Secret. A missing file is an error only for
// fields that are still empty in base, so flags can stand in for files.
func ReadCredentials(dir string, base Credentials) (Credentials, error) {
	fields := []struct {
		file  string
		value *string
	}{
		{FileClientID, &base.ClientID},
		{FileClientSecret, &base.ClientSecret},
		{FileTokenURL, &base.TokenURL},
	}
	for _, f := range fields {
		if *f.value != "" {
			continue
		}
		data, err := os.ReadFile(filepath.Join(dir, f.file)) //nolint:gosec // the directory the user named
		// A public Client has no secret.
		publicClient := errors.Is(err, os.ErrNotExist) && f.file == FileClientSecret
		if err != nil && !publicClient {
			return Credentials{}, fmt.Errorf("reading the credentials: %w", err)
		}
		*f.value = strings.TrimSpace(string(data))
	}
	return base, nil
}

// Request is one password grant, or with ClientCredentials one client_credentials grant.
type Request struct {
	Credentials
	// Assertion, when set, is a ServiceAccount token that authenticates the client
	// instead of ClientSecret (RFC 7523 §2.2).
	Assertion         string
	ClientCredentials bool
	Username          string
	Password          string
	Audience          string
	Scope             string
}

// Response is the token server's answer to a successful grant.
type Response struct {
	AccessToken string `json:"access_token"`
	TokenType   string `json:"token_type"`
	ExpiresIn   int    `json:"expires_in"`
	Scope       string `json:"scope,omitempty"`
	IDToken     string `json:"id_token,omitempty"`
}

// Error is an RFC 6749 §5.2 error answer.
type Error struct {
	Status      int
	Code        string `json:"error"`
	Description string `json:"error_description"`
}

func (e *Error) Error() string {
	return fmt.Sprintf("token server answered %d %s: %s", e.Status, e.Code, e.Description)
}

// Fetch runs the grant and returns the parsed answer and its raw JSON.
func Fetch(ctx context.Context, client *http.Client, r Request) (Response, []byte, error) {
	if r.TokenURL == "" || r.ClientID == "" {
		return Response{}, nil, errors.New("the token URL and client_id are required")
	}
	form := url.Values{"grant_type": {"password"}, "username": {r.Username}, "password": {r.Password}}
	if r.ClientCredentials {
		form = url.Values{"grant_type": {"client_credentials"}}
	}
	if r.Assertion != "" {
		form.Set("client_id", r.ClientID)
		form.Set("client_assertion_type", AssertionTypeJWTBearer)
		form.Set("client_assertion", r.Assertion)
	}
	for key, value := range map[string]string{"audience": r.Audience, "scope": r.Scope} {
		if value != "" {
			form.Set(key, value)
		}
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, r.TokenURL, bytes.NewBufferString(form.Encode()))
	if err != nil {
		return Response{}, nil, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	if r.Assertion == "" {
		req.SetBasicAuth(url.QueryEscape(r.ClientID), url.QueryEscape(r.ClientSecret))
	}
	resp, err := client.Do(req)
	if err != nil {
		return Response{}, nil, err
	}
	defer func() { _ = resp.Body.Close() }()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return Response{}, nil, err
	}
	if resp.StatusCode != http.StatusOK {
		answer := &Error{Status: resp.StatusCode}
		if json.Unmarshal(body, answer) != nil || answer.Code == "" {
			answer.Code, answer.Description = "unexpected_answer", http.StatusText(resp.StatusCode)
		}
		return Response{}, nil, answer
	}
	var token Response
	if err := json.Unmarshal(body, &token); err != nil || token.AccessToken == "" {
		return Response{}, nil, fmt.Errorf("token server answered 200 without an access token")
	}
	return token, body, nil
}
