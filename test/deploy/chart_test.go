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

package deploy

import (
	"maps"
	"os/exec"
	"reflect"
	"slices"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/gatehouse-dev/gatehouse/test/kubetest"
)

func TestChartDefaultValues(t *testing.T) {
	ensureNamespace(t, releaseNamespace)
	objs := renderChart(t)

	want := map[string]int{
		"CustomResourceDefinition": 5, "Deployment": 2, "ServiceAccount": 2, "ClusterRole": 4,
		"ClusterRoleBinding": 3, "Role": 2, "RoleBinding": 2, "Service": 3, "PodDisruptionBudget": 1,
		"NetworkPolicy": 2,
	}
	if got := kinds(objs); !maps.Equal(got, want) {
		t.Errorf("rendered kinds %v, want %v", got, want)
	}
	tokenServer := find(t, objs, "Deployment", "gatehouse-tokenserver")
	if replicas, _, _ := nestedInt(tokenServer, "spec", "replicas"); replicas != 2 {
		t.Errorf("token server replicas %d, want 2", replicas)
	}
	for _, arg := range containerArgs(t, tokenServer) {
		if strings.HasPrefix(arg, "--trusted-proxies") {
			t.Errorf("token server arg %s; by default no proxy is trusted", arg)
		}
	}
	controllerArgs := containerArgs(t, find(t, objs, "Deployment", "gatehouse-controller"))
	for _, arg := range []string{"--leader-elect=true", "--token-server-url=http://gatehouse-tokenserver.gatehouse-system.svc:8080"} {
		if !slices.Contains(controllerArgs, arg) {
			t.Errorf("controller args %v lack %s", controllerArgs, arg)
		}
	}
	checkSpreadOverNodes(t, tokenServer)
	memoryLimitsAgree(t, objs, "512Mi")
	role := find(t, objs, "Role", "gatehouse-tokenserver")
	if role.GetNamespace() != releaseNamespace {
		t.Errorf("the token server's Role is in %q, want the release namespace", role.GetNamespace())
	}
	checkTokenServerPolicy(t, objs, nil)
	dryRunApply(t, objs)
}

// checkSpreadOverNodes checks that the token server's replicas are spread over nodes by
// default, counting the Deployment's own pods: two replicas on one node are one failure
// from none.
func checkSpreadOverNodes(t *testing.T, tokenServer *unstructured.Unstructured) {
	t.Helper()
	selector, _, _ := unstructured.NestedMap(tokenServer.Object, "spec", "selector", "matchLabels")
	constraints, _, _ := unstructured.NestedSlice(tokenServer.Object, "spec", "template", "spec", "topologySpreadConstraints")
	for _, c := range constraints {
		constraint := c.(map[string]any)
		counted, _, _ := unstructured.NestedMap(constraint, "labelSelector", "matchLabels")
		if constraint["topologyKey"] == "kubernetes.io/hostname" && reflect.DeepEqual(counted, selector) {
			return
		}
	}
	t.Errorf("the token server's topologySpreadConstraints %v do not spread its pods %v over nodes", constraints, selector)
}

// checkTokenServerPolicy checks that the token server's NetworkPolicy admits its peer
// port from token-server pods only, and its token port from tokensFrom (every source
// when nil).
func checkTokenServerPolicy(t *testing.T, objs []*unstructured.Unstructured, tokensFrom []any) {
	t.Helper()
	selector, _, _ := unstructured.NestedMap(find(t, objs, "Deployment", "gatehouse-tokenserver").Object, "spec", "selector", "matchLabels")
	rules, _, _ := unstructured.NestedSlice(find(t, objs, "NetworkPolicy", "gatehouse-tokenserver").Object, "spec", "ingress")
	from := map[string][]any{}
	for _, r := range rules {
		rule := r.(map[string]any)
		ports, _, _ := unstructured.NestedSlice(rule, "ports")
		sources, _, _ := unstructured.NestedSlice(rule, "from")
		for _, p := range ports {
			from[p.(map[string]any)["port"].(string)] = sources
		}
	}
	if want := []any{map[string]any{"podSelector": map[string]any{"matchLabels": selector}}}; !reflect.DeepEqual(from["peers"], want) {
		t.Errorf("the peer port admits %v, want only %v", from["peers"], want)
	}
	if got, ok := from["tokens"]; !ok || !reflect.DeepEqual(got, tokensFrom) {
		t.Errorf("the token port admits %v (listed: %v), want %v", got, ok, tokensFrom)
	}
}

