package v1alpha1_test

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/discovery"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1alpha1 "github.com/gatehouse-dev/gatehouse/api/v1alpha1"
	"github.com/gatehouse-dev/gatehouse/test/kubetest"
)

func TestServerAppliesDefaults(t *testing.T) {
	ctx := context.Background()
	ns := newNamespace(t)
	meta := func(name string) metav1.ObjectMeta { return metav1.ObjectMeta{Name: name, Namespace: ns} }
	ref := v1alpha1.TenantReference{Name: "acme"}

	tenant := &v1alpha1.Tenant{ObjectMeta: meta("acme")}
	api := &v1alpha1.API{ObjectMeta: meta("api"), Spec: v1alpha1.APISpec{TenantRef: ref, Identifier: "https://someapi.com/api"}}
	cl := &v1alpha1.Client{ObjectMeta: meta("client"), Spec: v1alpha1.ClientSpec{TenantRef: ref}}
	partial := &v1alpha1.Tenant{ObjectMeta: meta("partial"), Spec: v1alpha1.TenantSpec{AttackProtection: v1alpha1.AttackProtectionSpec{
		BruteForce: v1alpha1.BruteForceSpec{Enabled: ptr.To(false), MaxAttempts: 3},
	}}}
	conn := &v1alpha1.Connection{ObjectMeta: meta("ldap"), Spec: v1alpha1.ConnectionSpec{
		TenantRef: ref,
		LDAP: &v1alpha1.LDAPConnection{
			DirectoryTransport: v1alpha1.DirectoryTransport{
				URLs:                  []string{"ldaps://ldap.corp"},
				BindPasswordSecretRef: v1alpha1.SecretKeySelector{Name: "bind", Key: "password"},
			},
			BindDN:     "cn=gatehouse,dc=corp",
			UserSearch: v1alpha1.LDAPUserSearch{BaseDN: "ou=people,dc=corp"},
		},
	}}
	oidc := &v1alpha1.Connection{ObjectMeta: meta("oidc"), Spec: v1alpha1.ConnectionSpec{
		TenantRef: ref,
		OIDC:      &v1alpha1.OIDCConnection{Issuer: "https://login.example.com", ClientID: "gatehouse"},
	}}
	for _, obj := range []client.Object{tenant, partial, api, cl, conn, oidc} {
		if err := env.Client.Create(ctx, obj); err != nil {
			t.Fatalf("creating %T: %v", obj, err)
		}
	}

	// The objects now hold what the server returned: its defaults.
	tests := []struct {
		field     string
		got, want any
	}{
		{"tenant signingKeys.algorithm", tenant.Spec.SigningKeys.Algorithm, v1alpha1.RS256},
		{"tenant signingKeys.rotationPeriod", tenant.Spec.SigningKeys.RotationPeriod.Duration, 2160 * time.Hour},
		{"tenant tokens.accessTokenLifetime", tenant.Spec.Tokens.AccessTokenLifetime.Duration, 24 * time.Hour},
		{"tenant tokens.idTokenLifetime", tenant.Spec.Tokens.IDTokenLifetime.Duration, 10 * time.Hour},
		{"tenant bruteForce.enabled", ptr.Deref(tenant.Spec.AttackProtection.BruteForce.Enabled, false), true},
		{"tenant bruteForce.maxAttempts", tenant.Spec.AttackProtection.BruteForce.MaxAttempts, int32(10)},
		{"tenant bruteForce.coolDown", tenant.Spec.AttackProtection.BruteForce.CoolDown.Duration, 15 * time.Minute},
		{"tenant suspiciousIPThrottling.enabled", ptr.Deref(tenant.Spec.AttackProtection.SuspiciousIPThrottling.Enabled, false), true},
		{"tenant suspiciousIPThrottling.maxAttempts", tenant.Spec.AttackProtection.SuspiciousIPThrottling.MaxAttempts, int32(100)},
		{"tenant suspiciousIPThrottling.coolDown", tenant.Spec.AttackProtection.SuspiciousIPThrottling.CoolDown.Duration, time.Hour},
		{"partial bruteForce.enabled kept false", ptr.Deref(partial.Spec.AttackProtection.BruteForce.Enabled, true), false},
		{"partial bruteForce.maxAttempts kept", partial.Spec.AttackProtection.BruteForce.MaxAttempts, int32(3)},
		{"partial bruteForce.coolDown", partial.Spec.AttackProtection.BruteForce.CoolDown.Duration, 15 * time.Minute},
		{"partial suspiciousIPThrottling.maxAttempts", partial.Spec.AttackProtection.SuspiciousIPThrottling.MaxAttempts, int32(100)},
		{"api signingAlgorithm", api.Spec.SigningAlgorithm, v1alpha1.RS256},
		{"client type", cl.Spec.Type, v1alpha1.ClientConfidential},
		{"client grantTypes", strings.Join(grantStrings(cl.Spec.GrantTypes), ","), "password"},
		{"ldap userSearch.scope", conn.Spec.LDAP.UserSearch.Scope, v1alpha1.LDAPScopeSubtree},
		{"ldap userSearch.filter", conn.Spec.LDAP.UserSearch.Filter, "(objectClass=person)"},
		{"ldap userSearch.usernameAttributes", strings.Join(conn.Spec.LDAP.UserSearch.UsernameAttributes, ","), "uid"},
		{"ldap attributes.subject", conn.Spec.LDAP.Attributes.Subject, "entryUUID"},
		{"ldap attributes.email", conn.Spec.LDAP.Attributes.Email, "mail"},
		{"ldap timeout", conn.Spec.LDAP.Timeout.Duration, 5 * time.Second},
		{"ldap maxConnections", conn.Spec.LDAP.MaxConnections, int32(16)},
		{"oidc scopes", strings.Join(oidc.Spec.OIDC.Scopes, ","), "openid,email,profile"},
		{"oidc claims.subject", oidc.Spec.OIDC.Claims.Subject, "sub"},
		{"oidc claims.email", oidc.Spec.OIDC.Claims.Email, "email"},
		{"oidc claims.name", oidc.Spec.OIDC.Claims.Name, "name"},
		{"oidc claims.groups", oidc.Spec.OIDC.Claims.Groups, "groups"},
		{"oidc timeout", oidc.Spec.OIDC.Timeout.Duration, 10 * time.Second},
	}
	for _, tc := range tests {
		if tc.got != tc.want {
			t.Errorf("%s defaulted to %v, want %v", tc.field, tc.got, tc.want)
		}
	}
}

