// Package hostile holds the tests of Gatehouse against a hostile team (issue 11): two
// teams share one installation, each a namespace user holding only the built-in edit
// ClusterRole in its own namespace (into which the chart aggregates the Gatehouse
// kinds), and the attacker, mallory, tries to hurt the victim, team-b: take over its
// issuer, exhaust the token server's memory, flush its lockouts, choose her own client
// credentials, make the controller read Secrets it should not, flood the peer port, and
// read across the namespace boundary. Every attack must fail while team-b's users keep
// logging in. The controller and the token server run as processes with the RBAC the
// project ships (test/systemtest), against a real API server with
// kube-controller-manager aggregating the roles (test/kubetest).
package hostile
