package systemtest

import (
	"context"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	identityv1alpha1 "github.com/gatehouse-dev/gatehouse/api/v1alpha1"
	"github.com/gatehouse-dev/gatehouse/tokenserver/tokenclient"
)

// WorkloadPod creates the ServiceAccount serviceAccount of namespace, unless it exists,
// and a Pod named name running as it, as a Job's Pod would. The Pod never starts (no
// kubelet runs here); it exists, which is what a token bound to it needs.
func (cl Cluster) WorkloadPod(t testing.TB, namespace, serviceAccount, name string) *corev1.Pod {
	t.Helper()
	sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: serviceAccount}}
	if err := cl.Client.Create(context.Background(), sa); err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatal(err)
	}
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: name},
		Spec: corev1.PodSpec{
			ServiceAccountName: serviceAccount,
			RestartPolicy:      corev1.RestartPolicyNever,
			Containers:         []corev1.Container{{Name: "job", Image: "gatehouse"}},
		},
	}
	cl.Create(t, pod)
	return pod
}

// ProjectedToken is what the kubelet writes into a projected serviceAccountToken volume
// of pod with audience: a token of the Pod's ServiceAccount for audience, bound to the Pod,
// by a TokenRequest.
func (cl Cluster) ProjectedToken(t testing.TB, pod *corev1.Pod, audience string) string {
	t.Helper()
	return cl.ServiceAccountToken(t, pod.Namespace, pod.Spec.ServiceAccountName, audience, &authenticationv1.BoundObjectReference{
		Kind: "Pod", APIVersion: "v1", Name: pod.Name, UID: pod.UID,
	})
}

// ServiceAccountToken is a TokenRequest's token of a ServiceAccount for audience ("" for
// the API server's own), bound to bound when not nil, valid ten minutes.
func (cl Cluster) ServiceAccountToken(t testing.TB, namespace, serviceAccount, audience string, bound *authenticationv1.BoundObjectReference) string {
	t.Helper()
	req := &authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{
		ExpirationSeconds: ptr.To[int64](600), BoundObjectRef: bound,
	}}
	if audience != "" {
		req.Spec.Audiences = []string{audience}
	}
	sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: serviceAccount}}
	if err := cl.Client.SubResource("token").Create(context.Background(), sa, req); err != nil {
		t.Fatalf("TokenRequest for %s/%s: %v", namespace, serviceAccount, err)
	}
	return req.Status.Token
}

// Gatehouse is a command running the built gatehouse binary with args and no environment
// beyond PATH, as a Job's container runs it.
func (s *System) Gatehouse(ctx context.Context, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, s.binary, args...) //nolint:gosec // the binary Main built
	cmd.Env = []string{"PATH=" + os.Getenv("PATH")}
	return cmd
}

// WriteProjectedToken writes token where a projected volume would put it, in a directory
// of the test's, and returns its path.
func WriteProjectedToken(t testing.TB, token string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "gatehouse")
	if err := os.WriteFile(path, []byte(token), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// ServiceAccountClient is a Client of the sample Tenant acme bound to serviceAccount, with
// client_credentials for read:sample of the sample API.
func ServiceAccountClient(namespace, name, serviceAccount string) *identityv1alpha1.Client {
	return &identityv1alpha1.Client{
		ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: name},
		Spec: identityv1alpha1.ClientSpec{
			TenantRef:         identityv1alpha1.TenantReference{Name: "acme"},
			GrantTypes:        []identityv1alpha1.GrantType{identityv1alpha1.GrantTypeClientCredentials},
			APIs:              []identityv1alpha1.ClientAPIGrant{{Name: "sample", Scopes: []string{"read:sample"}}},
			ServiceAccountRef: &identityv1alpha1.ServiceAccountReference{Name: serviceAccount},
		},
	}
}

// AssertionToken runs client_credentials for audience, the client authenticated by
// assertion, a ServiceAccount token.
func (c Credentials) AssertionToken(ctx context.Context, assertion, audience string) (tokenclient.Response, error) {
	token, _, err := tokenclient.Fetch(ctx, &http.Client{Timeout: requestTimeout}, tokenclient.Request{
		Credentials:       tokenclient.Credentials{ClientID: c["client_id"], TokenURL: c["token_url"]},
		Assertion:         assertion,
		ClientCredentials: true,
		Audience:          audience,
	})
	return token, err
}
