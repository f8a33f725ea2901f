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

package systemtest

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/crypto/bcrypt"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	identityv1alpha1 "github.com/gatehouse-dev/gatehouse/api/v1alpha1"
	"github.com/gatehouse-dev/gatehouse/test/kubetest"
	"github.com/gatehouse-dev/gatehouse/test/proctest"
	"github.com/gatehouse-dev/gatehouse/tokenserver/snapshot"
	"github.com/gatehouse-dev/gatehouse/tokenserver/tokenclient"
)

// LocalOptions say what StartLocal runs and where it serves. The control plane is
// $KUBEBUILDER_ASSETS, else the one hack/controlplane.sh builds, with this repository's
// CRDs.
type LocalOptions struct {
	// Gatehouse is the binary started as the controller and the token server.
	Gatehouse string
	// SamplesDir is the kustomization of the samples, such as SamplesDir().
	SamplesDir string
	// OperatorNamespace runs the controller and token server; SamplesNamespace gets the samples.
	OperatorNamespace, SamplesNamespace string
	// Port of the token server on 127.0.0.1; 0 picks a free one.
	Port int
	// ReadyTimeout bounds the wait for the samples to become Ready.
	ReadyTimeout time.Duration
	// TokenServerArgs are extra flags of the token server.
	TokenServerArgs []string
	// Out shows progress and, at the end, the curl to paste.
	Out io.Writer
}

// RunLocal is `make run`: it starts everything, prints how to get a token and serves
// until ctx is done; then it stops the children and the control plane and removes its
// temporary files.
func RunLocal(ctx context.Context, o LocalOptions) (err error) {
	sys, err := StartLocal(ctx, o)
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			showLogs(o.Out, sys.LogDir)
		}
		err = errors.Join(err, sys.Stop())
	}()

	fmt.Fprintf(o.Out, "\nGatehouse is running.\n  token endpoint: %s\n  kubeconfig:     %s\n  logs:           %s\n\n",
		sys.Credentials.TokenURL, sys.Kubeconfig, sys.LogDir)
	fmt.Fprintf(o.Out, "Get a token for the sample user %s:\n\n%s\n\nPress Ctrl-C to stop.\n",
		sys.SampleUser, curlCommand(sys.Credentials.TokenURL, sys.PasswordGrant()))

	select {
	case <-ctx.Done():
		fmt.Fprintln(o.Out)
		return nil
	case err := <-sys.Exited():
		return err
	}
}

// LocalSystem is a running Gatehouse that StartLocal returned: what a client needs to
// get tokens from it, and where to watch the token server.
type LocalSystem struct {
	// Credentials are the sample Client's, with the sample tenant's token URL.
	Credentials tokenclient.Credentials
	// SampleUser and SamplePassword log in through the sample tenant's default directory.
	SampleUser, SamplePassword string
	// Audience and Scope are what the printed curl asks for: the sample API's identifier,
	// and the OpenID scopes with the API's scopes.
	Audience, Scope string
	// MetricsURL is the token server's Prometheus endpoint.
	MetricsURL string
	// Kubeconfig reaches the API server as an administrator; LogDir holds the children's logs.
	Kubeconfig, LogDir string

	exited <-chan error
	// cleanups undo StartLocal's steps; Stop runs them last first.
	cleanups []func() error
}

// Exited reports a child (the controller or the token server) that exits before Stop.
func (s *LocalSystem) Exited() <-chan error {
	return s.exited
}

// Stop stops the children and the control plane and removes the temporary files.
func (s *LocalSystem) Stop() error {
	var err error
	for i := len(s.cleanups) - 1; i >= 0; i-- {
		err = errors.Join(err, s.cleanups[i]())
	}
	s.cleanups = nil
	return err
}

