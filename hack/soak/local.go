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
	"io"
	"path/filepath"
	"time"

	"github.com/gatehouse-dev/gatehouse/test/kubetest"
	"github.com/gatehouse-dev/gatehouse/test/localtest"
	"github.com/gatehouse-dev/gatehouse/tokenserver/snapshot"
)

// StartLocal starts the whole of Gatehouse on loopback, as `make run` does, from
// this repository's checkout: its CRDs and samples, the control plane that
// hack/controlplane.sh builds (or $KUBEBUILDER_ASSETS), the gatehouse binary given.
// The token server trusts X-Forwarded-For from loopback, where the soak stands as the
// proxy of its simulated clients, so that attack protection counts each of them apart
// as it would behind an ingress. Stop the system when done.
func StartLocal(ctx context.Context, gatehouse string, tokenServerArgs []string, progress io.Writer) (*localtest.System, error) {
	assets, err := kubetest.AssetsDir()
	if err != nil {
		return nil, err
	}
	root := kubetest.RepoRoot()
	return localtest.Start(ctx, localtest.Options{
		Gatehouse:         gatehouse,
		AssetsDir:         assets,
		CRDDir:            filepath.Join(root, "config", "crd", "bases"),
		SamplesDir:        filepath.Join(root, "config", "samples"),
		OperatorNamespace: snapshot.DefaultNamespace,
		SamplesNamespace:  "default",
		ReadyTimeout:      2 * time.Minute,
		TokenServerArgs:   append([]string{"--trusted-proxies=127.0.0.1,::1"}, tokenServerArgs...),
		Out:               progress,
	})
}

// TargetOf is the sample tenant of sys, with the sample user's password grant.
func TargetOf(sys *localtest.System) Target {
	return Target{
		TokenURL:      sys.Credentials.TokenURL,
		PasswordGrant: sys.PasswordGrant(),
		MetricsURL:    sys.MetricsURL,
	}
}
