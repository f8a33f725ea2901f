package e2e_test

import "testing"

// TestDeletionConverges deletes a Client and creates it again, and deletes a namespace,
// on kube-controller-manager, and sees both converge (see
// systemtest.Cluster.CheckDeletionConverges; test/systemtest checks the same in the
// control plane of `make run`).
func TestDeletionConverges(t *testing.T) {
	sys.StartGatehouse(t)
	sys.CheckDeletionConverges(t, "team-deletion")
}
