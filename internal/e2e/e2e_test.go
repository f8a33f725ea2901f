package e2e_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/crypto/bcrypt"
	"golang.org/x/oauth2"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/controller-runtime/pkg/client"

	identityv1alpha1 "github.com/gatehouse-dev/gatehouse/api/v1alpha1"
	"github.com/gatehouse-dev/gatehouse/internal/testenv"
	"github.com/gatehouse-dev/gatehouse/internal/testldap"
	"github.com/gatehouse-dev/gatehouse/internal/testproc"
	"github.com/gatehouse-dev/gatehouse/tokenserver/tokentest"
)

const (
	operatorNamespace = "gatehouse-system"
	userNamespace     = "team-a"
	audience          = "https://someapi.com/api"
)

var (
	env       *testenv.Env
	gatehouse string // the built binary
)

func TestMain(m *testing.M) {
	code, err := run(m)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	os.Exit(code)
}

func run(m *testing.M) (int, error) {
	dir, err := os.MkdirTemp("", "gatehouse-e2e-")
	if err != nil {
		return 0, err
	}
	defer os.RemoveAll(dir)
	gatehouse = filepath.Join(dir, "gatehouse")
	build := exec.Command("go", "build", "-o", gatehouse, ".")
	build.Dir = testenv.RepoRoot()
	if out, err := build.CombinedOutput(); err != nil {
		return 0, fmt.Errorf("building gatehouse: %w\n%s", err, out)
	}
	if env, err = testenv.Start(); err != nil {
		return 0, err
	}
	defer env.Stop() //nolint:errcheck // best effort at exit
	return m.Run(), nil
}

