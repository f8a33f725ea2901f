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
	"time"

	"github.com/gatehouse-dev/gatehouse/test/systemtest"
)

// StartLocal starts the whole of Gatehouse on loopback, as `make run` does, from
// this repository's checkout: its CRDs and samples, the control plane that
// hack/controlplane.sh builds (or $KUBEBUILDER_ASSETS), the gatehouse binary given.
// The token server trusts X-Forwarded-For from loopback, where the soak stands as the
// proxy of its simulated clients, so that attack protection counts each of them apart
// as it would behind an ingress. Stop the system when done.
func StartLocal(ctx context.Context, gatehouse string, tokenServerArgs []string, progress io.Writer) (*systemtest.LocalSystem, error) {
	return systemtest.StartLocal(ctx, systemtest.LocalOptions{
		Gatehouse:         gatehouse,
		SamplesDir:        systemtest.SamplesDir(),
		OperatorNamespace: systemtest.OperatorNamespace,
		SamplesNamespace:  "default",
		ReadyTimeout:      2 * time.Minute,
		TokenServerArgs:   append([]string{"--trusted-proxies=127.0.0.1,::1"}, tokenServerArgs...),
		Out:               progress,
	})
}

// TargetOf is the sample tenant of sys, with the sample user's password grant.
func TargetOf(sys *systemtest.LocalSystem) Target {
	return Target{
		TokenURL:      sys.Credentials.TokenURL,
		PasswordGrant: sys.PasswordGrant(),
		MetricsURL:    sys.MetricsURL,
	}
}
