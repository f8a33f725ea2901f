package snapshot

import "slices"

// ClientGrant is an API a client may get access tokens for, and the scopes of it the
// client may be granted.
type ClientGrant struct {
	// Identifier is the API's identifier, the audience.
	Identifier string   `json:"identifier"`
	Scopes     []string `json:"scopes,omitempty"`
}

// Restricted tells whether the client has grants: it may then get tokens only for the
// APIs and scopes they list.
func (c *Client) Restricted() bool { return len(c.APIs) > 0 }

// Grant is the client's grant of the API with identifier, if it has one.
func (c *Client) Grant(identifier string) (ClientGrant, bool) {
	i := slices.IndexFunc(c.APIs, func(g ClientGrant) bool { return g.Identifier == identifier })
	if i < 0 {
		return ClientGrant{}, false
	}
	return c.APIs[i], true
}

// ServiceAccountRef names the Kubernetes ServiceAccount whose tokens authenticate a
// client (RFC 7523 client assertions): one of the client's own namespace.
type ServiceAccountRef struct {
	Namespace string `json:"namespace"`
	Name      string `json:"name"`
}
