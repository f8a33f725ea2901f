package faults_test

import (
	"crypto/rand"
	"errors"
	"testing"
	"time"

	"golang.org/x/oauth2"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	identityv1alpha1 "github.com/gatehouse-dev/gatehouse/api/v1alpha1"
	"github.com/gatehouse-dev/gatehouse/test/kubetest"
	"github.com/gatehouse-dev/gatehouse/test/systemtest"
)

// sampleUser logs in to the sample tenant (config/samples).
const sampleUser = "user@example.com"

var sys *systemtest.System

// TestMain runs the suite on kube-controller-manager too, as a cluster has it: its
// garbage collector and namespace controller must survive the faults as Gatehouse does.
func TestMain(m *testing.M) {
	systemtest.Main(m, &sys, kubetest.WithControllerManager())
}

// sample is the sample tenant of config/samples, applied in a namespace of its own.
type sample struct {
	tenant   *identityv1alpha1.Tenant
	client   *identityv1alpha1.Client
	creds    systemtest.Credentials
	password string
}

// applySample applies config/samples in namespace and waits until the token server
// issues tokens for its Client.
func applySample(t *testing.T, namespace string) *sample {
	t.Helper()
	s := createSample(t, namespace)
	s.waitServed(t)
	return s
}

// createSample applies config/samples in namespace.
func createSample(t *testing.T, namespace string) *sample {
	t.Helper()
	s := &sample{
		tenant:   &identityv1alpha1.Tenant{ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: "acme"}},
		client:   &identityv1alpha1.Client{ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: "reporting-job"}},
		password: rand.Text(),
	}
	sys.CreateNamespace(t, namespace)
	sys.ApplySamples(t, namespace, s.password)
	return s
}

// waitServed waits until the sample is Ready and the token server issues tokens for its
// Client.
func (s *sample) waitServed(t *testing.T) {
	t.Helper()
	sys.WaitReady(t, s.tenant, s.client)
	s.creds = sys.Credentials(t, s.client)
	systemtest.Eventually(t, "the token server serves the tenant of "+s.tenant.Namespace, func() error {
		_, err := s.token()
		return err
	})
}

// token gets a token for the sample user.
func (s *sample) token() (*oauth2.Token, error) {
	return s.creds.PasswordToken(sampleUser, s.password)
}

// mustToken gets a token for the sample user, failing the test when it cannot.
func (s *sample) mustToken(t *testing.T, when string) *oauth2.Token {
	t.Helper()
	tok, err := s.token()
	if err != nil {
		t.Fatalf("%s: no token: %v", when, err)
	}
	return tok
}

// keepIssuing asks for a token every interval for a while and fails the test at the
// first request that does not get one.
func (s *sample) keepIssuing(t *testing.T, when string, requests int, interval time.Duration) {
	t.Helper()
	for range requests {
		s.mustToken(t, when)
		time.Sleep(interval)
	}
}

// oauthError is the HTTP status and RFC 6749 error code of a failed token request.
func oauthError(err error) (status int, code string) {
	var re *oauth2.RetrieveError
	if !errors.As(err, &re) {
		return 0, ""
	}
	return re.Response.StatusCode, re.ErrorCode
}
