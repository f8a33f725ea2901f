package v1alpha1_test

import (
	"context"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	identityv1alpha1 "github.com/gatehouse-dev/gatehouse/api/v1alpha1"
	"github.com/gatehouse-dev/gatehouse/test/kubetest"
)

var env *kubetest.Env

func TestMain(m *testing.M) {
	kubetest.Main(m, &env, kubetest.WithScheme(identityv1alpha1.NewScheme()))
}

// newNamespace creates a namespace of its own for one test.
func newNamespace(t *testing.T) string {
	t.Helper()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "validation-"}}
	if err := env.Client.Create(context.Background(), ns); err != nil {
		t.Fatal(err)
	}
	return ns.Name
}

// object parses one YAML manifest into an unstructured object in namespace ns.
func object(t *testing.T, ns, manifest string) *unstructured.Unstructured {
	t.Helper()
	u := &unstructured.Unstructured{}
	if err := yaml.Unmarshal([]byte(manifest), &u.Object); err != nil {
		t.Fatalf("bad test manifest: %v\n%s", err, manifest)
	}
	u.SetNamespace(ns)
	return u
}

func TestSamplesAreAccepted(t *testing.T) {
	ns := newNamespace(t)
	samples, err := kubetest.ReadKustomization(filepath.Join(kubetest.RepoRoot(), "config", "samples"))
	if err != nil {
		t.Fatal(err)
	}
	kinds := map[string]bool{}
	for _, u := range samples {
		u.SetNamespace(ns)
		if err := env.Client.Create(context.Background(), u); err != nil {
			t.Errorf("%s %s was refused: %v", u.GetKind(), u.GetName(), err)
		}
		kinds[u.GetKind()] = true
	}
	for _, kind := range []string{"Tenant", "Connection", "API", "Client", "Secret"} {
		if !kinds[kind] {
			t.Errorf("config/samples has no %s", kind)
		}
	}
}

// TestConnectionSamplesAreAccepted creates the samples of config/samples/connections,
// which are not in the kustomization: each needs a directory of the reader's own.
func TestConnectionSamplesAreAccepted(t *testing.T) {
	ns := newNamespace(t)
	files, err := filepath.Glob(filepath.Join(kubetest.RepoRoot(), "config", "samples", "connections", "*.yaml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no samples in config/samples/connections (%v)", err)
	}
	for _, file := range files {
		objs, err := kubetest.ReadManifests(file)
		if err != nil {
			t.Fatal(err)
		}
		for _, u := range objs {
			u.SetNamespace(ns)
			if err := env.Client.Create(context.Background(), u, client.DryRunAll); err != nil {
				t.Errorf("%s: %s %s was refused: %v", filepath.Base(file), u.GetKind(), u.GetName(), err)
			}
		}
	}
}

// invalidCase is a manifest the API server must refuse, and a part of the message it
// must give.
type invalidCase struct {
	name     string
	manifest string
	message  string
}

const tenantHead = "apiVersion: identity.gatehouse.dev/v1alpha1\nkind: Tenant\nmetadata: {name: t}\n"
const connectionHead = "apiVersion: identity.gatehouse.dev/v1alpha1\nkind: Connection\nmetadata: {name: c}\n"
const apiHead = "apiVersion: identity.gatehouse.dev/v1alpha1\nkind: API\nmetadata: {name: a}\n"
const clientHead = "apiVersion: identity.gatehouse.dev/v1alpha1\nkind: Client\nmetadata: {name: c}\n"

// ldapSpec is a valid LDAP connection spec with one field replaced ("name=value").
func ldapSpec(field string) string {
	return connectionSpec("ldap", map[string]string{
		"urls":                  "[ldaps://ldap.corp:636]",
		"bindDN":                "cn=gatehouse,ou=svc,dc=corp",
		"bindPasswordSecretRef": "{name: ldap-bind, key: password}",
		"userSearch":            "{baseDN: 'ou=people,dc=corp'}",
	}, field, "=")
}

// azureADSpec is a valid azureAD connection spec with one field replaced or added
// ("name=value").
func azureADSpec(field string) string {
	return connectionSpec("azureAD", map[string]string{
		"tenant":   "contoso.onmicrosoft.com",
		"clientID": "6731de76-14a6-49ae-97bc-6eba6914391e",
	}, field, "=")
}

