package oidc

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/gatehouse-dev/gatehouse/tokenserver/connector"
	"github.com/gatehouse-dev/gatehouse/tokenserver/connector/upstream"
)

// passwordGrant asks the provider's token endpoint for tokens with username and password
// (RFC 6749 §4.3.2) and returns the id_token of the answer. The answer's other tokens
// are dropped unread.
func (c *Connector) passwordGrant(ctx context.Context, p *provider, username, password string) (string, error) {
	form := url.Values{
		"grant_type": {"password"},
		"username":   {username},
		"password":   {password},
		"scope":      {strings.Join(c.cfg.Scopes, " ")},
	}
	basic := c.cfg.ClientSecret != "" && p.basicAuth
	if !basic {
		form.Set("client_id", c.cfg.ClientID)
		if c.cfg.ClientSecret != "" {
			form.Set("client_secret", c.cfg.ClientSecret)
		}
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, p.tokenURL, strings.NewReader(form.Encode()))
	if err != nil {
		return "", fmt.Errorf("%w: %w", connector.ErrUnavailable, err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	if basic {
		// RFC 6749 §2.3.1: both are form-encoded before they go into the header.
		req.SetBasicAuth(url.QueryEscape(c.cfg.ClientID), url.QueryEscape(c.cfg.ClientSecret))
	}
	resp, err := c.client.Do(req) //nolint:bodyclose // upstream.ReadBody closes it
	if err != nil {
		return "", fmt.Errorf("%w: the token endpoint: %w", connector.ErrUnavailable, err)
	}
	body, err := upstream.ReadBody(resp)
	if err != nil {
		return "", fmt.Errorf("%w: the token endpoint's answer: %w", connector.ErrUnavailable, err)
	}
	return idTokenOf(resp.StatusCode, body)
}

// idTokenOf reads a token endpoint's answer: the id_token of a success, or what its
// error (RFC 6749 §5.2) means. A refused password is invalid_grant; some providers
// (Dex, Auth0) say access_denied. Any other error is the Connection's mistake (its
// client, secret or scopes) or the provider's, which the user cannot fix by typing
// another password, so it is ErrUnavailable.
func idTokenOf(status int, body []byte) (string, error) {
	switch status {
	case http.StatusOK:
		var answer struct {
			IDToken string `json:"id_token"`
		}
		if err := json.Unmarshal(body, &answer); err != nil {
			return "", fmt.Errorf("%w: the token endpoint answered 200 with no JSON", connector.ErrUnavailable)
		}
		if answer.IDToken == "" {
			return "", fmt.Errorf("%w: the token endpoint answered with no id_token (is openid among the scopes?)", connector.ErrUnavailable)
		}
		return answer.IDToken, nil
	case http.StatusBadRequest, http.StatusUnauthorized, http.StatusForbidden:
		var answer struct {
			Error string `json:"error"`
		}
		_ = json.Unmarshal(body, &answer)
		code := errorCode(answer.Error)
		switch code {
		case "invalid_grant", "access_denied":
			return "", fmt.Errorf("%w: the provider refused the password with %s", connector.ErrInvalidCredentials, code)
		case "":
			return "", fmt.Errorf("%w: the token endpoint answered HTTP %d without an OAuth error", connector.ErrUnavailable, status)
		}
		return "", fmt.Errorf("%w: the token endpoint refused the request with %s: check the Connection's client, secret and scopes, and that the provider allows the client the password grant",
			connector.ErrUnavailable, code)
	}
	return "", fmt.Errorf("%w: %w", connector.ErrUnavailable, &upstream.StatusError{Code: status})
}

// errorCode is an OAuth error code fit for a log line: RFC 6749 §5.2 codes are short
// and printable; anything else is quoted and cut.
func errorCode(code string) string {
	const maxLen = 64
	if len(code) > maxLen {
		code = code[:maxLen]
	}
	for _, r := range code {
		if r < 0x20 || r > 0x7e || r == '"' || r == '\\' {
			return strconv.Quote(code)
		}
	}
	return code
}
