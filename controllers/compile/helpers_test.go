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

package compile_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	identityv1alpha1 "github.com/gatehouse-dev/gatehouse/api/v1alpha1"
	"github.com/gatehouse-dev/gatehouse/controllers/compile"
)

// The namespace of every object these tests compile.
const namespace = "team-a"

// referable is a Secret of namespace that users opted in to be referenced.
func referable(name string, data map[string]string) *corev1.Secret {
	s := unlabelled(name, data)
	s.Labels = map[string]string{identityv1alpha1.LabelReferable: "true"}
	return s
}

// unlabelled is a Secret of namespace without the opt-in label.
func unlabelled(name string, data map[string]string) *corev1.Secret {
	s := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: name}, Data: map[string][]byte{}}
	for k, v := range data {
		s.Data[k] = []byte(v)
	}
	return s
}

// controlledBy makes owner the controller of s, as the controller writes its Secrets.
func controlledBy(owner metav1.Object, s *corev1.Secret) *corev1.Secret {
	s.OwnerReferences = []metav1.OwnerReference{{Name: owner.GetName(), UID: owner.GetUID(), Controller: ptr.To(true)}}
	return s
}

// secretsOf is the compile.Secrets holding secrets.
func secretsOf(secrets ...*corev1.Secret) compile.Secrets {
	out := compile.Secrets{}
	for _, s := range secrets {
		out[s.Name] = s
	}
	return out
}

// checkProblem fails t unless err is a compile.Problem with reason and message, or nil
// when reason is empty.
func checkProblem(t *testing.T, err error, reason, message string) {
	t.Helper()
	if reason == "" {
		if err != nil {
			t.Fatalf("got %v, want no problem", err)
		}
		return
	}
	p, ok := compile.AsProblem(err)
	if !ok {
		t.Fatalf("got %v, want a %s problem", err, reason)
	}
	if p.Reason != reason || p.Message != message {
		t.Fatalf("got %s: %s\nwant %s: %s", p.Reason, p.Message, reason, message)
	}
}

// certificatePEM is a self-signed CA certificate in PEM.
func certificatePEM(t *testing.T) string {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "directory CA"},
		NotBefore: time.Now(), NotAfter: time.Now().Add(time.Hour), IsCA: true, BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))
}