// oidcSpec is a valid oidc connection spec with one field replaced or added
// ("name: value").
func oidcSpec(field string) string {
	return connectionSpec("oidc", map[string]string{"issuer": "'https://login.example.com/realms/corp'", "clientID": "gatehouse"}, field, ": ")
}

// connectionSpec is a Connection whose kind member holds fields, with field (name, sep,
// value) replacing or adding one, in the order of their names.
func connectionSpec(kind string, fields map[string]string, field, sep string) string {
	if name, value, ok := strings.Cut(field, sep); ok {
		fields[name] = value
	}
	var b strings.Builder
	fmt.Fprintf(&b, "spec:\n  tenantRef: {name: acme}\n  %s:\n", kind)
	for _, k := range slices.Sorted(maps.Keys(fields)) {
		fmt.Fprintf(&b, "    %s: %s\n", k, fields[k])
	}
	return connectionHead + b.String()
}

var invalidCases = []invalidCase{
	// Tenant
	{"tenant domain with scheme", tenantHead + "spec: {domain: 'https://login.example.com'}",
		"domain must be a lowercase host name such as login.example.com, without scheme, port or path"},
	{"tenant domain with port", tenantHead + "spec: {domain: 'login.example.com:443'}",
		"domain must be a lowercase host name"},
	{"tenant default directory not a name", tenantHead + "spec: {defaultDirectory: 'Users!'}",
		"defaultDirectory must be the name of a Connection, such as users"},
	{"tenant default audience with whitespace", tenantHead + "spec: {defaultAudience: 'https://x/ api'}",
		"defaultAudience must be an API identifier without whitespace"},
	{"tenant HS256", tenantHead + "spec: {signingKeys: {algorithm: HS256}}",
		`Unsupported value: "HS256": supported values: "RS256", "PS256", "ES256"`},
	{"tenant RSA key too small", tenantHead + "spec: {signingKeys: {rsaKeySize: 1024}}",
		"Unsupported value: 1024"},
	{"tenant RSA size with ES256", tenantHead + "spec: {signingKeys: {algorithm: ES256, rsaKeySize: 2048}}",
		"rsaKeySize applies to RS256 and PS256 only; ES256 keys are always P-256"},
	{"tenant rotation too often", tenantHead + "spec: {signingKeys: {rotationPeriod: 30m}}",
		"rotationPeriod must be a duration such as 2160h, at least 1h and at most 8760h"},
	{"tenant rotation in days", tenantHead + "spec: {signingKeys: {rotationPeriod: 90d}}",
		"rotationPeriod must be a duration such as 2160h"},
	{"tenant zero access token lifetime", tenantHead + "spec: {tokens: {accessTokenLifetime: 0s}}",
		"accessTokenLifetime must be a duration such as 24h, more than 0s and at most 720h (30 days)"},
	{"tenant access token over 30 days", tenantHead + "spec: {tokens: {accessTokenLifetime: 721h}}",
		"accessTokenLifetime must be a duration such as 24h, more than 0s and at most 720h (30 days)"},
	{"tenant negative id token lifetime", tenantHead + "spec: {tokens: {idTokenLifetime: -1h}}",
		"idTokenLifetime must be a duration such as 10h, more than 0s and at most 720h (30 days)"},
	{"tenant display name too long", tenantHead + "spec: {displayName: " + strings.Repeat("x", 129) + "}",
		"Too long: may not be more than 128"},
	{"tenant without spec", tenantHead, `spec: Required value`},
	{"tenant brute force of no attempts", tenantHead + "spec: {attackProtection: {bruteForce: {maxAttempts: 0}}}",
		"spec.attackProtection.bruteForce.maxAttempts in body should be greater than or equal to 1"},
	{"tenant brute force over 100 attempts", tenantHead + "spec: {attackProtection: {bruteForce: {maxAttempts: 101}}}",
		"spec.attackProtection.bruteForce.maxAttempts in body should be less than or equal to 100"},
	{"tenant brute force cool-down too short", tenantHead + "spec: {attackProtection: {bruteForce: {coolDown: 30s}}}",
		"bruteForce.coolDown must be a duration such as 15m, at least 1m and at most 24h"},
	{"tenant brute force cool-down in days", tenantHead + "spec: {attackProtection: {bruteForce: {coolDown: 2d}}}",
		"bruteForce.coolDown must be a duration such as 15m"},
	{"tenant IP throttling over 10000 attempts", tenantHead + "spec: {attackProtection: {suspiciousIPThrottling: {maxAttempts: 10001}}}",
		"spec.attackProtection.suspiciousIPThrottling.maxAttempts in body should be less than or equal to 10000"},
	{"tenant IP throttling cool-down over a day", tenantHead + "spec: {attackProtection: {suspiciousIPThrottling: {coolDown: 25h}}}",
		"suspiciousIPThrottling.coolDown must be a duration such as 1h, at least 1m and at most 24h"},
	{"tenant attack protection enabled as text", tenantHead + "spec: {attackProtection: {bruteForce: {enabled: 'yes'}}}",
		"spec.attackProtection.bruteForce.enabled: Invalid value"},

	// Connection
	{"connection without a directory", connectionHead + "spec: {tenantRef: {name: acme}}",
		"set exactly one of database, ldap, activeDirectory, azureAD, adfs or oidc"},
	{"connection with two directories", ldapSpec("") + "  database: {usersSecretRef: {name: u, key: users.yaml}}",
		"set exactly one of database, ldap, activeDirectory, azureAD, adfs or oidc"},
	{"connection without tenantRef", connectionHead + "spec: {database: {usersSecretRef: {name: u, key: users.yaml}}}",
		"spec.tenantRef: Required value"},
	{"connection tenantRef not a name", connectionHead + "spec: {tenantRef: {name: Acme}, database: {usersSecretRef: {name: u, key: users.yaml}}}",
		"tenantRef.name must be a lowercase DNS name such as acme"},
	{"connection users key with slash", connectionHead + "spec: {tenantRef: {name: acme}, database: {usersSecretRef: {name: u, key: a/b}}}",
		"spec.database.usersSecretRef.key in body should match"},
	{"oidc issuer over plain http", oidcSpec("issuer: http://login.example.com"),
		"issuer must be an https:// URL without user information, query or fragment"},
	{"oidc issuer with a query", oidcSpec("issuer: 'https://login.example.com/?tenant=a'"),
		"issuer must be an https:// URL without user information, query or fragment"},
	{"oidc issuer with user information", oidcSpec("issuer: 'https://user:pw@login.example.com'"),
		"issuer must be an https:// URL without user information, query or fragment"},
	{"oidc scopes without openid", oidcSpec("scopes: [email, profile]"),
		"scopes must include openid: without it the provider answers with no id_token"},
	{"oidc scope with a space", oidcSpec("scopes: [openid, 'a b']"),
		"spec.oidc.scopes[1] in body should match"},
	{"oidc timeout over a minute", oidcSpec("timeout: 2m"),
		"timeout must be a duration between 100ms and 60s, such as 10s"},
	{"oidc without clientID", connectionHead + "spec: {tenantRef: {name: acme}, oidc: {issuer: 'https://login.example.com'}}",
		"spec.oidc.clientID: Required value"},
	{"oidc and ldap", ldapSpec("") + "  oidc: {issuer: 'https://login.example.com', clientID: gatehouse}",
		"set exactly one of database, ldap, activeDirectory, azureAD, adfs or oidc"},
	{"ldap URL with http scheme", ldapSpec("urls=[http://ldap.corp]"),
		"each URL must be ldap://host[:port] or ldaps://host[:port], without path or query"},
	{"ldap URL with a path", ldapSpec("urls=[ldaps://ldap.corp/dc=corp]"),
		"each URL must be ldap://host[:port] or ldaps://host[:port], without path or query"},
	{"ldap without URLs", ldapSpec("urls=[]"),
		"should have at least 1 items"},
	{"ldap startTLS on ldaps", ldapSpec("") + "    startTLS: true\n",
		"startTLS upgrades ldap:// connections; it cannot be used with ldaps:// URLs"},
	{"ldap plain without TLS", ldapSpec("urls=[ldap://ldap.corp]"),
		"ldap:// URLs send passwords in clear text: set startTLS: true, use ldaps://, or set insecureNoTLS: true to accept that"},
	{"ldap filter without parentheses", ldapSpec("userSearch={baseDN: dc=corp, filter: objectClass=person}"),
		"filter must be an LDAP filter in parentheses, such as (objectClass=person)"},
	{"ldap group filter without parentheses", ldapSpec("") + "    groupSearch: {baseDN: dc=corp, filter: objectClass=group}\n",
		"filter must be an LDAP filter in parentheses, such as (objectClass=groupOfNames)"},
	{"ldap base scope", ldapSpec("userSearch={baseDN: dc=corp, scope: base}"),
		`Unsupported value: "base": supported values: "sub", "one"`},
	{"ldap duplicate username attributes", ldapSpec("userSearch={baseDN: dc=corp, usernameAttributes: [uid, uid]}"),
		"Duplicate value"},
	{"ldap without bind DN", ldapSpec("bindDN=''"),
		"spec.ldap.bindDN in body should be at least 1 chars long"},
	{"ldap zero pool", ldapSpec("") + "    maxConnections: 0\n",
		"should be greater than or equal to 1"},
	{"ldap timeout too short", ldapSpec("") + "    timeout: 10ms\n",
		"timeout must be a duration between 100ms and 60s, such as 5s"},
	{"active directory single-label domain", connectionHead + `spec:
  tenantRef: {name: acme}
  activeDirectory:
    domain: corp
    urls: [ldaps://dc1.corp.example]
    bindUsername: svc@corp.example
    bindPasswordSecretRef: {name: ad-bind, key: password}`,
		"domain must be a DNS domain such as corp.example.com"},
	{"adfs over http", adfsSpec("url: http://adfs.corp.example"),
		"url must be https://host[:port] of the federation service, without path, query or user name"},
	{"adfs URL with a path", adfsSpec("url: https://adfs.corp.example/adfs/ls"),
		"url must be https://host[:port] of the federation service, without path, query or user name"},
	{"adfs relying party not a URI", adfsSpec("relyingParty: gatehouse"),
		"relyingParty must be an absolute URI such as urn:gatehouse or https://gatehouse.corp.example/"},
	{"adfs oauth2 without a client", adfsSpec("mode: oauth2"),
		"oauth2 mode needs clientID: the client identifier of the ADFS application group's application"},
	{"adfs wsTrust with a client secret", adfsSpec("mode: wsTrust", "clientSecretRef: {name: adfs-client, key: secret}"),
		"clientSecretRef is for oauth2 mode; wsTrust mode authenticates with the user's password alone"},
	{"adfs unknown mode", adfsSpec("mode: saml", "clientID: c"),
		`Unsupported value: "saml": supported values: "oauth2", "wsTrust"`},

	{"azureAD common tenant", azureADSpec("tenant=common"),
		"tenant must be a tenant ID (a GUID) or a verified domain such as contoso.onmicrosoft.com; common, organizations and consumers are not tenants"},
	{"azureAD client ID not a GUID", azureADSpec("clientID=my-app"),
		"clientID must be the application (client) ID of the app registration, a GUID"},
	{"azureAD unknown cloud", azureADSpec("cloud=AzureGermany"),
		`Unsupported value: "AzureGermany": supported values: "AzurePublic", "AzureUSGovernment", "AzureChina"`},
	{"azureAD cloud and authority host", azureADSpec("cloud=AzureChina") + "    authorityHost: https://login.example\n",
		"set cloud or authorityHost, not both: authorityHost replaces the cloud's login host"},
	{"azureAD authority host over http", azureADSpec("authorityHost=http://login.example"),
		"authorityHost must be https://host[:port], without path, query or user information"},
	{"azureAD authority host with a tenant path", azureADSpec("authorityHost=https://login.example/contoso"),
		"authorityHost must be https://host[:port], without path, query or user information"},
	{"azureAD scope with a space", azureADSpec("scopes=['openid profile']"),
		"spec.azureAD.scopes[0] in body should match"},
	{"azureAD timeout too long", azureADSpec("timeout=2m"),
		"timeout must be a duration between 100ms and 60s, such as 10s"},

	// API
	{"api empty identifier", apiHead + "spec: {tenantRef: {name: acme}, identifier: ''}",
		"spec.identifier in body should be at least 1 chars long"},
	{"api identifier with whitespace", apiHead + "spec: {tenantRef: {name: acme}, identifier: 'https://some api'}",
		"identifier must not contain whitespace"},
	{"api scope with a space", apiHead + "spec: {tenantRef: {name: acme}, identifier: x, scopes: [{name: 'read sample'}]}",
		"scope names must not contain spaces, quotes or backslashes (RFC 6749 section 3.3)"},
	{"api duplicate scopes", apiHead + "spec: {tenantRef: {name: acme}, identifier: x, scopes: [{name: read}, {name: read}]}",
		"Duplicate value"},
	{"api tenant algorithm", apiHead + "spec: {tenantRef: {name: acme}, identifier: x, signingAlgorithm: ES256}",
		`Unsupported value: "ES256": supported values: "RS256", "HS256"`},
	{"api HS256 secret with RS256", apiHead + "spec: {tenantRef: {name: acme}, identifier: x, hs256SecretRef: {name: s, key: k}}",
		"hs256SecretRef is only used with signingAlgorithm: HS256"},
	{"api token lifetime over 30 days", apiHead + "spec: {tenantRef: {name: acme}, identifier: x, tokenLifetime: 800h}",
		"tokenLifetime must be a duration such as 1h, more than 0s and at most 720h (30 days)"},

	// Client
	{"client unsupported grant", clientHead + "spec: {tenantRef: {name: acme}, grantTypes: [implicit]}",
		`Unsupported value: "implicit"`},
	{"public client with client_credentials", clientHead + "spec: {tenantRef: {name: acme}, type: public, grantTypes: [client_credentials]}",
		"client_credentials needs a confidential client: a public client has no secret, so anyone could get its tokens"},
	{"client without grants", clientHead + "spec: {tenantRef: {name: acme}, grantTypes: []}",
		"should have at least 1 items"},
	{"client duplicate grants", clientHead + "spec: {tenantRef: {name: acme}, grantTypes: [password, password]}",
		"Duplicate value"},
	{"client unknown type", clientHead + "spec: {tenantRef: {name: acme}, type: secret}",
		`Unsupported value: "secret": supported values: "confidential", "public"`},
	{"client credentials secret not a name", clientHead + "spec: {tenantRef: {name: acme}, credentialsSecretName: Bad_Name}",
		"credentialsSecretName must be a lowercase DNS name such as reporting-job-credentials"},
	{"public client trusting auth0-forwarded-for", clientHead + "spec: {tenantRef: {name: acme}, type: public, trustForwardedFor: true}",
		"trustForwardedFor needs a confidential client: a public client has no secret, so anyone could claim to be it"},
	{"client grant of an API not named by a DNS name", clientHead + "spec: {tenantRef: {name: acme}, apis: [{name: Sample}]}",
		"apis[].name must be the name of an API object, a lowercase DNS name such as sample"},
	{"public client bound to a ServiceAccount", clientHead + "spec: {tenantRef: {name: acme}, type: public, serviceAccountRef: {name: reporter}}",
		"serviceAccountRef needs a confidential client"},
	{"client bound to a ServiceAccount not named by a DNS name", clientHead + "spec: {tenantRef: {name: acme}, serviceAccountRef: {name: 'system:anonymous'}}",
		"serviceAccountRef.name must be a lowercase DNS name such as reporting-job"},
	{"client granted one API twice", clientHead + "spec: {tenantRef: {name: acme}, apis: [{name: sample}, {name: sample}]}",
		"Duplicate value"},
}

