package adfs

import (
	"context"
	"strings"

	"github.com/gatehouse-dev/gatehouse/tokenserver/connector/upstream"
	"github.com/gatehouse-dev/gatehouse/tokenserver/snapshot"
)

// Check reads and parses the document an adfs connection depends on, through the same
// client policy as logins: the OpenID configuration in oauth2 mode, the federation
// metadata in wsTrust mode. The controller reports its error in the Connection's
// conditions.
func Check(ctx context.Context, cfg snapshot.ADFS) error {
	if err := upstream.CheckURL(cfg.URL); err != nil {
		return err
	}
	client, err := upstream.NewClient(upstream.Options{CAPEM: cfg.CAPEM, Timeout: cfg.Timeout, MaxConnections: 1})
	if err != nil {
		return err
	}
	defer client.CloseIdleConnections()
	base := strings.TrimSuffix(cfg.URL, "/")
	if cfg.Mode == snapshot.ADFSModeOAuth2 {
		_, err = discover(ctx, client, base)
		return err
	}
	_, err = fetchMetadata(ctx, client, base+MetadataPath)
	return err
}
