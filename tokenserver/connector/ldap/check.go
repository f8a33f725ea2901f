package ldap

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/go-ldap/ldap/v3"

	"github.com/gatehouse-dev/gatehouse/tokenserver/snapshot"
)

// Check binds to an ldap connection's directory as the service account and reads the
// user search base DN. The controller reports its error in the Connection's Conditions.
func Check(ctx context.Context, cfg snapshot.LDAP) error {
	return check(ctx, cfg.Transport, cfg.BindDN, cfg.UserSearch.BaseDN)
}

// CheckActiveDirectory is Check for an activeDirectory connection.
func CheckActiveDirectory(ctx context.Context, cfg snapshot.ActiveDirectory) error {
	return check(ctx, cfg.Transport, cfg.BindUsername, activeDirectoryBaseDN(cfg))
}

func check(ctx context.Context, t snapshot.Transport, bindName, baseDN string) error {
	dir, err := newDirectory(t, bindName, slog.New(slog.DiscardHandler), time.Now)
	if err != nil {
		return err
	}
	conn, err := dir.dialService(ctx)
	if err != nil {
		return err
	}
	defer func() { _ = conn.Close() }()
	// "1.1" asks for no attributes: the search only proves the entry exists and is visible.
	req := ldap.NewSearchRequest(baseDN, ldap.ScopeBaseObject, ldap.NeverDerefAliases,
		1, 0, false, "(objectClass=*)", []string{"1.1"}, nil)
	if _, err := conn.Search(req); err != nil {
		return fmt.Errorf("reading base DN %q: %w", baseDN, err)
	}
	return nil
}
