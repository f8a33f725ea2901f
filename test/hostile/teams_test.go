package hostile_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	identityv1alpha1 "github.com/gatehouse-dev/gatehouse/api/v1alpha1"
	"github.com/gatehouse-dev/gatehouse/test/kubetest"
	"github.com/gatehouse-dev/gatehouse/test/proctest"
	"github.com/gatehouse-dev/gatehouse/test/systemtest"
	"github.com/gatehouse-dev/gatehouse/tokenserver/snapshot"
	"github.com/gatehouse-dev/gatehouse/tokenserver/tokentest"
)

// The two teams' users, as a cluster's authenticator names them. Neither is in any group
// but system:authenticated.
const (
	victimUser   = "alice@team-b"
	attackerUser = "mallory"
)

// The domains each team's namespace may claim: mallory may claim anything under .test,
// so that a refusal of hers is Gatehouse's doing, not the policy's.
const (
	victimDomains   = "login.b.test,*.b.test"
	attackerDomains = "*.test"
)

// loginTimeout bounds one login: generous on a loaded machine, where a flood queues
// logins, yet a login that never comes still fails.
const loginTimeout = 30 * time.Second

var sys *systemtest.System

func TestMain(m *testing.M) {
	systemtest.Main(m, &sys, kubetest.WithControllerManager())
}

// team is a namespace user: it holds the built-in edit ClusterRole in its own namespace
// and nothing else, and the embedded System creates and reads objects as that user.
type team struct {
	*systemtest.System
	user, namespace string
}

// newTeams makes the victim, team-b, and the attacker, mallory, for one attack: each a
// namespace named after the attack (so that what one test leaves behind cannot change
// another's outcome) in which its user holds edit, annotated by the admin with the
// domains it may claim.
func newTeams(t *testing.T, attack string) (victim, attacker *team) {
	t.Helper()
	return newTeam(t, victimUser, "team-b-"+attack, victimDomains), newTeam(t, attackerUser, "mallory-"+attack, attackerDomains)
}

func newTeam(t *testing.T, user, namespace, allowedDomains string) *team {
	t.Helper()
	sys.Create(t,
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: namespace, Annotations: map[string]string{identityv1alpha1.AnnotationAllowedDomains: allowedDomains}}},
		&rbacv1.RoleBinding{
			ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: "edit"},
			RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: "edit"},
			Subjects:   []rbacv1.Subject{{APIGroup: rbacv1.GroupName, Kind: rbacv1.UserKind, Name: user}},
		})
	return &team{System: sys.As(t, user), user: user, namespace: namespace}
}

// gatehouse is the controller and token server one test runs.
type gatehouse struct {
	*systemtest.TokenServer
	// externalHost is the token server's external URL's host, which the controller puts
	// in the issuers of Tenants without a domain.
	externalHost string
	// http reaches the token server at any host, as its load balancer does.
	http *http.Client
}

// startGatehouse starts a token server with more flags and a controller whose
// token-server URL is http://tokens.<attack>.test, a host of the test's own (so that a
// claim on it left behind by another test changes nothing here), and waits until the
// token server is ready.
func startGatehouse(t *testing.T, attack string, tokenServerFlags ...string) *gatehouse {
	t.Helper()
	ts := sys.StartTokenServerAt(t, proctest.MustFreeAddress(t), proctest.MustFreeAddress(t), tokenServerFlags...)
	g := &gatehouse{TokenServer: ts, externalHost: "tokens." + attack + ".test", http: ts.HTTPClient(nil)}
	sys.StartController(t, "http://"+g.externalHost)
	ts.WaitReady(t)
	return g
}

// from is an HTTP client of the token server whose requests come from address, by the
// X-Forwarded-For that a token server started with --trusted-proxies=127.0.0.1 believes.
func (g *gatehouse) from(address string) *http.Client {
	return g.HTTPClient(http.Header{"X-Forwarded-For": {address}})
}

// issuer is what a team declares to log its users in: a Tenant, a database Connection
// (its default directory) of one user, the users Secret, labelled referable, and a
// confidential Client.
type issuer struct {
	tenant     *identityv1alpha1.Tenant
	connection *identityv1alpha1.Connection
	users      *corev1.Secret
	client     *identityv1alpha1.Client
	// username logs in with password.
	username, password string
	// creds are the Client's, once served.
	creds systemtest.Credentials
}

