package oidc

import (
	"context"

	"github.com/gatehouse-dev/gatehouse/tokenserver/connector/upstream"
	"github.com/gatehouse-dev/gatehouse/tokenserver/snapshot"
)

// Check reads and checks the provider's discovery document through the client a
// connector of cfg would use, within cfg's timeout: the controller's DirectoryReachable.
func Check(ctx context.Context, cfg snapshot.OIDC) error {
	client, err := upstream.NewClient(upstream.Options{CAPEM: cfg.CAPEM, Timeout: cfg.Timeout})
	if err != nil {
		return err
	}
	defer client.CloseIdleConnections()
	_, err = Discover(ctx, client, cfg.Issuer)
	return err
}