// PasswordGrant is the body of a password grant of the sample user with the sample
// Client: the one the printed curl sends.
func (s *LocalSystem) PasswordGrant() map[string]string {
	body := map[string]string{
		"grant_type":    "password",
		"username":      s.SampleUser,
		"password":      s.SamplePassword,
		"client_id":     s.Credentials.ClientID,
		"client_secret": s.Credentials.ClientSecret,
		"scope":         s.Scope,
	}
	if s.Audience != "" {
		body["audience"] = s.Audience
	}
	return body
}

// StartLocal starts the control plane (kube-apiserver, etcd and kube-controller-manager,
// so that deletion behaves as in a cluster), the controller and the token server as an
// administrator, applies the samples with a fresh password for the sample user, and
// returns once the token server serves the sample tenant. Stop undoes it.
func StartLocal(ctx context.Context, o LocalOptions) (_ *LocalSystem, err error) {
	s := &LocalSystem{}
	defer func() {
		if err == nil {
			return
		}
		if s.LogDir != "" {
			showLogs(o.Out, s.LogDir)
		}
		err = errors.Join(err, s.Stop())
	}()
	if s.LogDir, err = os.MkdirTemp("", "gatehouse-local-"); err != nil {
		return nil, err
	}
	s.cleanups = append(s.cleanups, func() error { return os.RemoveAll(s.LogDir) })

	c, err := s.startControlPlane(o.Out)
	if err != nil {
		return nil, err
	}
	for _, ns := range []string{o.OperatorNamespace, o.SamplesNamespace} {
		if err := ensureNamespace(ctx, c, ns); err != nil {
			return nil, err
		}
	}
	addr, err := tokenServerAddress(ctx, o.Out, o.Port)
	if err != nil {
		return nil, err
	}
	metricsAddr, err := proctest.FreeAddress()
	if err != nil {
		return nil, err
	}
	s.MetricsURL = "http://" + metricsAddr + "/metrics"

	step(o.Out, "Starting the controller and the token server")
	children := &localChildren{binary: o.Gatehouse, kubeconfig: s.Kubeconfig, logDir: s.LogDir, exited: make(chan error, 2)}
	s.exited = children.exited
	s.cleanups = append(s.cleanups, func() error {
		step(o.Out, "Stopping the controller and the token server")
		return children.stop()
	})
	if err := children.start(controllerArgs(o.OperatorNamespace, "http://"+addr, "0")...); err != nil {
		return nil, err
	}
	if err := children.start(append(tokenServerArgs(o.OperatorNamespace, addr, metricsAddr), o.TokenServerArgs...)...); err != nil {
		return nil, err
	}

	samples, err := s.applySamples(ctx, c, o)
	if err != nil {
		return nil, err
	}
	step(o.Out, "Waiting for the Tenant and the Client to become Ready")
	readyCtx, cancel := context.WithTimeout(ctx, o.ReadyTimeout)
	defer cancel()
	if s.Credentials, err = waitForCredentials(readyCtx, c, samples, children.exited); err != nil {
		return nil, err
	}
	step(o.Out, "Waiting for the token server to serve the tenant")
	if err := waitForDiscovery(readyCtx, s.Credentials.TokenURL, children.exited); err != nil {
		return nil, err
	}
	return s, nil
}

// startControlPlane starts kube-apiserver, etcd and kube-controller-manager with the
// CRDs installed, writes an administrator's kubeconfig, for the children and for the
// person trying Gatehouse out with kubectl, and returns the administrator's client.
func (s *LocalSystem) startControlPlane(out io.Writer) (client.Client, error) {
	assets, err := kubetest.AssetsDir()
	if err != nil {
		return nil, err
	}
	step(out, "Starting kube-apiserver, etcd and kube-controller-manager from %s", assets)
	env, err := kubetest.Start(kubetest.WithScheme(identityv1alpha1.NewScheme()), kubetest.WithControllerManager())
	if err != nil {
		return nil, fmt.Errorf("starting the control plane: %w", err)
	}
	s.cleanups = append(s.cleanups, func() error {
		step(out, "Stopping the control plane")
		return env.Stop()
	})
	step(out, "CRDs installed")
	kubeconfig, err := env.KubeConfig()
	if err != nil {
		return nil, err
	}
	s.Kubeconfig = filepath.Join(s.LogDir, "kubeconfig")
	if err := os.WriteFile(s.Kubeconfig, kubeconfig, 0o600); err != nil {
		return nil, err
	}
	return env.Client, nil
}

