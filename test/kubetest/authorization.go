package kubetest

import (
	"context"
	"fmt"
	"testing"
	"time"

	authorizationv1 "k8s.io/api/authorization/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// WaitAuthorized waits until the API server allows user, in groups, every verb of rules
// on their resources in namespace. The RBAC authorizer reads Roles and RoleBindings
// through informers, so a binding just created can refuse the first requests (CI saw
// "forbidden" from a store test on a busy machine); a SubjectAccessReview asks that
// same authorizer.
func WaitAuthorized(t testing.TB, c client.Client, namespace, user string, groups []string, rules []rbacv1.PolicyRule) {
	t.Helper()
	Eventually(t, 30*time.Second, 20*time.Millisecond, user+" is authorized in "+namespace, func() error {
		for _, rule := range rules {
			for _, group := range rule.APIGroups {
				for _, resource := range rule.Resources {
					for _, verb := range rule.Verbs {
						if err := allowed(c, user, groups, authorizationv1.ResourceAttributes{
							Namespace: namespace, Verb: verb, Group: group, Resource: resource,
						}); err != nil {
							return err
						}
					}
				}
			}
		}
		return nil
	})
}

func allowed(c client.Client, user string, groups []string, attrs authorizationv1.ResourceAttributes) error {
	review := &authorizationv1.SubjectAccessReview{Spec: authorizationv1.SubjectAccessReviewSpec{
		User: user, Groups: groups, ResourceAttributes: &attrs,
	}}
	if err := c.Create(context.Background(), review); err != nil {
		return err
	}
	if !review.Status.Allowed {
		return fmt.Errorf("%s %s.%s in %s is not allowed yet: %s", attrs.Verb, attrs.Resource, attrs.Group, attrs.Namespace, review.Status.Reason)
	}
	return nil
}