func grantStrings(grants []v1alpha1.GrantType) []string {
	out := make([]string, len(grants))
	for i, g := range grants {
		out[i] = string(g)
	}
	return out
}

// TestSchemaIsDocumented checks what kubectl explain reads: the OpenAPI v3 schema the
// API server publishes for the group has a description for every field of every kind.
func TestSchemaIsDocumented(t *testing.T) {
	dc, err := discovery.NewDiscoveryClientForConfig(env.Config)
	if err != nil {
		t.Fatal(err)
	}
	paths, err := dc.OpenAPIV3().Paths()
	if err != nil {
		t.Fatal(err)
	}
	gv, ok := paths["apis/identity.gatehouse.dev/v1alpha1"]
	if !ok {
		t.Fatal("the API server publishes no OpenAPI v3 schema for identity.gatehouse.dev/v1alpha1")
	}
	doc, err := gv.Schema("application/json")
	if err != nil {
		t.Fatal(err)
	}
	var openapi struct {
		Components struct {
			Schemas map[string]schemaNode `json:"schemas"`
		} `json:"components"`
	}
	if err := json.Unmarshal(doc, &openapi); err != nil {
		t.Fatal(err)
	}
	for _, kind := range []string{"Tenant", "Connection", "API", "Client"} {
		s, ok := openapi.Components.Schemas["dev.gatehouse.identity.v1alpha1."+kind]
		if !ok {
			t.Errorf("no published schema for %s", kind)
			continue
		}
		if s.Description == "" {
			t.Errorf("%s has no description", kind)
		}
		for _, missing := range undocumented(kind, s) {
			t.Errorf("%s has no description", missing)
		}
	}
}

type schemaNode struct {
	Description string                `json:"description"`
	Properties  map[string]schemaNode `json:"properties"`
	Items       *schemaNode           `json:"items"`
}

// undocumented lists the fields below spec and status that have no description.
func undocumented(path string, s schemaNode) []string {
	var out []string
	for name, p := range s.Properties {
		if path == "Tenant" || path == "Connection" || path == "API" || path == "Client" {
			if name != "spec" && name != "status" {
				continue
			}
		}
		field := path + "." + name
		if p.Description == "" {
			out = append(out, field)
		}
		out = append(out, undocumented(field, p)...)
		if p.Items != nil && !strings.HasSuffix(field, "conditions") {
			out = append(out, undocumented(field+"[]", *p.Items)...)
		}
	}
	return out
}

// TestKubectlExplain runs kubectl explain against the API server, as a user would.
func TestKubectlExplain(t *testing.T) {
	kubectl, err := kubetest.Kubectl()
	if err != nil {
		t.Fatal(err)
	}
	kubeconfig, err := env.KubeConfig()
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "kubeconfig")
	if err := os.WriteFile(path, kubeconfig, 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(kubectl, "--kubeconfig", path, "explain", "tenant.spec").CombinedOutput()
	if err != nil {
		t.Fatalf("kubectl explain tenant.spec: %v\n%s", err, out)
	}
	for _, want := range []string{
		"defaultDirectory", "names the Connection",
		"signingKeys", "tokens", "domain", "Host header", "attackProtection",
	} {
		if !strings.Contains(string(out), want) {
			t.Errorf("kubectl explain tenant.spec does not mention %q:\n%s", want, out)
		}
	}
}