// adfsSpec is a Connection of an adfs directory with fields, each "key: value", set
// over a valid wsTrust base.
func adfsSpec(fields ...string) string {
	base := map[string]string{"url": "https://adfs.corp.example", "relyingParty": "urn:gatehouse", "mode": "wsTrust"}
	extra := []string{}
	for _, f := range fields {
		key, value, _ := strings.Cut(f, ": ")
		if _, ok := base[key]; ok {
			base[key] = value
		} else {
			extra = append(extra, f)
		}
	}
	out := connectionHead + "spec:\n  tenantRef: {name: acme}\n  adfs:\n"
	for _, key := range []string{"url", "relyingParty", "mode"} {
		out += "    " + key + ": " + base[key] + "\n"
	}
	for _, f := range extra {
		out += "    " + f + "\n"
	}
	return out
}

func TestInvalidManifestsAreRefused(t *testing.T) {
	if len(invalidCases) < 25 {
		t.Fatalf("only %d invalid manifests; the table must keep at least 25", len(invalidCases))
	}
	ns := newNamespace(t)
	for _, tc := range invalidCases {
		t.Run(tc.name, func(t *testing.T) {
			err := env.Client.Create(context.Background(), object(t, ns, tc.manifest), client.DryRunAll)
			if err == nil {
				t.Fatalf("the API server accepted:\n%s", tc.manifest)
			}
			if !strings.Contains(err.Error(), tc.message) {
				t.Errorf("refused with\n  %v\nwant a message containing\n  %s", err, tc.message)
			}
		})
	}
}

