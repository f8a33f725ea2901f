package azuread

import (
	"context"
	"errors"

	"github.com/AzureAD/microsoft-authentication-library-for-go/apps/cache"
)

// emptyCache is MSAL's serialized cache holding nothing.
var emptyCache = []byte("{}")

// forgetTokens keeps MSAL from keeping user tokens. MSAL writes every token it acquires
// (access, refresh and id tokens of the user) to the client's in-memory cache, where they
// would pile up for every user who logs in. With an accessor, MSAL calls Replace before
// the write and Export after it, both under one lock; emptying the cache in both leaves
// nothing behind once a login returns. The password grant never reads the cache, so a
// wrong password can never be answered from it.
type forgetTokens struct{}

func (forgetTokens) Replace(_ context.Context, c cache.Unmarshaler, _ cache.ReplaceHints) error {
	return c.Unmarshal(emptyCache)
}

func (forgetTokens) Export(_ context.Context, c cache.Marshaler, _ cache.ExportHints) error {
	u, ok := c.(cache.Unmarshaler)
	if !ok {
		// Fails the login rather than keep tokens, should MSAL's cache ever stop being one.
		return errors.New("MSAL's token cache cannot be emptied")
	}
	return u.Unmarshal(emptyCache)
}
