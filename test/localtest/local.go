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

// Package localtest runs the whole of Gatehouse on one machine for people trying it out: a
// kube-apiserver and etcd, the CRDs, the controller and the token server as child
// processes, and the samples with a fresh password for the sample user.
package localtest

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/crypto/bcrypt"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	k8sruntime "k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	"sigs.k8s.io/yaml"

	identityv1alpha1 "github.com/gatehouse-dev/gatehouse/api/v1alpha1"
	"github.com/gatehouse-dev/gatehouse/tokenserver/snapshot"
	"github.com/gatehouse-dev/gatehouse/tokenserver/tokenclient"
)

// Options say where the pieces are and where to serve.
type Options struct {
	// Gatehouse is the binary started as the controller and the token server.
	Gatehouse string
	// AssetsDir holds kube-apiserver and etcd.
	AssetsDir string
	// CRDDir and SamplesDir are config/crd/bases and config/samples.
	CRDDir, SamplesDir string
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

// Run starts everything, prints how to get a token and serves until ctx is done; then it
// stops the children and the control plane and removes its temporary files.
func Run(ctx context.Context, o Options) (err error) {
	sys, err := Start(ctx, o)
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

// System is a running Gatehouse that Start returned: what a client needs to get tokens
// from it, and where to watch the token server.
type System struct {
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
	// cleanups undo Start's steps; Stop runs them last first.
	cleanups []func() error
}

// Exited reports a child (the controller or the token server) that exits before Stop.
func (s *System) Exited() <-chan error {
	return s.exited
}

// Stop stops the children and the control plane and removes the temporary files.
func (s *System) Stop() error {
	var err error
	for i := len(s.cleanups) - 1; i >= 0; i-- {
		err = errors.Join(err, s.cleanups[i]())
	}
	s.cleanups = nil
	return err
}

// PasswordGrant is the body of a password grant of the sample user with the sample
// Client: the one the printed curl sends.
func (s *System) PasswordGrant() map[string]string {
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

// Start starts the control plane, the controller and the token server, applies the
// samples, and returns once the token server serves the sample tenant. Stop undoes it.
func Start(ctx context.Context, o Options) (_ *System, err error) {
	s := &System{}
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

	step(o.Out, "Starting kube-apiserver and etcd from %s", o.AssetsDir)
	scheme := identityv1alpha1.NewScheme()
	env := &envtest.Environment{
		BinaryAssetsDirectory: o.AssetsDir,
		CRDDirectoryPaths:     []string{o.CRDDir},
		ErrorIfCRDPathMissing: true,
		Scheme:                scheme,
	}
	cfg, err := env.Start()
	if err != nil {
		return nil, fmt.Errorf("starting the control plane: %w", err)
	}
	s.cleanups = append(s.cleanups, func() error {
		step(o.Out, "Stopping the control plane")
		return env.Stop()
	})
	step(o.Out, "CRDs installed")

	s.Kubeconfig = filepath.Join(s.LogDir, "kubeconfig")
	if err := writeKubeconfig(env, s.Kubeconfig); err != nil {
		return nil, err
	}
	c, err := client.New(cfg, client.Options{Scheme: scheme})
	if err != nil {
		return nil, err
	}
	for _, ns := range []string{o.OperatorNamespace, o.SamplesNamespace} {
		if err := ensureNamespace(ctx, c, ns); err != nil {
			return nil, err
		}
	}

	addr, err := freeAddress(ctx, o.Out, o.Port)
	if err != nil {
		return nil, err
	}
	metricsAddr, err := freeAddress(ctx, o.Out, 0)
	if err != nil {
		return nil, err
	}
	s.MetricsURL = "http://" + metricsAddr + "/metrics"

	children := &processGroup{dir: s.LogDir, env: append(os.Environ(), "KUBECONFIG="+s.Kubeconfig), exited: make(chan error, 2)}
	s.exited = children.exited
	s.cleanups = append(s.cleanups, func() error {
		step(o.Out, "Stopping the controller and the token server")
		return children.stop()
	})
	step(o.Out, "Starting the controller and the token server")
	if err := children.start(o.Gatehouse, "controller", "--namespace="+o.OperatorNamespace,
		"--leader-elect=false", "--token-server-url=http://"+addr,
		"--metrics-bind-address=0", "--health-probe-bind-address=0"); err != nil {
		return nil, err
	}
	if err := children.start(o.Gatehouse, append([]string{"tokenserver", "--namespace=" + o.OperatorNamespace,
		"--bind-address=" + addr, "--metrics-bind-address=" + metricsAddr, "--peer-bind-address=127.0.0.1:0"}, o.TokenServerArgs...)...); err != nil {
		return nil, err
	}

	step(o.Out, "Applying %s to namespace %s with a fresh password for the sample user", o.SamplesDir, o.SamplesNamespace)
	samples, err := readSamples(scheme, o.SamplesDir, o.SamplesNamespace)
	if err != nil {
		return nil, err
	}
	if s.SamplePassword, err = samples.setSamplePassword(); err != nil {
		return nil, err
	}
	s.SampleUser, s.Audience, s.Scope = samples.sampleUser, samples.audience(), samples.scope()
	for _, obj := range samples.objects {
		if err := c.Create(ctx, obj); err != nil {
			return nil, fmt.Errorf("applying %s %s: %w", obj.GetObjectKind().GroupVersionKind().Kind, obj.GetName(), err)
		}
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

// freeAddress returns 127.0.0.1:port, or a free port of 127.0.0.1 when port is taken.
func freeAddress(ctx context.Context, out io.Writer, port int) (string, error) {
	var lc net.ListenConfig
	listener, err := lc.Listen(ctx, "tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
	if err != nil && port != 0 {
		step(out, "Port %d is taken; the token server will use a free port", port)
		listener, err = lc.Listen(ctx, "tcp", "127.0.0.1:0")
	}
	if err != nil {
		return "", fmt.Errorf("reserving the token server's port: %w", err)
	}
	addr := listener.Addr().String()
	return addr, listener.Close()
}

// showLogs prints the end of each child's log: Run removes them when it returns.
func showLogs(out io.Writer, dir string) {
	logs, _ := filepath.Glob(filepath.Join(dir, "*.log"))
	for _, name := range logs {
		data, err := os.ReadFile(name) //nolint:gosec // a log Run wrote
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

// writeKubeconfig writes an administrator's kubeconfig, for the children and for the
// person trying Gatehouse out with kubectl.
func writeKubeconfig(env *envtest.Environment, path string) error {
	user, err := env.ControlPlane.AddUser(envtest.User{Name: "gatehouse-local", Groups: []string{"system:masters"}}, nil)
	if err != nil {
		return err
	}
	data, err := user.KubeConfig()
	if err != nil {
		return err
	}
	return os.WriteFile(path, data, 0o600)
}

func ensureNamespace(ctx context.Context, c client.Client, name string) error {
	err := c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}})
	if apierrors.IsAlreadyExists(err) {
		return nil
	}
	return err
}

// processGroup runs the children, each in its own process group so that stopping them
// also stops anything they start. exited reports each child that exits.
type processGroup struct {
	dir    string
	env    []string
	pids   []int
	done   []chan struct{}
	exited chan error
}

func (g *processGroup) start(binary string, args ...string) error {
	logFile, err := os.Create(filepath.Join(g.dir, args[0]+".log"))
	if err != nil {
		return err
	}
	cmd := exec.Command(binary, args...) //nolint:gosec,noctx // our own binary, stopped by stop rather than a context
	cmd.Env = g.env
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		_ = logFile.Close()
		return fmt.Errorf("starting gatehouse %s: %w", args[0], err)
	}
	done := make(chan struct{})
	g.pids, g.done = append(g.pids, cmd.Process.Pid), append(g.done, done)
	go func() {
		err := cmd.Wait()
		if err == nil {
			err = errors.New("exit status 0")
		}
		_ = logFile.Close()
		close(done)
		g.exited <- fmt.Errorf("gatehouse %s exited: %w", args[0], err)
	}()
	return nil
}

// stop sends SIGTERM to every child's process group, and SIGKILL to those still running
// after the token server's shutdown timeout.
func (g *processGroup) stop() error {
	for _, pid := range g.pids {
		_ = syscall.Kill(-pid, syscall.SIGTERM)
	}
	deadline := time.After(30 * time.Second)
	for _, done := range g.done {
		select {
		case <-done:
		case <-deadline:
			for _, pid := range g.pids {
				_ = syscall.Kill(-pid, syscall.SIGKILL)
			}
			return errors.New("the controller and the token server did not stop within 30s; killed them")
		}
	}
	return nil
}

// samples are the objects of config/samples, and the sample names the rest of Run needs.
type samples struct {
	objects     []client.Object
	tenant      *identityv1alpha1.Tenant
	client      *identityv1alpha1.Client
	api         *identityv1alpha1.API
	usersSecret *corev1.Secret
	sampleUser  string
}

// readSamples decodes the resources of the samples' kustomization.yaml, in its order.
func readSamples(scheme *k8sruntime.Scheme, dir, namespace string) (*samples, error) {
	var kustomization struct {
		Resources []string `json:"resources"`
	}
	data, err := os.ReadFile(filepath.Join(dir, "kustomization.yaml")) //nolint:gosec // the samples directory we were given
	if err != nil {
		return nil, err
	}
	if err := yaml.Unmarshal(data, &kustomization); err != nil {
		return nil, fmt.Errorf("reading %s/kustomization.yaml: %w", dir, err)
	}
	decoder := serializer.NewCodecFactory(scheme).UniversalDeserializer()
	s := &samples{}
	for _, name := range kustomization.Resources {
		data, err := os.ReadFile(filepath.Join(dir, name)) //nolint:gosec // listed by the samples' kustomization
		if err != nil {
			return nil, err
		}
		decoded, _, err := decoder.Decode(data, nil, nil)
		if err != nil {
			return nil, fmt.Errorf("decoding %s: %w", name, err)
		}
		obj, ok := decoded.(client.Object)
		if !ok {
			return nil, fmt.Errorf("%s is not a Kubernetes object", name)
		}
		obj.SetNamespace(namespace)
		s.objects = append(s.objects, obj)
		switch o := obj.(type) {
		case *identityv1alpha1.Tenant:
			s.tenant = cmp.Or(s.tenant, o)
		case *identityv1alpha1.Client:
			s.client = cmp.Or(s.client, o)
		case *identityv1alpha1.API:
			s.api = cmp.Or(s.api, o)
		case *corev1.Secret:
			s.usersSecret = cmp.Or(s.usersSecret, o)
		}
	}
	if s.tenant == nil || s.client == nil || s.usersSecret == nil {
		return nil, fmt.Errorf("%s needs a Tenant, a Client and a users Secret", dir)
	}
	return s, nil
}

// setSamplePassword gives the first user of the users Secret a fresh random password and
// returns it: the committed sample holds a hash of a password nobody knows.
func (s *samples) setSamplePassword() (string, error) {
	const key = "users.yaml"
	var users []map[string]any
	if err := yaml.Unmarshal([]byte(s.usersSecret.StringData[key]), &users); err != nil || len(users) == 0 {
		return "", fmt.Errorf("the sample Secret %s has no users in %s", s.usersSecret.Name, key)
	}
	password := rand.Text()
	hash, err := bcrypt.GenerateFromPassword([]byte(password), bcrypt.DefaultCost)
	if err != nil {
		return "", err
	}
	users[0]["passwordHash"] = string(hash)
	data, err := yaml.Marshal(users)
	if err != nil {
		return "", err
	}
	s.usersSecret.StringData[key] = string(data)
	s.sampleUser, _ = users[0]["username"].(string)
	return password, nil
}

// waitForCredentials waits until the sample Tenant and Client are Ready and returns the
// Client's credentials.
func waitForCredentials(ctx context.Context, c client.Client, s *samples, exited <-chan error) (tokenclient.Credentials, error) {
	var creds tokenclient.Credentials
	err := poll(ctx, exited, func() (bool, error) {
		tenant, cl := &identityv1alpha1.Tenant{}, &identityv1alpha1.Client{}
		if err := c.Get(ctx, client.ObjectKeyFromObject(s.tenant), tenant); err != nil {
			return false, err
		}
		if err := c.Get(ctx, client.ObjectKeyFromObject(s.client), cl); err != nil {
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
		return creds, fmt.Errorf("waiting for Tenant %s and Client %s to become Ready: %w", s.tenant.Name, s.client.Name, err)
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

// audience is the identifier of the sample API, if there is one.
func (s *samples) audience() string {
	if s.api == nil {
		return ""
	}
	return s.api.Spec.Identifier
}

// scope asks for the OpenID scopes and every scope of the sample API.
func (s *samples) scope() string {
	scope := "openid profile email"
	if s.api != nil {
		for _, sc := range s.api.Spec.Scopes {
			scope += " " + sc.Name
		}
	}
	return scope
}

func shellQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