func TestTenantRefIsImmutable(t *testing.T) {
	ns := newNamespace(t)
	manifests := []string{
		connectionHead + "spec: {tenantRef: {name: acme}, database: {usersSecretRef: {name: u, key: users.yaml}}}",
		apiHead + "spec: {tenantRef: {name: acme}, identifier: https://someapi.com/api}",
		clientHead + "spec: {tenantRef: {name: acme}}",
	}
	for _, manifest := range manifests {
		obj := object(t, ns, manifest)
		t.Run(obj.GetKind(), func(t *testing.T) {
			ctx := context.Background()
			if err := env.Client.Create(ctx, obj); err != nil {
				t.Fatal(err)
			}
			if err := unstructured.SetNestedField(obj.Object, "other", "spec", "tenantRef", "name"); err != nil {
				t.Fatal(err)
			}
			err := env.Client.Update(ctx, obj)
			const want = "tenantRef is immutable; delete and recreate the object to move it to another Tenant"
			if err == nil || !strings.Contains(err.Error(), want) {
				t.Errorf("changing tenantRef: got %v, want an error containing %q", err, want)
			}
		})
	}
}

// TestEveryRuleMessageIsTested keeps the table honest: every CEL rule of every CRD must
// be exercised by a case that expects its message, so that removing a rule fails a test.
func TestEveryRuleMessageIsTested(t *testing.T) {
	var expected []string
	for _, tc := range invalidCases {
		expected = append(expected, tc.message)
	}
	expected = append(expected, "tenantRef is immutable; delete and recreate the object to move it to another Tenant")

	// This package's group only: the token server's own kinds are not users' API.
	files, err := filepath.Glob(filepath.Join(kubetest.RepoRoot(), "config", "crd", "bases", identityv1alpha1.GroupVersion.Group+"_*.yaml"))
	if err != nil || len(files) != 4 {
		t.Fatalf("want the 4 CRDs of %s in config/crd/bases, found %d (%v)", identityv1alpha1.GroupVersion.Group, len(files), err)
	}
	for _, file := range files {
		data, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		var crd apiextensionsv1.CustomResourceDefinition
		if err := yaml.Unmarshal(data, &crd); err != nil {
			t.Fatal(err)
		}
		for _, message := range ruleMessages(crd.Spec.Versions[0].Schema.OpenAPIV3Schema) {
			if !containsPrefixOf(expected, message) {
				t.Errorf("%s: no invalid manifest expects the rule message %q", crd.Name, message)
			}
		}
	}
}

func ruleMessages(s *apiextensionsv1.JSONSchemaProps) []string {
	if s == nil {
		return nil
	}
	var out []string
	for _, rule := range s.XValidations {
		out = append(out, rule.Message)
	}
	for _, p := range s.Properties {
		out = append(out, ruleMessages(&p)...)
	}
	if s.Items != nil {
		out = append(out, ruleMessages(s.Items.Schema)...)
	}
	return out
}

// containsPrefixOf reports whether an expected message is message or a leading part of it.
func containsPrefixOf(expected []string, message string) bool {
	for _, e := range expected {
		if strings.HasPrefix(message, e) {
			return true
		}
	}
	return false
}
