// Package systemtest runs Gatehouse as it runs in a cluster: the gatehouse binary's
// controller and token server as child processes against a control plane of
// kube-apiserver, etcd and kube-controller-manager (test/kubetest).
//
// It runs it in two ways. System is for the tests of the whole system (test/e2e,
// test/faults, test/hostile): each process has the credentials of its own ServiceAccount
// and the RBAC the project ships, and the tests start and stop processes as they need.
// StartLocal is `make run` (hack/local) and the soak (hack/soak): one controller and one
// token server as an administrator, the samples applied, until it is stopped. Both share
// the object helpers of Cluster, the samples and the OAuth 2.0 calls of the tests.
package systemtest

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	identityv1alpha1 "github.com/gatehouse-dev/gatehouse/api/v1alpha1"
	"github.com/gatehouse-dev/gatehouse/test/kubetest"
	"github.com/gatehouse-dev/gatehouse/test/proctest"
	"github.com/gatehouse-dev/gatehouse/tokenserver/snapshot"
	"github.com/gatehouse-dev/gatehouse/tokenserver/tokentest"
)

// OperatorNamespace is where the controller writes keys and snapshots, and where both
// ServiceAccounts live.
const OperatorNamespace = snapshot.DefaultNamespace

// ServiceAccounts of the controller and the token server, as config/rbac names them.
const (
	controllerServiceAccount  = "gatehouse-controller"
	tokenServerServiceAccount = "gatehouse-tokenserver"
)

// System is a running API server with the RBAC Gatehouse ships, and the built binary.
type System struct {
	Env *kubetest.Env
	// Cluster's Client is the administrator's, or a namespace user's in a System that As
	// returns.
	Cluster
	binary string
}

// Main is a TestMain: it builds the gatehouse binary, starts an API server (with opts),
// installs the controller's and the token server's ServiceAccounts and RBAC and the
// ClusterRoles for namespace users, stores the System in *sys, runs the tests and exits
// with their result.
func Main(m *testing.M, sys **System, opts ...kubetest.Option) {
	code, err := run(m, sys, opts...)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	os.Exit(code)
}

func run(m *testing.M, sys **System, opts ...kubetest.Option) (int, error) {
	dir, err := os.MkdirTemp("", "gatehouse-systemtest-")
	if err != nil {
		return 0, err
	}
	defer os.RemoveAll(dir)
	binary, err := BuildGatehouse(dir)
	if err != nil {
		return 0, err
	}
	env, err := kubetest.Start(append([]kubetest.Option{kubetest.WithScheme(identityv1alpha1.NewScheme())}, opts...)...)
	if err != nil {
		return 0, err
	}
	defer env.Stop() //nolint:errcheck // best effort at exit
	s := &System{Env: env, Cluster: Cluster{Client: env.Client}, binary: binary}
	if err := s.installRBAC(); err != nil {
		return 0, err
	}
	*sys = s
	return m.Run(), nil
}

// BuildGatehouse builds this repository's gatehouse binary into dir and returns its path.
func BuildGatehouse(dir string) (string, error) {
	binary := filepath.Join(dir, "gatehouse")
	build := exec.CommandContext(context.Background(), "go", "build", "-o", binary, "./cmd/gatehouse") //nolint:gosec // builds this repository into the caller's directory
	build.Dir = kubetest.RepoRoot()
	if out, err := build.CombinedOutput(); err != nil {
		return "", fmt.Errorf("building gatehouse: %w\n%s", err, out)
	}
	return binary, nil
}

// installRBAC creates the operator's namespace and the ServiceAccounts, Roles and
// bindings the project ships: config/rbac for the controller and for namespace users,
// config/tokenserver for the token server.
func (s *System) installRBAC() error {
	objs := []client.Object{&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: OperatorNamespace}}}
	for _, file := range []string{"rbac/service_account.yaml", "rbac/role.yaml", "rbac/role_binding.yaml", "rbac/aggregated_roles.yaml", "tokenserver/tokenserver.yaml"} {
		m, err := kubetest.ReadManifests(filepath.Join(kubetest.RepoRoot(), "config", file))
		if err != nil {
			return err
		}
		for _, o := range m {
			switch o.GetKind() {
			case "ServiceAccount", "ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding":
				objs = append(objs, o)
			}
		}
	}
	for _, o := range objs {
		if err := s.Env.Client.Create(context.Background(), o); err != nil {
			return fmt.Errorf("creating %s %s: %w", o.GetObjectKind().GroupVersionKind().Kind, o.GetName(), err)
		}
	}
	return nil
}