// TestEndToEnd runs the controller and the token server as they run in a cluster: as
// separate processes, each with the credentials of its own ServiceAccount and the RBAC
// the project ships, against a real API server. It applies the samples and gets tokens
// with real OAuth 2.0 and OpenID Connect clients.
func TestEndToEnd(t *testing.T) {
	ctx := t.Context()
	tokenServerAddr := freeAddress(t)
	startGatehouse(t, tokenServerAddr)

	password := rand.Text()
	applySamples(t, userNamespace, password)
	client := &identityv1alpha1.Client{ObjectMeta: metav1.ObjectMeta{Namespace: userNamespace, Name: "reporting-job"}}
	waitReady(t, client)
	creds := credentials(t, client)
	issuer := creds["issuer"]
	if want := "http://" + tokenServerAddr + "/" + userNamespace + "/acme/"; issuer != want {
		t.Fatalf("issuer %q, want %q", issuer, want)
	}

	var accessToken string
	t.Run("password grant with golang.org/x/oauth2 and go-oidc", func(t *testing.T) {
		var tok *oauth2.Token
		eventually(t, "the token server serves the sample tenant", func() (err error) {
			tok, err = passwordToken(creds, "user@example.com", password)
			return err
		})
		accessToken = tok.AccessToken
		provider, err := oidc.NewProvider(ctx, issuer)
		if err != nil {
			t.Fatal(err)
		}
		rawID, _ := tok.Extra("id_token").(string)
		idToken, err := provider.Verifier(&oidc.Config{ClientID: creds["client_id"]}).Verify(ctx, rawID)
		if err != nil {
			t.Fatalf("id_token: %v", err)
		}
		if idToken.Subject != "users|4d1b6c0e-sample-user" {
			t.Errorf("sub %q, want users|4d1b6c0e-sample-user", idToken.Subject)
		}
		if _, err := provider.Verifier(&oidc.Config{ClientID: audience}).Verify(ctx, tok.AccessToken); err != nil {
			t.Errorf("access token does not verify through the JWKS for audience %s: %v", audience, err)
		}
		info, err := provider.UserInfo(ctx, oauth2.StaticTokenSource(tok))
		if err != nil {
			t.Fatal(err)
		}
		if info.Email != "user@example.com" || info.Subject != idToken.Subject {
			t.Errorf("userinfo: sub %q email %q", info.Subject, info.Email)
		}
	})

	t.Run("a new Client is accepted", func(t *testing.T) {
		second := &identityv1alpha1.Client{
			ObjectMeta: metav1.ObjectMeta{Namespace: userNamespace, Name: "second"},
			Spec:       identityv1alpha1.ClientSpec{TenantRef: identityv1alpha1.TenantReference{Name: "acme"}},
		}
		start := time.Now()
		create(t, second)
		waitReady(t, second)
		secondCreds := credentials(t, second)
		eventually(t, "the token server accepts the new Client", func() error {
			_, err := passwordToken(secondCreds, "user@example.com", password)
			return err
		})
		t.Logf("a new Client was accepted %v after it was applied", time.Since(start).Round(time.Millisecond))
	})

	t.Run("tokens issued before a key rotation still verify", func(t *testing.T) {
		if accessToken == "" {
			t.Fatal("no token from the first subtest")
		}
		tenant := &identityv1alpha1.Tenant{ObjectMeta: metav1.ObjectMeta{Namespace: userNamespace, Name: "acme"}}
		get(t, tenant)
		oldKID := currentKID(tenant)
		update(t, tenant, func(tn *identityv1alpha1.Tenant) {
			metav1.SetMetaDataAnnotation(&tn.ObjectMeta, identityv1alpha1.RotateKeysAnnotation, time.Now().Format(time.RFC3339Nano))
		})
		eventually(t, "a new key is current", func() error {
			get(t, tenant)
			if kid := currentKID(tenant); kid == oldKID || kid == "" {
				return fmt.Errorf("current key is still %q", kid)
			}
			return nil
		})
		newKID := currentKID(tenant)
		eventually(t, "the token server signs with the new key", func() error {
			tok, err := passwordToken(creds, "user@example.com", password)
			if err != nil {
				return err
			}
			if kid := tokenKID(t, tok.AccessToken); kid != newKID {
				return fmt.Errorf("signed with %q, want %q", kid, newKID)
			}
			return nil
		})
		provider, err := oidc.NewProvider(ctx, issuer)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := provider.Verifier(&oidc.Config{ClientID: audience}).Verify(ctx, accessToken); err != nil {
			t.Errorf("a token signed before the rotation (kid %s) no longer verifies: %v", oldKID, err)
		}
	})

	t.Run("an LDAP default directory", func(t *testing.T) {
		testLDAPDirectory(t, tokenServerAddr)
	})
}

