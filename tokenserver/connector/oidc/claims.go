package oidc

import (
	"cmp"
	"fmt"
	"strconv"

	"github.com/gatehouse-dev/gatehouse/tokenserver/connector"
	"github.com/gatehouse-dev/gatehouse/tokenserver/snapshot"
)

// identityOf maps a verified id_token's claims to an identity: the subject claim is the
// user id, and the user's preferred_username, else the username typed, names it.
func identityOf(claims map[string]any, names snapshot.OIDCClaims, username string) (connector.Identity, error) {
	subject, ok := stringClaim(claims[names.Subject])
	if !ok || subject == "" {
		return connector.Identity{}, fmt.Errorf("the id_token has no %q claim to use as the user id", names.Subject)
	}
	preferred, _ := stringClaim(claims["preferred_username"])
	email, _ := stringClaim(claims[names.Email])
	name, _ := stringClaim(claims[names.Name])
	verified, _ := claims["email_verified"].(bool)
	return connector.Identity{
		UserID:        subject,
		Username:      cmp.Or(preferred, username),
		Email:         email,
		EmailVerified: verified && email != "",
		Name:          name,
		Groups:        groupsOf(claims[names.Groups]),
	}, nil
}

// stringClaim is a claim's value as a string: a string, or a number (some providers'
// user ids are).
func stringClaim(v any) (string, bool) {
	switch v := v.(type) {
	case string:
		return v, true
	case float64:
		return strconv.FormatFloat(v, 'f', -1, 64), true
	}
	return "", false
}

// groupsOf reads a groups claim: a list of strings, or one string. Other values are
// dropped.
func groupsOf(v any) []string {
	switch v := v.(type) {
	case string:
		return []string{v}
	case []any:
		var groups []string
		for _, g := range v {
			if s, ok := g.(string); ok {
				groups = append(groups, s)
			}
		}
		return groups
	}
	return nil
}