// As is the System acting as user, impersonated in no group but system:authenticated,
// as a namespace user of a cluster is: its object helpers create, read and update with
// that user's rights only.
func (s *System) As(t testing.TB, user string) *System {
	t.Helper()
	cfg := rest.CopyConfig(s.Env.Config)
	cfg.Impersonate = rest.ImpersonationConfig{UserName: user}
	c, err := client.New(cfg, client.Options{Scheme: s.Env.Scheme})
	if err != nil {
		t.Fatal(err)
	}
	as := *s
	as.Client = c
	return &as
}

// Process is a gatehouse subcommand running as a child process.
type Process struct {
	name   string
	proc   *proctest.Process
	killed bool // or stopped: the cleanup has nothing to stop
}

// TokenServer is a running `gatehouse tokenserver`.
type TokenServer struct {
	*Process
	// URL is the base URL of the tenants; MetricsURL serves /metrics.
	URL, MetricsURL string
	// addr and metricsAddr are the addresses of URL and MetricsURL.
	addr, metricsAddr string
}

// StartGatehouse starts a token server and a controller that names it as the issuers'
// base URL.
func (s *System) StartGatehouse(t testing.TB) (*Process, *TokenServer) {
	ts := s.StartTokenServer(t)
	return s.StartController(t, ts.URL), ts
}

// StartTokenServer starts `gatehouse tokenserver` on free loopback ports.
func (s *System) StartTokenServer(t testing.TB) *TokenServer {
	return s.StartTokenServerAt(t, proctest.MustFreeAddress(t), proctest.MustFreeAddress(t))
}

// StartTokenServerAt starts `gatehouse tokenserver` serving tenants on addr and metrics
// on metricsAddr, with more flags (a later flag overrides an earlier one), so that a
// restarted replica keeps its addresses. It listens for peer replicas on a free
// loopback port unless flags say otherwise.
func (s *System) StartTokenServerAt(t testing.TB, addr, metricsAddr string, flags ...string) *TokenServer {
	p := s.start(t, tokenServerServiceAccount, append(tokenServerArgs(OperatorNamespace, addr, metricsAddr), flags...)...)
	return &TokenServer{Process: p, URL: "http://" + addr, MetricsURL: "http://" + metricsAddr + "/metrics", addr: addr, metricsAddr: metricsAddr}
}

// WaitReady waits until the token server reports ready (it has loaded the snapshots
// and joined its peers), failing the test at once if it exits instead.
func (ts *TokenServer) WaitReady(t testing.TB) {
	t.Helper()
	Eventually(t, "gatehouse tokenserver is ready", func() error {
		select {
		case <-ts.proc.Exited():
			t.Fatalf("gatehouse tokenserver exited:\n%s", ts.Output())
		default:
		}
		resp, err := http.Get("http://" + ts.metricsAddr + "/readyz") //nolint:noctx // bounded by the server's answer on loopback
		if err != nil {
			return err
		}
		_ = resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("readyz: %s", resp.Status)
		}
		return nil
	})
}

// StartController starts `gatehouse controller` without leader election, so that
// several may run at once.
func (s *System) StartController(t testing.TB, tokenServerURL string) *Process {
	return s.start(t, controllerServiceAccount, controllerArgs(OperatorNamespace, tokenServerURL, proctest.MustFreeAddress(t))...)
}

// tokenServerArgs are the arguments of a token server of namespace serving tenants on
// addr and metrics on metricsAddr, listening for peer replicas on a free loopback port.
func tokenServerArgs(namespace, addr, metricsAddr string) []string {
	return []string{"tokenserver", "--namespace=" + namespace,
		"--bind-address=" + addr, "--metrics-bind-address=" + metricsAddr, "--peer-bind-address=127.0.0.1:0"}
}

// controllerArgs are the arguments of a controller of namespace that names
// tokenServerURL as the issuers' base URL, without leader election, so that several may
// run at once, and without metrics.
func controllerArgs(namespace, tokenServerURL, healthProbeAddr string) []string {
	return []string{"controller", "--namespace=" + namespace, "--token-server-url=" + tokenServerURL,
		"--leader-elect=false", "--metrics-bind-address=0", "--health-probe-bind-address=" + healthProbeAddr}
}