func TestChartCustomValues(t *testing.T) {
	ensureNamespace(t, releaseNamespace)
	installServiceMonitorCRD(t)
	objs := renderChart(t, "-f", customValues)

	got := kinds(objs)
	for kind, n := range map[string]int{"HorizontalPodAutoscaler": 1, "NetworkPolicy": 2, "ServiceMonitor": 2, "PodDisruptionBudget": 1} {
		if got[kind] != n {
			t.Errorf("rendered %d %s, want %d", got[kind], kind, n)
		}
	}
	tokenServer := find(t, objs, "Deployment", "gatehouse-tokenserver")
	if _, found, _ := nestedInt(tokenServer, "spec", "replicas"); found {
		t.Error("with autoscaling the token server Deployment must leave replicas to the HPA")
	}
	for _, arg := range []string{"--tls-cert-file=/etc/gatehouse/tls/tls.crt", "--tls-key-file=/etc/gatehouse/tls/tls.key", "--trusted-proxies=10.0.0.0/8,fd00::/8"} {
		if !slices.Contains(containerArgs(t, tokenServer), arg) {
			t.Errorf("token server args lack %s", arg)
		}
	}
	controllerArgs := containerArgs(t, find(t, objs, "Deployment", "gatehouse-controller"))
	for _, arg := range []string{"--token-server-url=https://login.example.com", "--v=1", "--max-concurrent-reconciles=8"} {
		if !slices.Contains(controllerArgs, arg) {
			t.Errorf("controller args %v lack %s", controllerArgs, arg)
		}
	}
	checkTokenServerPolicy(t, objs, []any{map[string]any{"namespaceSelector": map[string]any{"matchLabels": map[string]any{"gatehouse.dev/clients": "true"}}}})
	memoryLimitsAgree(t, objs, "1Gi")
	dryRunApply(t, objs)
}

// memoryLimitsAgree checks that the token server's memory limit is want and that both
// components are given it, since both derive the caps on password hashes from it.
func memoryLimitsAgree(t *testing.T, objs []*unstructured.Unstructured, want string) {
	t.Helper()
	tokenServer := find(t, objs, "Deployment", "gatehouse-tokenserver")
	containers, _, _ := unstructured.NestedSlice(tokenServer.Object, "spec", "template", "spec", "containers")
	if limit, _, _ := unstructured.NestedString(containers[0].(map[string]any), "resources", "limits", "memory"); limit != want {
		t.Errorf("token server memory limit %q, want %q", limit, want)
	}
	arg := "--token-server-memory-limit=" + want
	for _, name := range []string{"gatehouse-tokenserver", "gatehouse-controller"} {
		if args := containerArgs(t, find(t, objs, "Deployment", name)); !slices.Contains(args, arg) {
			t.Errorf("%s args %v lack %s", name, args, arg)
		}
	}
}

func TestChartCRDOptions(t *testing.T) {
	tests := []struct {
		name     string
		set      []string
		wantCRDs int
		wantKeep bool
	}{
		{"defaults install and keep the CRDs", nil, 5, true},
		{"crds.keep=false", []string{"crds.keep=false"}, 5, false},
		{"crds.enabled=false", []string{"crds.enabled=false"}, 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var args []string
			for _, s := range tt.set {
				args = append(args, "--set", s)
			}
			crds := 0
			for _, obj := range renderChart(t, args...) {
				if obj.GetKind() != "CustomResourceDefinition" {
					continue
				}
				crds++
				if keep := obj.GetAnnotations()["helm.sh/resource-policy"] == "keep"; keep != tt.wantKeep {
					t.Errorf("%s: keep annotation %v, want %v", obj.GetName(), keep, tt.wantKeep)
				}
			}
			if crds != tt.wantCRDs {
				t.Errorf("%d CRDs rendered, want %d", crds, tt.wantCRDs)
			}
		})
	}
}

// TestChartRejectsWrongValues checks values.schema.json and the chart's own checks
// through helm itself.
func TestChartRejectsWrongValues(t *testing.T) {
	const schemaError = "values don't meet the specifications of the schema"
	tests := []struct{ name, set, want string }{
		{"negative replicas", "tokenServer.replicas=-1", schemaError},
		{"no controller", "controller.replicas=0", schemaError},
		{"unknown log level", "controller.logLevel=verbose", schemaError},
		{"port out of range", "tokenServer.service.port=70000", schemaError},
		{"external URL without scheme", "tokenServer.externalURL=login.example.com", schemaError},
		{"external URL with a trailing slash", "tokenServer.externalURL=https://login.example.com/", schemaError},
		{"misspelt key", "tokenServer.replica=3", schemaError},
		{"unknown pull policy", "image.pullPolicy=Sometimes", schemaError},
		{"trusted proxy not an address", "tokenServer.trustedProxies={ingress.local}", schemaError},
		{"autoscaling below its minimum", "tokenServer.autoscaling.enabled=true,tokenServer.autoscaling.maxReplicas=1", "must not exceed maxReplicas"},
		{"unknown refresh token store", "refreshTokens.store=etcd", schemaError},
		{"postgres without its Secret", "refreshTokens.store=postgres", "needs refreshTokens.postgres.existingSecret"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			commands := [][]string{{"template", "gatehouse", chartDir, "--set", tt.set}}
			if tt.want == schemaError { // helm lint reports a template's fail only as information
				commands = append(commands, []string{"lint", chartDir, "--set", tt.set})
			}
			for _, command := range commands {
				out, err := helm(t, command...)
				if err == nil || !strings.Contains(out, tt.want) {
					t.Errorf("helm %s accepted %s:\n%s", command[0], tt.set, out)
				}
			}
		})
	}
}