// applySamples creates the samples in the samples namespace with a fresh password for
// the sample user, at the cost people would hash theirs with.
func (s *LocalSystem) applySamples(ctx context.Context, c client.Client, o LocalOptions) (*Samples, error) {
	step(o.Out, "Applying %s to namespace %s with a fresh password for the sample user", o.SamplesDir, o.SamplesNamespace)
	samples, err := ReadSamples(o.SamplesDir, o.SamplesNamespace)
	if err != nil {
		return nil, err
	}
	s.SamplePassword = rand.Text()
	if err := samples.SetPassword(s.SamplePassword, bcrypt.DefaultCost); err != nil {
		return nil, err
	}
	s.SampleUser, s.Audience, s.Scope = samples.User, samples.Audience(), samples.Scope()
	for _, obj := range samples.Objects {
		if err := c.Create(ctx, obj); err != nil {
			return nil, fmt.Errorf("applying %T %s: %w", obj, obj.GetName(), err)
		}
	}
	return samples, nil
}

// tokenServerAddress is 127.0.0.1:port when nothing listens there, else (or when port
// is 0) a free port of 127.0.0.1.
func tokenServerAddress(ctx context.Context, out io.Writer, port int) (string, error) {
	if port != 0 {
		addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
		l, err := (&net.ListenConfig{}).Listen(ctx, "tcp", addr)
		if err == nil {
			return addr, l.Close()
		}
		step(out, "Port %d is taken; the token server will use a free port", port)
	}
	addr, err := proctest.FreeAddress()
	if err != nil {
		return "", fmt.Errorf("reserving the token server's port: %w", err)
	}
	return addr, nil
}

// showLogs prints the end of each child's log: RunLocal removes them when it returns.
func showLogs(out io.Writer, dir string) {
	logs, _ := filepath.Glob(filepath.Join(dir, "*.log"))
	for _, name := range logs {
		data, err := os.ReadFile(name) //nolint:gosec // a log StartLocal wrote
		if err != nil {
			continue
		}
		lines := strings.Split(strings.TrimSpace(string(data)), "\n")
		fmt.Fprintf(out, "--- last lines of %s\n%s\n", filepath.Base(name), strings.Join(lines[max(0, len(lines)-20):], "\n"))
	}
}

func step(out io.Writer, format string, args ...any) {
	fmt.Fprintf(out, "==> "+format+"\n", args...)
}

func ensureNamespace(ctx context.Context, c client.Client, name string) error {
	err := c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}})
	if apierrors.IsAlreadyExists(err) {
		return nil
	}
	return err
}

// localStopTimeout bounds the children's clean stop, the token server's shutdown
// timeout included.
const localStopTimeout = 30 * time.Second

// localChildren are the controller and the token server of StartLocal, each logging to
// a file of logDir named after its subcommand. exited reports each child that exits.
type localChildren struct {
	binary, kubeconfig, logDir string
	procs                      []*proctest.Process
	exited                     chan error
}

func (c *localChildren) start(args ...string) error {
	logFile, err := os.Create(filepath.Join(c.logDir, args[0]+".log"))
	if err != nil {
		return err
	}
	proc, err := startGatehouse(c.binary, c.kubeconfig, logFile, args...)
	if err != nil {
		_ = logFile.Close()
		return err
	}
	c.procs = append(c.procs, proc)
	go func() {
		err := proc.Wait()
		if err == nil {
			err = errors.New("exit status 0")
		}
		_ = logFile.Close()
		c.exited <- fmt.Errorf("gatehouse %s exited: %w", args[0], err)
	}()
	return nil
}