// testLDAPDirectory serves a second Tenant whose default directory is a real slapd.
func testLDAPDirectory(t *testing.T, tokenServerAddr string) {
	directory, err := testldap.Start()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(directory.Close)
	passwords, err := directory.LoadSample()
	if err != nil {
		t.Fatal(err)
	}

	ref := identityv1alpha1.TenantReference{Name: "corp"}
	bind := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Namespace: userNamespace, Name: "corp-ldap"},
		Data:       map[string][]byte{"password": []byte(passwords["gatehouse"]), "ca.crt": []byte(directory.CAPEM)},
	}
	ldapConnection := func(name, url string) *identityv1alpha1.Connection {
		return &identityv1alpha1.Connection{
			ObjectMeta: metav1.ObjectMeta{Namespace: userNamespace, Name: name},
			Spec: identityv1alpha1.ConnectionSpec{TenantRef: ref, LDAP: &identityv1alpha1.LDAPConnection{
				DirectoryTransport: identityv1alpha1.DirectoryTransport{
					URLs:                  []string{url},
					CASecretRef:           &identityv1alpha1.SecretKeySelector{Name: "corp-ldap", Key: "ca.crt"},
					BindPasswordSecretRef: identityv1alpha1.SecretKeySelector{Name: "corp-ldap", Key: "password"},
				},
				BindDN:     "cn=gatehouse,ou=svc," + testldap.BaseDN,
				UserSearch: identityv1alpha1.LDAPUserSearch{BaseDN: "ou=people," + testldap.BaseDN, UsernameAttributes: []string{"uid", "mail"}},
			}},
		}
	}
	live := ldapConnection("corp-directory", directory.LDAPSURL)
	dead := ldapConnection("corp-dead", "ldaps://"+freeAddress(t))
	tenant := &identityv1alpha1.Tenant{
		ObjectMeta: metav1.ObjectMeta{Namespace: userNamespace, Name: "corp"},
		Spec:       identityv1alpha1.TenantSpec{DefaultDirectory: live.Name, SigningKeys: identityv1alpha1.SigningKeysSpec{Algorithm: identityv1alpha1.ES256}},
	}
	app := &identityv1alpha1.Client{
		ObjectMeta: metav1.ObjectMeta{Namespace: userNamespace, Name: "corp-app"},
		Spec:       identityv1alpha1.ClientSpec{TenantRef: ref},
	}
	create(t, bind, tenant, live, dead, app)
	waitReady(t, live, app)
	waitCondition(t, live, identityv1alpha1.ConditionDirectoryReachable, metav1.ConditionTrue)
	waitCondition(t, dead, identityv1alpha1.ConditionDirectoryReachable, metav1.ConditionFalse)

	creds := credentials(t, app)
	var tok *oauth2.Token
	eventually(t, "the token server serves the LDAP tenant", func() error {
		tok, err = passwordToken(creds, "alice", passwords["alice"])
		return err
	})
	provider, err := oidc.NewProvider(t.Context(), creds["issuer"])
	if err != nil {
		t.Fatal(err)
	}
	rawID, _ := tok.Extra("id_token").(string)
	idToken, err := provider.Verifier(&oidc.Config{ClientID: creds["client_id"]}).Verify(t.Context(), rawID)
	if err != nil {
		t.Fatalf("id_token of an LDAP user: %v", err)
	}
	if !strings.HasPrefix(idToken.Subject, "corp-directory|") || len(idToken.Subject) < len("corp-directory|")+32 {
		t.Errorf("sub %q, want corp-directory|<entryUUID>", idToken.Subject)
	}
	// userinfo reads the profile from the directory, as for database users.
	info, err := provider.UserInfo(t.Context(), oauth2.StaticTokenSource(tok))
	if err != nil {
		t.Fatalf("userinfo of an LDAP user: %v", err)
	}
	var profile struct {
		Name string `json:"name"`
	}
	if err := info.Claims(&profile); err != nil || info.Subject != idToken.Subject || info.Email != "alice@example.org" || profile.Name != "Alice Liddell" {
		t.Errorf("userinfo of an LDAP user: sub %q email %q name %q (%v)", info.Subject, info.Email, profile.Name, err)
	}
	if _, err := passwordToken(creds, "alice", passwords["alice"]+"x"); err == nil || !strings.Contains(err.Error(), "invalid_grant") {
		t.Errorf("a wrong LDAP password: %v, want invalid_grant", err)
	}
}

// startGatehouse starts `gatehouse controller` and `gatehouse tokenserver` as processes,
// each with the RBAC of its ServiceAccount.
func startGatehouse(t *testing.T, tokenServerAddr string) {
	controllerConfig, tokenServerConfig := installRBAC(t)
	create(t, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: userNamespace}})
	startController(t, controllerConfig, tokenServerAddr)
	startProcess(t, tokenServerConfig, "tokenserver", "--namespace", operatorNamespace,
		"--bind-address", tokenServerAddr, "--metrics-bind-address", freeAddress(t))
}