// TestKustomizeDefault dry-runs config/default and checks it installs what the chart's
// defaults install.
func TestKustomizeDefault(t *testing.T) {
	ensureNamespace(t, releaseNamespace)
	kubectl, err := kubetest.Kubectl()
	if err != nil {
		t.Fatal(err)
	}
	out, err := exec.CommandContext(t.Context(), kubectl, "kustomize", kubetest.RepoRoot()+"/config/default").Output()
	if err != nil {
		t.Fatalf("kubectl kustomize config/default: %v", err)
	}
	objs := decodeAll(t, string(out))
	chartObjs := renderChart(t)
	chart := names(chartObjs)
	chart["Namespace/"+releaseNamespace] = true // helm install --create-namespace makes the chart's
	if got := names(objs); !maps.Equal(got, chart) {
		t.Errorf("config/default installs %v, the chart %v", slices.Sorted(maps.Keys(got)), slices.Sorted(maps.Keys(chart)))
	}
	// These roles are written by hand twice, in config/ and in the chart.
	for _, role := range []struct{ kind, name string }{
		{"Role", "gatehouse-tokenserver"}, {"ClusterRole", "gatehouse-tokenserver"}, {"ClusterRole", "gatehouse-edit"}, {"ClusterRole", "gatehouse-view"},
	} {
		kustomized, charted := find(t, objs, role.kind, role.name), find(t, chartObjs, role.kind, role.name)
		if !reflect.DeepEqual(kustomized.Object["rules"], charted.Object["rules"]) {
			t.Errorf("%s %s grants %v in config/, %v in the chart", role.kind, role.name, kustomized.Object["rules"], charted.Object["rules"])
		}
		if a, b := aggregationLabels(kustomized), aggregationLabels(charted); !maps.Equal(a, b) {
			t.Errorf("%s %s aggregates by %v in config/, by %v in the chart", role.kind, role.name, a, b)
		}
	}
	checkTokenServerPolicy(t, objs, nil)
	memoryLimitsAgree(t, objs, "512Mi")
	dryRunApply(t, objs)
}

// TestChartAggregatedRoles checks that the ClusterRoles for namespace users aggregate
// into the built-in ones, edit and admin managing the four kinds and view reading them,
// and that rbac.aggregateClusterRoles=false leaves them out.
func TestChartAggregatedRoles(t *testing.T) {
	objs := renderChart(t)
	edit, view := find(t, objs, "ClusterRole", "gatehouse-edit"), find(t, objs, "ClusterRole", "gatehouse-view")
	for _, tt := range []struct {
		role      *unstructured.Unstructured
		aggregate []string
	}{
		{edit, []string{"rbac.authorization.k8s.io/aggregate-to-edit", "rbac.authorization.k8s.io/aggregate-to-admin"}},
		{view, []string{"rbac.authorization.k8s.io/aggregate-to-view", "rbac.authorization.k8s.io/aggregate-to-edit", "rbac.authorization.k8s.io/aggregate-to-admin"}},
	} {
		for _, label := range tt.aggregate {
			if tt.role.GetLabels()[label] != "true" {
				t.Errorf("%s is not labelled %s=true: %v", tt.role.GetName(), label, tt.role.GetLabels())
			}
		}
	}
	for _, obj := range renderChart(t, "--set", "rbac.aggregateClusterRoles=false") {
		if obj.GetKind() == "ClusterRole" && obj.GetName() != "gatehouse-controller" && obj.GetName() != "gatehouse-tokenserver" {
			t.Errorf("rbac.aggregateClusterRoles=false renders ClusterRole %s", obj.GetName())
		}
	}
}

// aggregationLabels are the labels of a ClusterRole that aggregate it into others.
func aggregationLabels(role *unstructured.Unstructured) map[string]string {
	out := map[string]string{}
	for k, v := range role.GetLabels() {
		if strings.HasPrefix(k, "rbac.authorization.k8s.io/aggregate-to-") {
			out[k] = v
		}
	}
	return out
}

// names are the kinds and names of objects, "Kind/name".
func names(objs []*unstructured.Unstructured) map[string]bool {
	set := map[string]bool{}
	for _, obj := range objs {
		set[obj.GetKind()+"/"+obj.GetName()] = true
	}
	return set
}
