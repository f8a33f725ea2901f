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

package controllers

import (
	"cmp"
	"context"
	"errors"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	identityv1alpha1 "github.com/gatehouse-dev/gatehouse/api/v1alpha1"
	"github.com/gatehouse-dev/gatehouse/controllers/compile"
	"github.com/gatehouse-dev/gatehouse/tokenserver/snapshot"
)

// Random sizes: a client_id of 32 URL-safe characters, a client secret of 256 bits.
const (
	clientIDBytes     = 24
	clientSecretBytes = 32
)

// ClientReconciler gives Clients their client_id and, for confidential ones, a secret,
// and writes their credentials Secret.
type ClientReconciler struct {
	base
}

// +kubebuilder:rbac:groups=identity.gatehouse.dev,resources=clients,verbs=get;list;watch
// +kubebuilder:rbac:groups=identity.gatehouse.dev,resources=clients/status,verbs=get;patch;update

// Reconcile makes sure one Client has its client_id and credentials Secret and writes
// its status. Deleting the credentials Secret issues a new client secret.
func (r *ClientReconciler) Reconcile(ctx context.Context, req reconcile.Request) (reconcile.Result, error) {
	return reconcileChild(ctx, &r.base, req, func(c *identityv1alpha1.Client, checkpoint func() error) (reconcile.Result, error) {
		err := r.reconcileClient(ctx, c, checkpoint)
		var result reconcile.Result
		if p, ok := compile.AsProblem(err); ok && p.Reason == compile.ReasonSecretConflict {
			// The cache holds only the controller's Secrets, so no event says when the
			// user's goes: look again now and then.
			result.RequeueAfter = recheckSecretConflict
		}
		return result, r.setReady(c, &c.Status.CommonStatus, "the client is served; its credentials are in Secret "+c.Status.CredentialsSecretName, err)
	})
}

// recheckSecretConflict is how often a Client whose credentials Secret is someone
// else's looks whether it is gone.
const recheckSecretConflict = 30 * time.Second

// reconcileClient issues the Client's credentials or keeps those it issued. The
// credentials are the controller's own, never taken from a Secret it did not write:
// status records their digest before the Secret holding them is written, and a
// credentials Secret that does not match it is a SecretConflict, whatever its owner
// references say (anyone who may create Secrets in the namespace can write those).
func (r *ClientReconciler) reconcileClient(ctx context.Context, c *identityv1alpha1.Client, checkpoint func() error) error {
	tenant, err := r.tenantOf(ctx, c.Namespace, c.Spec.TenantRef.Name)
	if err != nil {
		return err
	}
	name := compile.CredentialsSecretName(c)
	existing, err := r.ownedSecret(ctx, c, name)
	if err != nil {
		return err
	}
	clientID, secret, err := r.credentialsOf(ctx, c, existing)
	if err != nil {
		return err
	}
	issued := false
	if clientID == "" {
		clientID = cmp.Or(c.Status.ClientID, randomString(clientIDBytes))
	}
	if compile.HasSecret(c) && secret == "" {
		secret, issued = randomString(clientSecretBytes), true
	} else if !compile.HasSecret(c) {
		secret = ""
	}
	recordedID, recordedDigest := c.Status.ClientID, c.Status.CredentialsDigest
	if digest := compile.CredentialsDigest(clientID, secret); digest != c.Status.CredentialsDigest || c.Status.ClientID != clientID {
		c.Status.ClientID, c.Status.CredentialsDigest, c.Status.CredentialsSecretName = clientID, digest, name
		if err := checkpoint(); err != nil {
			return err
		}
	}
	issuer := r.compiler().Issuer(tenant)
	data := map[string][]byte{
		compile.CredentialsClientID: []byte(clientID),
		compile.CredentialsIssuer:   []byte(issuer),
		compile.CredentialsTokenURL: []byte(snapshot.TokenURL(issuer)),
	}
	if secret != "" {
		data[compile.CredentialsClientSecret] = []byte(secret)
	}
	labels, annotations := userSecretMeta(snapshot.ComponentClientCredentials, c.Namespace, tenant.Name)
	if err := r.write(ctx, desiredSecret{
		Namespace: c.Namespace, Name: name, Labels: labels, Annotations: annotations, Data: data, Owner: c,
	}, existing); err != nil {
		if apierrors.IsAlreadyExists(err) && recordedDigest != c.Status.CredentialsDigest {
			// Another controller wrote the Secret after recording the credentials whose
			// record this one just replaced: give the record back, so that its Secret
			// matches again (a Secret anyone else wrote matches neither).
			c.Status.ClientID, c.Status.CredentialsDigest = recordedID, recordedDigest
			err = errors.Join(err, checkpoint())
		}
		return err
	}
	c.Status.CredentialsSecretName = name
	if issued {
		r.Recorder.Eventf(c, nil, corev1.EventTypeNormal, ReasonClientSecretIssued, "IssueSecret",
			"issued a new client secret in Secret %s", name)
	}
	return r.checkGrants(ctx, c)
}

// errStaleClient says that a Client read from the cache is older than the one stored.
var errStaleClient = errors.New("the cached Client is older than the stored one; reading it again")

// credentialsOf is compile.IssuedCredentials, with a conflict confirmed against the
// Client as the API server stores it: a cache that has not seen the digest of
// credentials just issued must not make them look planted. A Client whose stored status
// differs is errStaleClient, retried.
func (b *base) credentialsOf(ctx context.Context, c *identityv1alpha1.Client, existing *corev1.Secret) (clientID, secret string, err error) {
	clientID, secret, err = compile.IssuedCredentials(c, existing)
	if _, conflict := compile.AsProblem(err); !conflict {
		return clientID, secret, err
	}
	var stored identityv1alpha1.Client
	if gerr := b.APIReader.Get(ctx, client.ObjectKeyFromObject(c), &stored); gerr != nil {
		if apierrors.IsNotFound(gerr) {
			return "", "", err
		}
		return "", "", gerr
	}
	if stored.Status.CredentialsDigest != c.Status.CredentialsDigest || stored.Status.ClientID != c.Status.ClientID {
		return "", "", errStaleClient
	}
	return "", "", err
}

func (r *ClientReconciler) setup(mgr ctrl.Manager, opts controller.Options, secrets userSecrets) error {
	return ctrl.NewControllerManagedBy(mgr).
		For(&identityv1alpha1.Client{}).
		WatchesRawSource(secrets.generatedFor(ownedBy(mgr, &identityv1alpha1.Client{}))).
		Watches(&identityv1alpha1.Tenant{}, childrenOf(mgr.GetClient(), &identityv1alpha1.ClientList{}),
			builder.WithPredicates(predicate.GenerationChangedPredicate{})).
		Watches(&identityv1alpha1.API{}, clientsGranted(mgr.GetClient()),
			builder.WithPredicates(predicate.GenerationChangedPredicate{})).
		WithOptions(opts).
		Named("client").
		Complete(retryStale(r))
}
