package systemtest

import (
	"cmp"
	"fmt"
	"path/filepath"
	"testing"

	"golang.org/x/crypto/bcrypt"
	corev1 "k8s.io/api/core/v1"
	k8sruntime "k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	identityv1alpha1 "github.com/gatehouse-dev/gatehouse/api/v1alpha1"
	"github.com/gatehouse-dev/gatehouse/test/kubetest"
)

// sampleUsersKey is the key of the sample users Secret that holds the users.
const sampleUsersKey = "users.yaml"

// Samples are the objects of config/samples in one namespace, with the ones the callers
// look into picked out.
type Samples struct {
	// Objects are all of them, in the kustomization's order, to create.
	Objects []client.Object
	// Tenant, Client, API and Users (the users Secret of the database Connection) are
	// the first of their kind; API is nil when the samples have none.
	Tenant *identityv1alpha1.Tenant
	Client *identityv1alpha1.Client
	API    *identityv1alpha1.API
	Users  *corev1.Secret
	// User is the name of the sample user, once SetPassword has given it a password.
	User string
}

// SamplesDir is config/samples.
func SamplesDir() string {
	return filepath.Join(kubetest.RepoRoot(), "config", "samples")
}

// ReadSamples reads the samples of dir, a kustomization such as SamplesDir, into
// namespace.
func ReadSamples(dir, namespace string) (*Samples, error) {
	objs, err := kubetest.ReadKustomization(dir)
	if err != nil {
		return nil, err
	}
	scheme := identityv1alpha1.NewScheme()
	s := &Samples{}
	for _, u := range objs {
		typed, err := scheme.New(u.GroupVersionKind())
		if err != nil {
			return nil, fmt.Errorf("%s %s of %s: %w", u.GetKind(), u.GetName(), dir, err)
		}
		if err := k8sruntime.DefaultUnstructuredConverter.FromUnstructured(u.Object, typed); err != nil {
			return nil, fmt.Errorf("%s %s of %s: %w", u.GetKind(), u.GetName(), dir, err)
		}
		obj, ok := typed.(client.Object)
		if !ok {
			return nil, fmt.Errorf("%s %s of %s is not an object", u.GetKind(), u.GetName(), dir)
		}
		obj.SetNamespace(namespace)
		s.Objects = append(s.Objects, obj)
		switch o := obj.(type) {
		case *identityv1alpha1.Tenant:
			s.Tenant = cmp.Or(s.Tenant, o)
		case *identityv1alpha1.Client:
			s.Client = cmp.Or(s.Client, o)
		case *identityv1alpha1.API:
			s.API = cmp.Or(s.API, o)
		case *corev1.Secret:
			s.Users = cmp.Or(s.Users, o)
		}
	}
	if s.Tenant == nil || s.Client == nil || s.Users == nil {
		return nil, fmt.Errorf("%s needs a Tenant, a Client and a users Secret", dir)
	}
	return s, nil
}

// SetPassword gives the first user of the users Secret, the sample user, a hash of
// password at bcrypt cost (bcrypt.MinCost for tests that log in often, DefaultCost for
// people), and records the user's name: the committed sample holds a hash of a password
// nobody knows.
func (s *Samples) SetPassword(password string, cost int) error {
	var users []map[string]any
	if err := yaml.Unmarshal([]byte(s.Users.StringData[sampleUsersKey]), &users); err != nil || len(users) == 0 {
		return fmt.Errorf("the sample Secret %s has no users in %s", s.Users.Name, sampleUsersKey)
	}
	hash, err := bcrypt.GenerateFromPassword([]byte(password), cost)
	if err != nil {
		return err
	}
	users[0]["passwordHash"] = string(hash)
	data, err := yaml.Marshal(users)
	if err != nil {
		return err
	}
	s.Users.StringData[sampleUsersKey] = string(data)
	s.User, _ = users[0]["username"].(string)
	return nil
}

// Audience is the identifier of the sample API, if there is one.
func (s *Samples) Audience() string {
	if s.API == nil {
		return ""
	}
	return s.API.Spec.Identifier
}

// Scope asks for the OpenID scopes and every scope of the sample API.
func (s *Samples) Scope() string {
	scope := "openid profile email"
	if s.API != nil {
		for _, sc := range s.API.Spec.Scopes {
			scope += " " + sc.Name
		}
	}
	return scope
}

// ApplySamples creates config/samples in namespace, with the sample user's password hash
// replaced by one of password.
func (cl Cluster) ApplySamples(t testing.TB, namespace, password string) {
	t.Helper()
	samples, err := ReadSamples(SamplesDir(), namespace)
	if err != nil {
		t.Fatal(err)
	}
	if err := samples.SetPassword(password, bcrypt.MinCost); err != nil {
		t.Fatal(err)
	}
	cl.Create(t, samples.Objects...)
}