// installRBAC creates the operator's namespace and the ServiceAccounts and RBAC the
// project ships for the controller and the token server, unless an earlier test did, and
// returns kubeconfigs that impersonate each ServiceAccount.
func installRBAC(t *testing.T) (controllerConfig, tokenServerConfig string) {
	ensure(t, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: operatorNamespace}})
	for _, file := range []string{"rbac/service_account.yaml", "rbac/role.yaml", "rbac/role_binding.yaml", "tokenserver/tokenserver.yaml"} {
		for _, obj := range manifests(t, filepath.Join(testenv.RepoRoot(), "config", file)) {
			switch obj.GetObjectKind().GroupVersionKind().Kind {
			case "ServiceAccount", "ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding":
				ensure(t, obj)
			}
		}
	}
	dir := t.TempDir()
	controllerConfig = filepath.Join(dir, "controller.kubeconfig")
	tokenServerConfig = filepath.Join(dir, "tokenserver.kubeconfig")
	for path, sa := range map[string]string{controllerConfig: "gatehouse-controller", tokenServerConfig: "gatehouse-tokenserver"} {
		if err := env.WriteKubeConfig(path, tokentest.ServiceAccountUser(operatorNamespace, sa), tokentest.ServiceAccountGroups(operatorNamespace)); err != nil {
			t.Fatal(err)
		}
	}
	return controllerConfig, tokenServerConfig
}

func startController(t *testing.T, kubeconfig, tokenServerAddr string) {
	startProcess(t, kubeconfig, "controller", "--namespace", operatorNamespace,
		"--token-server-url", "http://"+tokenServerAddr, "--leader-elect=false",
		"--metrics-bind-address", "0", "--health-probe-bind-address", freeAddress(t))
}

// startProcess runs the gatehouse binary with a kubeconfig; at the end of the test it
// sends SIGTERM and expects a clean exit. Its output is shown when the test fails.
func startProcess(t *testing.T, kubeconfig string, args ...string) *testproc.Process {
	cmd := exec.Command(gatehouse, args...)
	cmd.Env = append(os.Environ(), "KUBECONFIG="+kubeconfig)
	proc, err := testproc.Start(cmd)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if clean, err := proc.Stop(30 * time.Second); err != nil || !clean {
			t.Errorf("gatehouse %s after SIGTERM: exit %v, within 30s: %v", args[0], err, clean)
		}
		if t.Failed() {
			t.Logf("output of gatehouse %s:\n%s", args[0], proc.Output())
		}
	})
	return proc
}

