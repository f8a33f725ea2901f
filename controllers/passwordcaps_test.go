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

package controllers_test

import (
	"encoding/base64"
	"fmt"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	identityv1alpha1 "github.com/gatehouse-dev/gatehouse/api/v1alpha1"
	"github.com/gatehouse-dev/gatehouse/tokenserver/password"
)

// TestUsersOverTheCaps: a users Secret with a hash one past a cap of the token server
// (the controller runs with the default caps, those of a 512Mi token server) makes its
// Connection Ready=False with a message that names the user, the parameter and the cap,
// and the Tenant serves without it; a hash at the cap is Ready.
func TestUsersOverTheCaps(t *testing.T) {
	s := newSample(t, nil)
	ns := s.tenant.Namespace
	maxM := password.DefaultCaps().Argon2idMaxMemoryKiB
	// Parameters only: the controller computes no hash, so the values need not be real.
	zeros := base64.RawStdEncoding.EncodeToString(make([]byte, 16))
	argon2id := func(m uint32) string {
		return fmt.Sprintf("$argon2id$v=19$m=%d,t=1,p=1$%s$%s", m, zeros, zeros)
	}
	users := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "heavy-users", Labels: map[string]string{identityv1alpha1.LabelReferable: "true"}},
		Data: map[string][]byte{"users.yaml": fmt.Appendf(nil, "- {username: mallory, passwordHash: '%s'}\n- {username: alice, passwordHash: '%s'}\n",
			argon2id(maxM+1), testHash)},
	}
	conn := &identityv1alpha1.Connection{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "heavy"},
		Spec: identityv1alpha1.ConnectionSpec{
			TenantRef: identityv1alpha1.TenantReference{Name: "acme"},
			Database:  &identityv1alpha1.DatabaseConnection{UsersSecretRef: identityv1alpha1.SecretKeySelector{Name: users.Name, Key: "users.yaml"}},
		},
	}
	create(t, users, conn)

	c := waitCondition(t, conn, metav1.ConditionFalse, identityv1alpha1.ReasonInvalidSecret)
	want := fmt.Sprintf(`user "mallory": argon2id memory (m) %d KiB is over the cap %d KiB`, maxM+1, maxM)
	if !strings.Contains(c.Message, want) || strings.Contains(c.Message, `"alice"`) {
		t.Errorf("message %q: want it to name mallory's hash and its cap (%s), and not alice", c.Message, want)
	}
	waitReady(t, s.tenant)
	get(t, s.tenant)
	if s.tenant.Status.Connections != 1 {
		t.Errorf("%d connections served, want 1: not the one over the caps", s.tenant.Status.Connections)
	}

	update(t, users, func(sec *corev1.Secret) {
		sec.Data["users.yaml"] = fmt.Appendf(nil, "- {username: mallory, passwordHash: '%s'}\n", argon2id(maxM))
	})
	waitReady(t, conn)
}