// stop stops every child at once with SIGTERM, and kills those still running after
// localStopTimeout.
func (c *localChildren) stop() error {
	var (
		wg     sync.WaitGroup
		killed sync.Once
		err    error
	)
	for _, proc := range c.procs {
		wg.Go(func() {
			if clean, _ := proc.Stop(localStopTimeout); !clean {
				killed.Do(func() {
					err = fmt.Errorf("the controller and the token server did not stop within %v; killed them", localStopTimeout)
				})
			}
		})
	}
	wg.Wait()
	return err
}

// waitForCredentials waits until the sample Tenant and Client are Ready and returns the
// Client's credentials.
func waitForCredentials(ctx context.Context, c client.Client, s *Samples, exited <-chan error) (tokenclient.Credentials, error) {
	var creds tokenclient.Credentials
	err := poll(ctx, exited, func() (bool, error) {
		tenant, cl := &identityv1alpha1.Tenant{}, &identityv1alpha1.Client{}
		if err := c.Get(ctx, client.ObjectKeyFromObject(s.Tenant), tenant); err != nil {
			return false, err
		}
		if err := c.Get(ctx, client.ObjectKeyFromObject(s.Client), cl); err != nil {
			return false, err
		}
		if !meta.IsStatusConditionTrue(tenant.Status.Conditions, identityv1alpha1.ConditionReady) ||
			!meta.IsStatusConditionTrue(cl.Status.Conditions, identityv1alpha1.ConditionReady) ||
			cl.Status.CredentialsSecretName == "" {
			return false, nil
		}
		secret := &corev1.Secret{}
		if err := c.Get(ctx, client.ObjectKey{Namespace: cl.Namespace, Name: cl.Status.CredentialsSecretName}, secret); err != nil {
			return false, client.IgnoreNotFound(err)
		}
		creds = tokenclient.Credentials{
			ClientID:     string(secret.Data[tokenclient.FileClientID]),
			ClientSecret: string(secret.Data[tokenclient.FileClientSecret]),
			TokenURL:     string(secret.Data[tokenclient.FileTokenURL]),
		}
		return creds.TokenURL != "", nil
	})
	if err != nil {
		return creds, fmt.Errorf("waiting for Tenant %s and Client %s to become Ready: %w", s.Tenant.Name, s.Client.Name, err)
	}
	return creds, nil
}

// waitForDiscovery waits until the token server serves the tenant of tokenURL.
func waitForDiscovery(ctx context.Context, tokenURL string, exited <-chan error) error {
	discovery := snapshot.DiscoveryURL(strings.TrimSuffix(tokenURL, snapshot.PathToken))
	httpClient := &http.Client{Timeout: 5 * time.Second}
	return poll(ctx, exited, func() (bool, error) {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, discovery, nil)
		if err != nil {
			return false, err
		}
		resp, err := httpClient.Do(req)
		if err != nil {
			return false, nil //nolint:nilerr // not listening yet
		}
		_ = resp.Body.Close()
		return resp.StatusCode == http.StatusOK, nil
	})
}

// poll calls done until it reports true, fails, a child exits or ctx ends.
func poll(ctx context.Context, exited <-chan error, done func() (bool, error)) error {
	ticker := time.NewTicker(250 * time.Millisecond)
	defer ticker.Stop()
	for {
		ok, err := done()
		if ok || err != nil {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case err := <-exited:
			return err
		case <-ticker.C:
		}
	}
}

// curlCommand is the command printed for people to paste: body posted to tokenURL as
// JSON, in single quotes for any POSIX shell.
func curlCommand(tokenURL string, body map[string]string) string {
	data, err := json.Marshal(body)
	if err != nil {
		panic(err) // a map of strings always marshals
	}
	return fmt.Sprintf("curl -s -X POST %s -H 'Content-Type: application/json' -d %s",
		shellQuote(tokenURL), shellQuote(string(data)))
}

func shellQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