// applySamples creates config/samples in namespace, with the sample user's password hash
// replaced by one of password.
func applySamples(t *testing.T, namespace, password string) {
	hash, err := bcrypt.GenerateFromPassword([]byte(password), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	files, err := filepath.Glob(filepath.Join(testenv.RepoRoot(), "config", "samples", "*.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	for _, file := range files {
		if filepath.Base(file) == "kustomization.yaml" {
			continue
		}
		for _, obj := range manifests(t, file) {
			u := obj.(*unstructured.Unstructured)
			u.SetNamespace(namespace)
			if users, ok, _ := unstructured.NestedString(u.Object, "stringData", "users.yaml"); ok {
				users = strings.Replace(users, sampleHash(t, users), string(hash), 1)
				if err := unstructured.SetNestedField(u.Object, users, "stringData", "users.yaml"); err != nil {
					t.Fatal(err)
				}
			}
			create(t, u)
		}
	}
}

// sampleHash is the bcrypt hash in the sample users Secret.
func sampleHash(t *testing.T, users string) string {
	i := strings.Index(users, "$2a$")
	if i < 0 {
		t.Fatal("the sample users Secret has no bcrypt hash")
	}
	return users[i : i+60]
}

// manifests reads the objects of a multi-document YAML file.
func manifests(t *testing.T, path string) []client.Object {
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var out []client.Object
	for _, doc := range bytes.Split(data, []byte("\n---")) {
		u := &unstructured.Unstructured{}
		if err := utilyaml.Unmarshal(doc, &u.Object); err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		if len(u.Object) > 0 {
			out = append(out, u)
		}
	}
	return out
}

func passwordToken(creds map[string]string, username, password string) (*oauth2.Token, error) {
	cfg := oauth2.Config{
		ClientID:     creds["client_id"],
		ClientSecret: creds["client_secret"],
		Endpoint:     oauth2.Endpoint{TokenURL: creds["token_url"], AuthStyle: oauth2.AuthStyleInHeader},
		Scopes:       []string{"openid", "profile", "email", "read:sample"},
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return cfg.PasswordCredentialsToken(ctx, username, password)
}

// credentials reads the credentials Secret the controller wrote for a Client.
func credentials(t *testing.T, c *identityv1alpha1.Client) map[string]string {
	t.Helper()
	get(t, c)
	var s corev1.Secret
	eventually(t, "the credentials Secret exists", func() error {
		return env.Client.Get(context.Background(), client.ObjectKey{Namespace: c.Namespace, Name: c.Status.CredentialsSecretName}, &s)
	})
	out := map[string]string{}
	for k, v := range s.Data {
		out[k] = string(v)
	}
	return out
}

func currentKID(tenant *identityv1alpha1.Tenant) string {
	for _, k := range tenant.Status.Keys {
		if k.State == identityv1alpha1.KeyStateCurrent {
			return k.KID
		}
	}
	return ""
}

// tokenKID reads the kid header of a JWT.
func tokenKID(t *testing.T, jwt string) string {
	header, _, _ := strings.Cut(jwt, ".")
	var h struct {
		KID string `json:"kid"`
	}
	data, err := base64.RawURLEncoding.DecodeString(header)
	if err == nil {
		err = json.Unmarshal(data, &h)
	}
	if err != nil {
		t.Fatalf("reading a token header: %v", err)
	}
	return h.KID
}

func create(t *testing.T, objs ...client.Object) {
	t.Helper()
	for _, o := range objs {
		if err := env.Client.Create(context.Background(), o); err != nil {
			t.Fatalf("creating %s %s: %v", o.GetObjectKind().GroupVersionKind().Kind, o.GetName(), err)
		}
	}
}

// ensure creates objs unless they exist.
func ensure(t *testing.T, objs ...client.Object) {
	t.Helper()
	for _, o := range objs {
		if err := env.Client.Create(context.Background(), o); err != nil && !apierrors.IsAlreadyExists(err) {
			t.Fatalf("creating %s %s: %v", o.GetObjectKind().GroupVersionKind().Kind, o.GetName(), err)
		}
	}
}

func get(t *testing.T, o client.Object) {
	t.Helper()
	if err := env.Client.Get(context.Background(), client.ObjectKeyFromObject(o), o); err != nil {
		t.Fatal(err)
	}
}

func update[T client.Object](t *testing.T, o T, change func(T)) {
	t.Helper()
	eventually(t, "an update goes through", func() error {
		if err := env.Client.Get(context.Background(), client.ObjectKeyFromObject(o), o); err != nil {
			return err
		}
		change(o)
		return env.Client.Update(context.Background(), o)
	})
}

func conditions(t *testing.T, o client.Object) []metav1.Condition {
	get(t, o)
	switch o := o.(type) {
	case *identityv1alpha1.Connection:
		return o.Status.Conditions
	case *identityv1alpha1.Client:
		return o.Status.Conditions
	}
	t.Fatalf("no conditions for %T", o)
	return nil
}

func waitCondition(t *testing.T, o client.Object, conditionType string, status metav1.ConditionStatus) {
	t.Helper()
	eventually(t, fmt.Sprintf("%s %s=%s", o.GetName(), conditionType, status), func() error {
		c := meta.FindStatusCondition(conditions(t, o), conditionType)
		if c == nil || c.Status != status {
			return fmt.Errorf("condition is %+v", c)
		}
		return nil
	})
}

func waitReady(t *testing.T, objs ...client.Object) {
	t.Helper()
	for _, o := range objs {
		waitCondition(t, o, identityv1alpha1.ConditionReady, metav1.ConditionTrue)
	}
}

func eventually(t *testing.T, what string, check func() error) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		err := check()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting until %s: %v", what, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func freeAddress(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}
