package kubestore_test

import (
	"fmt"
	"sync/atomic"
	"testing"

	"k8s.io/client-go/rest"

	"github.com/gatehouse-dev/gatehouse/test/kubetest"
	"github.com/gatehouse-dev/gatehouse/tokenserver/refresh"
	"github.com/gatehouse-dev/gatehouse/tokenserver/refresh/kubestore"
	"github.com/gatehouse-dev/gatehouse/tokenserver/refresh/refreshtest"
	"github.com/gatehouse-dev/gatehouse/tokenserver/tokentest"
)

var env *kubetest.Env

func TestMain(m *testing.M) {
	kubetest.Main(m, &env)
}

var namespaces atomic.Int32

// tokenServerConfig creates a namespace and returns a config with the token server's
// rights there and nowhere else.
func tokenServerConfig(t testing.TB) (*rest.Config, string) {
	t.Helper()
	namespace := fmt.Sprintf("gatehouse-system-%d", namespaces.Add(1))
	return tokentest.TokenServerConfig(t, env.Client, env.Config, namespace), namespace
}

func open(t *testing.T) *kubestore.Store {
	t.Helper()
	cfg, namespace := tokenServerConfig(t)
	s, err := kubestore.New(cfg, kubestore.Options{Namespace: namespace, PageSize: refreshtest.PageSize})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestConformance(t *testing.T) {
	refreshtest.Run(t, func(t *testing.T) refresh.Store { return open(t) })
}

// TestAPIServerDown: while the API server is away, refreshes are ErrUnavailable (the
// grant's 503) and nothing hangs; once it is back, the same token refreshes.
func TestAPIServerDown(t *testing.T) {
	refreshtest.Outage(t, open(t), 2*kubestore.DefaultTimeout, env.StopAPIServer, env.StartAPIServer)
}