// newIssuer declares an issuer named name in namespace, whose user has a random
// password hashed with bcrypt's lowest cost, which keeps logins cheap.
func newIssuer(t *testing.T, namespace, name string) *issuer {
	t.Helper()
	is := &issuer{
		tenant: &identityv1alpha1.Tenant{
			ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: name},
			Spec:       identityv1alpha1.TenantSpec{DefaultDirectory: name + "-users"},
		},
		connection: &identityv1alpha1.Connection{
			ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: name + "-users"},
			Spec: identityv1alpha1.ConnectionSpec{
				TenantRef: identityv1alpha1.TenantReference{Name: name},
				Database: &identityv1alpha1.DatabaseConnection{
					UsersSecretRef: identityv1alpha1.SecretKeySelector{Name: name + "-users", Key: "users.yaml"},
				},
			},
		},
		users: &corev1.Secret{ObjectMeta: metav1.ObjectMeta{
			Namespace: namespace, Name: name + "-users", Labels: map[string]string{identityv1alpha1.LabelReferable: "true"},
		}},
		client: &identityv1alpha1.Client{
			ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: name + "-app"},
			Spec:       identityv1alpha1.ClientSpec{TenantRef: identityv1alpha1.TenantReference{Name: name}},
		},
		username: "user@" + name + ".example",
		password: tokentest.Random(t),
	}
	is.setUsers(t, snapshot.User{ID: name + "-user", Username: is.username, PasswordHash: tokentest.Hash(t, is.password, bcrypt.MinCost)})
	return is
}

// setUsers replaces the users of the users Secret, before the issuer is created.
func (is *issuer) setUsers(t *testing.T, users ...snapshot.User) {
	t.Helper()
	data, err := json.Marshal(users) // YAML is a superset of JSON
	if err != nil {
		t.Fatal(err)
	}
	is.users.Data = map[string][]byte{"users.yaml": data}
}

// create creates the issuer's objects as the team.
func (tm *team) create(t *testing.T, is *issuer) {
	t.Helper()
	tm.Create(t, is.users, is.tenant, is.connection, is.client)
}

// serve creates the issuer as the team and waits until it is served.
func (tm *team) serve(t *testing.T, g *gatehouse, is *issuer) {
	t.Helper()
	tm.create(t, is)
	tm.waitServed(t, g, is)
}

// waitServed waits until the issuer is Ready and the token server logs its user in.
func (tm *team) waitServed(t *testing.T, g *gatehouse, is *issuer) {
	t.Helper()
	tm.WaitReady(t, is.tenant, is.connection, is.client)
	is.creds = tm.Credentials(t, is.client)
	systemtest.Eventually(t, "the token server logs in the user of "+is.tenant.Namespace+"/"+is.tenant.Name, func() error {
		return is.login(g.http, is.username, is.password).is(http.StatusOK, "")
	})
}

// outcome is the answer to a login, or the error of a login that got none.
type outcome struct {
	systemtest.Answer
	err error
}

// is says how the outcome differs from an answer of status and error code; nil when
// it does not.
func (o outcome) is(status int, code string) error {
	switch {
	case o.err != nil:
		return fmt.Errorf("no answer: %w", o.err)
	case o.Status != status || o.Code != code:
		return fmt.Errorf("answered %v, want %d %s", o.Answer, status, code)
	}
	return nil
}

// login runs a password grant of the issuer's Client through client.
func (is *issuer) login(client *http.Client, username, password string) outcome {
	ctx, cancel := context.WithTimeout(context.Background(), loginTimeout)
	defer cancel()
	_, err := is.creds.PasswordTokenWith(systemtest.WithHTTPClient(ctx, client), username, password)
	if answer, ok := systemtest.AnswerOf(err); ok {
		return outcome{Answer: answer}
	}
	return outcome{err: err}
}

// expectLogin fails the test unless the issuer's user logs in, when (after an attack).
func (is *issuer) expectLogin(t *testing.T, g *gatehouse, when string) {
	t.Helper()
	if err := is.login(g.http, is.username, is.password).is(http.StatusOK, ""); err != nil {
		t.Errorf("%s: %s of %s/%s cannot log in: %v", when, is.username, is.tenant.Namespace, is.tenant.Name, err)
	}
}
