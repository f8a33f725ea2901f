package tokentest

import (
	"slices"

	"github.com/gatehouse-dev/gatehouse/tokenserver/snapshot"
)

// UseRefreshTokens gives the sample tenant refresh tokens: its RS256 API allows offline
// access, and its confidential and public clients have the refresh_token grant with rt.
// The realm-only client and the HS256 API stay without. The snapshot's slices are
// replaced, not changed, so that copies of the tenant keep theirs.
func (ft *Tenant) UseRefreshTokens(rt snapshot.RefreshTokens) {
	snap := ft.Snapshot
	snap.APIs = slices.Clone(snap.APIs)
	for i := range snap.APIs {
		snap.APIs[i].AllowOfflineAccess = snap.APIs[i].Identifier == APIIdentifier
	}
	snap.Clients = slices.Clone(snap.Clients)
	for i := range snap.Clients {
		c := &snap.Clients[i]
		if c.ClientID == Confidential || c.ClientID == Public {
			c.GrantTypes = append(slices.Clip(c.GrantTypes), "refresh_token")
			c.RefreshTokens = &rt
		}
	}
}