// startGatehouse starts binary with args and the kubeconfig file kubeconfig; its output
// goes to log, or is kept for Output when log is nil.
func startGatehouse(binary, kubeconfig string, log *os.File, args ...string) (*proctest.Process, error) {
	// Not a caller's context: the process is stopped with SIGTERM, to exit cleanly.
	cmd := exec.CommandContext(context.Background(), binary, args...) //nolint:gosec // the gatehouse binary, with the caller's arguments
	cmd.Env = append(os.Environ(), "KUBECONFIG="+kubeconfig)
	if log != nil {
		cmd.Stdout = log
	}
	proc, err := proctest.Start(cmd)
	if err != nil {
		return nil, fmt.Errorf("starting gatehouse %s: %w", args[0], err)
	}
	return proc, nil
}

// start runs the gatehouse binary as serviceAccount; at the end of the test it sends
// SIGTERM and expects a clean exit, unless the test killed it. Its output is shown when
// the test fails.
func (s *System) start(t testing.TB, serviceAccount string, args ...string) *Process {
	t.Helper()
	kubeconfig := filepath.Join(t.TempDir(), "kubeconfig")
	if err := s.Env.WriteKubeConfig(kubeconfig, tokentest.ServiceAccountUser(OperatorNamespace, serviceAccount),
		tokentest.ServiceAccountGroups(OperatorNamespace)); err != nil {
		t.Fatal(err)
	}
	proc, err := startGatehouse(s.binary, kubeconfig, nil, args...)
	if err != nil {
		t.Fatal(err)
	}
	p := &Process{name: args[0], proc: proc}
	t.Cleanup(func() {
		if !p.killed {
			_ = proc.Signal(syscall.SIGCONT) // in case the test paused it
			if clean, err := proc.Stop(30 * time.Second); err != nil || !clean {
				t.Errorf("gatehouse %s after SIGTERM: exit %v, within 30s: %v", p.name, err, clean)
			}
		}
		if t.Failed() {
			t.Logf("output of gatehouse %s:\n%s", p.name, proc.Output())
		}
	})
	return p
}

// Output is what the process has written so far: its JSON log lines.
func (p *Process) Output() string { return p.proc.Output() }

// Memory is the process's resident memory, now and at its peak so far.
func (p *Process) Memory(t testing.TB) proctest.Memory {
	t.Helper()
	m, ok := proctest.ReadMemory(p.proc.Pid())
	if !ok {
		t.Fatalf("gatehouse %s has exited; no memory to read", p.name)
	}
	return m
}

// CPU is the user and system time the process has used so far.
func (p *Process) CPU(t testing.TB) time.Duration {
	t.Helper()
	s, ok := proctest.ReadStat(p.proc.Pid())
	if !ok {
		t.Fatalf("gatehouse %s has exited; no CPU time to read", p.name)
	}
	return s.CPU
}

// Stop stops the process with SIGTERM and fails the test unless it exits cleanly in
// time, as a rolling update would.
func (p *Process) Stop(t testing.TB) {
	t.Helper()
	p.killed = true
	if clean, err := p.proc.Stop(30 * time.Second); err != nil || !clean {
		t.Fatalf("gatehouse %s after SIGTERM: exit %v, within 30s: %v", p.name, err, clean)
	}
}

// Kill kills the process with SIGKILL, as a crash would, and waits until it exited.
func (p *Process) Kill(t testing.TB) {
	t.Helper()
	p.killed = true
	p.signal(t, syscall.SIGKILL)
	<-p.proc.Exited()
}

// Pause stops the process (SIGSTOP) until Resume: it keeps its connections but does
// nothing.
func (p *Process) Pause(t testing.TB) { p.signal(t, syscall.SIGSTOP) }

// Resume continues a paused process.
func (p *Process) Resume(t testing.TB) { p.signal(t, syscall.SIGCONT) }

func (p *Process) signal(t testing.TB, sig syscall.Signal) {
	t.Helper()
	if err := p.proc.Signal(sig); err != nil {
		t.Fatalf("sending %v to gatehouse %s: %v", sig, p.name, err)
	}
}
