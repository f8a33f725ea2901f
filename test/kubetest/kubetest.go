// Package kubetest starts a real kube-apiserver and etcd (controller-runtime's envtest)
// with Gatehouse's CRDs installed, for the tests of every package that talks to
// Kubernetes, and, for the tests that need its controllers, kube-controller-manager. The
// binaries, and the kubectl that tests run as users do, are the ones hack/controlplane.sh
// builds into bin/.
//
// It knows Gatehouse's CRDs only as YAML and its kinds only through WithScheme, so that
// the token server's tests, which use it too, never link the api package.
package kubetest

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	k8sruntime "k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	"github.com/gatehouse-dev/gatehouse/test/proctest"
)

// Env is a running API server with the CRDs installed.
type Env struct {
	// Config reaches the API server as an administrator.
	Config *rest.Config
	// Client is a client for Config that knows the kinds of Scheme.
	Client client.Client
	// Scheme holds the kinds Client knows: Kubernetes' built-in ones unless Start was
	// given WithScheme.
	Scheme *k8sruntime.Scheme

	env     *envtest.Environment
	certDir string
	// controllerManager runs when Start was given WithControllerManager.
	controllerManager *proctest.Process
}

// Option configures Start.
type Option func(*options)

type options struct {
	controllerManager bool
	scheme            *k8sruntime.Scheme
}

// WithScheme makes Env.Client know the kinds of s, such as Gatehouse's
// (identityv1alpha1.NewScheme).
func WithScheme(s *k8sruntime.Scheme) Option {
	return func(o *options) { o.scheme = s }
}

// WithControllerManager also runs kube-controller-manager, with the controllers a
// cluster would run for what the tests exercise: ClusterRole aggregation (the built-in
// edit, admin and view roles), garbage collection of owned objects, namespace deletion
// and ServiceAccount token Secrets. Start returns once it has aggregated the built-in
// roles.
func WithControllerManager() Option {
	return func(o *options) { o.controllerManager = true }
}

// RepoRoot is the root of the repository, found from this file's location.
func RepoRoot() string {
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		panic("kubetest: cannot locate the repository")
	}
	return filepath.Join(filepath.Dir(file), "..", "..")
}

// AssetsDir is the directory holding kube-apiserver, etcd, kube-controller-manager and
// kubectl: KUBEBUILDER_ASSETS when set, else the directory hack/controlplane.sh builds
// into.
func AssetsDir() (string, error) {
	if dir := os.Getenv("KUBEBUILDER_ASSETS"); dir != "" {
		return dir, nil
	}
	out, err := exec.CommandContext(context.Background(), filepath.Join(RepoRoot(), "hack", "controlplane.sh"), "path").Output() //nolint:gosec // a fixed script of this repository
	if err != nil {
		return "", fmt.Errorf("locating the control plane binaries: %w", err)
	}
	return strings.TrimSpace(string(out)), nil
}

// Kubectl is the path of the kubectl built from the same pinned release as the API
// server, for the tests that run kubectl as a user would.
func Kubectl() (string, error) {
	assets, err := AssetsDir()
	if err != nil {
		return "", err
	}
	return binary(assets, "kubectl")
}

// binary is the path of the control plane's binary name in assets, which must exist.
func binary(assets, name string) (string, error) {
	path := filepath.Join(assets, name)
	if _, err := os.Stat(path); err != nil {
		return "", fmt.Errorf("%s is missing from %s: run `make envtest` to build the control plane", name, assets)
	}
	return path, nil
}

