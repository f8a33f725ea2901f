package kubestore

import (
	"slices"
	"strconv"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/gatehouse-dev/gatehouse/tokenserver/refresh"
)

// toObject is the object of f in namespace, with the labels the store selects by.
func toObject(f *refresh.Family, namespace string) *RefreshTokenFamily {
	labels := map[string]string{
		labelNamespace: hashLabel(f.Namespace),
		labelTenant:    hashLabel(f.TenantUID),
		labelOwner:     hashLabel(f.TenantUID, f.ClientID, f.Subject),
		labelSubject:   hashLabel(f.TenantUID, f.Subject),
		labelDeadline:  strconv.FormatInt(f.Deadline().Unix(), 10),
	}
	if !f.Revoked.IsZero() {
		labels[labelRevoked] = "true"
	}
	return &RefreshTokenFamily{
		ObjectMeta: metav1.ObjectMeta{
			Name: objectName(f.TenantUID, f.ID), Namespace: namespace, Labels: labels,
			Annotations: map[string]string{
				annotationTenant:  f.Tenant,
				annotationCreated: f.Created.UTC().Format("2006-01-02T15:04:05.000000000Z"),
			},
		},
		Spec: RefreshTokenFamilySpec{
			Tenant: f.Tenant, Namespace: f.Namespace, TenantUID: f.TenantUID, ClientID: f.ClientID, Subject: f.Subject,
			Connection: f.Connection, UserID: f.UserID, Audience: f.Audience, Scopes: slices.Clone(f.Scopes), Credential: f.Credential,
			Created: micro(f.Created), ExpiresAt: micro(f.ExpiresAt), LastUsed: micro(f.LastUsed), IdleExpiresAt: micro(f.IdleExpiresAt),
			Generation: f.Generation, CurrentHash: f.CurrentHash, PreviousHash: f.PreviousHash,
			RotatedAt: optionalMicro(f.RotatedAt), SealedSuccessor: f.SealedSuccessor, OlderHashes: f.OlderHashes,
			Revoked: optionalMicro(f.Revoked), RevokedReason: f.RevokedReason,
		},
	}
}

// toFamily is the family of obj.
func toFamily(obj *RefreshTokenFamily) *refresh.Family {
	s := &obj.Spec
	id, _, _ := strings.Cut(obj.Name, "-") // a family ID has no "-"
	return &refresh.Family{
		ID: id, Tenant: s.Tenant, Namespace: s.Namespace, TenantUID: s.TenantUID, ClientID: s.ClientID, Subject: s.Subject,
		Connection: s.Connection, UserID: s.UserID, Audience: s.Audience, Scopes: s.Scopes, Credential: s.Credential,
		Created: s.Created.Time, ExpiresAt: s.ExpiresAt.Time, LastUsed: s.LastUsed.Time, IdleExpiresAt: s.IdleExpiresAt.Time,
		Generation: s.Generation, CurrentHash: s.CurrentHash, PreviousHash: s.PreviousHash,
		RotatedAt: timeOf(s.RotatedAt), SealedSuccessor: s.SealedSuccessor, OlderHashes: s.OlderHashes,
		Revoked: timeOf(s.Revoked), RevokedReason: s.RevokedReason,
		Version: obj.ResourceVersion,
	}
}

func micro(t time.Time) metav1.MicroTime { return metav1.NewMicroTime(t) }

func optionalMicro(t time.Time) *metav1.MicroTime {
	if t.IsZero() {
		return nil
	}
	m := metav1.NewMicroTime(t)
	return &m
}

func timeOf(t *metav1.MicroTime) time.Time {
	if t == nil {
		return time.Time{}
	}
	return t.Time
}