// Start starts an API server and etcd and installs the CRDs of config/crd/bases. The
// binaries must exist: `make envtest` builds them. Call Stop when done.
func Start(opts ...Option) (*Env, error) {
	o := options{scheme: clientgoscheme.Scheme}
	for _, opt := range opts {
		opt(&o)
	}
	assets, err := AssetsDir()
	if err != nil {
		return nil, err
	}
	binaries := []string{"kube-apiserver", "etcd"}
	if o.controllerManager {
		binaries = append(binaries, controllerManagerBinary)
	}
	for _, bin := range binaries {
		if _, err := binary(assets, bin); err != nil {
			return nil, err
		}
	}
	// The API server's certificates live in a directory of ours, not one envtest makes
	// and removes at every stop, so that StartAPIServer serves the same certificate and
	// clients configured before a restart still trust it.
	certDir, err := os.MkdirTemp("", "gatehouse-apiserver-")
	if err != nil {
		return nil, err
	}
	scheme := o.scheme
	env := &envtest.Environment{
		ControlPlane:          envtest.ControlPlane{APIServer: &envtest.APIServer{CertDir: certDir}},
		BinaryAssetsDirectory: assets,
		CRDDirectoryPaths:     []string{filepath.Join(RepoRoot(), "config", "crd", "bases")},
		ErrorIfCRDPathMissing: true,
		Scheme:                scheme,
	}
	// Without a bound, a stopping API server waits for its clients' watches to end,
	// which they do not while the processes under test run.
	env.ControlPlane.APIServer.Configure().Set("shutdown-watch-termination-grace-period", "1s")
	cfg, err := env.Start()
	if err != nil {
		_ = os.RemoveAll(certDir)
		return nil, fmt.Errorf("starting the API server: %w", err)
	}
	e := &Env{Config: cfg, Scheme: scheme, env: env, certDir: certDir}
	if e.Client, err = client.New(cfg, client.Options{Scheme: scheme}); err != nil {
		_ = e.Stop()
		return nil, err
	}
	if o.controllerManager {
		if err := e.startControllerManager(filepath.Join(assets, controllerManagerBinary)); err != nil {
			_ = e.Stop()
			return nil, err
		}
	}
	return e, nil
}

// Stop stops kube-controller-manager if it runs, the API server and etcd.
func (e *Env) Stop() error {
	defer os.RemoveAll(e.certDir) //nolint:errcheck // a temporary directory
	if e.controllerManager != nil {
		// It exits on SIGTERM, or is killed after the grace period; either way it is gone.
		_, _ = e.controllerManager.Stop(10 * time.Second)
	}
	return e.env.Stop()
}

// StopAPIServer stops the API server alone; etcd, and so every object, stays.
func (e *Env) StopAPIServer() error {
	return e.env.ControlPlane.APIServer.Stop()
}

// StartAPIServer starts the API server again after StopAPIServer, on the same address
// and with the same certificates and users, and waits until it is healthy.
// kube-controller-manager, when it runs, must have waited out the API server's absence,
// as it does in a cluster: an error says it exited instead.
func (e *Env) StartAPIServer() error {
	if err := e.env.ControlPlane.APIServer.Start(); err != nil {
		return err
	}
	if e.controllerManager != nil {
		select {
		case <-e.controllerManager.Exited():
			return fmt.Errorf("kube-controller-manager exited while the API server was down:\n%s", e.controllerManager.Output())
		default:
		}
	}
	return nil
}

// KubeConfig returns a kubeconfig of an administrator of the API server, for command-line
// tools such as kubectl.
func (e *Env) KubeConfig() ([]byte, error) {
	user, err := e.env.ControlPlane.AddUser(envtest.User{Name: "gatehouse-admin", Groups: []string{"system:masters"}}, nil)
	if err != nil {
		return nil, err
	}
	return user.KubeConfig()
}

// WriteKubeConfig writes to path a kubeconfig that reaches the API server as user in
// groups (by impersonation), such as a ServiceAccount, so that a process started with it
// has exactly the permissions that user has in a cluster.
func (e *Env) WriteKubeConfig(path, user string, groups []string) error {
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters["envtest"] = &clientcmdapi.Cluster{Server: e.Config.Host, CertificateAuthorityData: e.Config.CAData}
	cfg.AuthInfos["envtest"] = &clientcmdapi.AuthInfo{
		ClientCertificateData: e.Config.CertData, ClientKeyData: e.Config.KeyData, Token: e.Config.BearerToken,
		Impersonate: user, ImpersonateGroups: groups,
	}
	cfg.Contexts["envtest"] = &clientcmdapi.Context{Cluster: "envtest", AuthInfo: "envtest"}
	cfg.CurrentContext = "envtest"
	return clientcmd.WriteToFile(*cfg, path)
}

// Main runs a package's tests against one API server, for a TestMain: it starts the
// server, stores it in *env, runs the tests, stops the server and exits with the tests'
// result.
func Main(m *testing.M, env **Env, opts ...Option) {
	e, err := Start(opts...)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	*env = e
	code := m.Run()
	if err := e.Stop(); err != nil {
		fmt.Fprintln(os.Stderr, "stopping the API server:", err)
	}
	os.Exit(code)
}

// Eventually calls check every interval until it succeeds, and fails the test when it
// has not within timeout.
func Eventually(t testing.TB, timeout, interval time.Duration, what string, check func() error) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		err := check()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting until %s: %v", what, err)
		}
		time.Sleep(interval)
	}
}
