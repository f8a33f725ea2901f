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
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"

	identityv1alpha1 "github.com/gatehouse-dev/gatehouse/api/v1alpha1"
	"github.com/gatehouse-dev/gatehouse/test/kubetest"
	"github.com/gatehouse-dev/gatehouse/tokenserver/snapshot"
)

const (
	releaseNamespace = snapshot.DefaultNamespace
	chartDir         = "charts/gatehouse"
	customValues     = "test/deploy/testdata/custom-values.yaml"
)

var (
	env *kubetest.Env
	// c knows the CustomResourceDefinition kind too.
	c client.Client
)

func TestMain(m *testing.M) {
	var err error
	if env, err = kubetest.Start(kubetest.WithScheme(identityv1alpha1.NewScheme())); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	scheme := env.Scheme
	if err = apiextensionsv1.AddToScheme(scheme); err == nil {
		c, err = client.New(env.Config, client.Options{Scheme: scheme})
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		_ = env.Stop()
		os.Exit(1)
	}
	code := m.Run()
	if err := env.Stop(); err != nil {
		fmt.Fprintln(os.Stderr, err)
	}
	os.Exit(code)
}

// helm is the pinned helm the Makefile builds: $HELM, else bin/helm-<version>.
func helm(t *testing.T, args ...string) (string, error) {
	t.Helper()
	bin := os.Getenv("HELM")
	if bin == "" {
		matches, _ := filepath.Glob(filepath.Join(kubetest.RepoRoot(), "bin", "helm-v*"))
		if len(matches) == 0 {
			t.Fatal("no helm: run 'make test-unit', which builds the pinned helm into bin/, or set $HELM")
		}
		bin = matches[len(matches)-1]
	}
	cmd := exec.CommandContext(t.Context(), bin, args...) //nolint:gosec // the pinned helm
	cmd.Dir = kubetest.RepoRoot()
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return string(out) + stderr.String(), fmt.Errorf("helm %s: %w: %s%s", strings.Join(args, " "), err, out, stderr.String())
	}
	return string(out), nil
}

func renderChart(t *testing.T, args ...string) []*unstructured.Unstructured {
	t.Helper()
	out, err := helm(t, append([]string{"template", "gatehouse", chartDir, "--namespace", releaseNamespace}, args...)...)
	if err != nil {
		t.Fatal(err)
	}
	return decodeAll(t, out)
}

func decodeAll(t *testing.T, manifests string) []*unstructured.Unstructured {
	t.Helper()
	objs, err := kubetest.DecodeManifests([]byte(manifests))
	if err != nil {
		t.Fatalf("decoding rendered manifests: %v", err)
	}
	return objs
}

// ensureNamespace creates a namespace for real: dry-run objects in it need it to exist.
// It enforces the restricted Pod Security Standard, which podsOf checks against.
func ensureNamespace(t *testing.T, name string) {
	t.Helper()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name,
		Labels: map[string]string{"pod-security.kubernetes.io/enforce": "restricted"}}}
	if err := c.Create(t.Context(), ns); err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatal(err)
	}
}

// dryRunApply applies every object with a server-side dry run, CRDs first, and the pods
// of every Deployment too, so that Pod Security admission judges their templates.
func dryRunApply(t *testing.T, objs []*unstructured.Unstructured) {
	t.Helper()
	slices.SortStableFunc(objs, func(a, b *unstructured.Unstructured) int {
		return boolRank(a.GetKind() != "CustomResourceDefinition") - boolRank(b.GetKind() != "CustomResourceDefinition")
	})
	for _, obj := range append(objs, podsOf(t, objs)...) {
		err := c.Apply(t.Context(), client.ApplyConfigurationFromUnstructured(obj),
			client.DryRunAll, client.FieldOwner("deploy-test"), client.ForceOwnership)
		if err != nil {
			t.Errorf("the API server refuses %s %s/%s: %v", obj.GetKind(), obj.GetNamespace(), obj.GetName(), err)
		}
	}
}

func boolRank(b bool) int {
	if b {
		return 1
	}
	return 0
}

// podsOf turns each Deployment's pod template into a Pod.
func podsOf(t *testing.T, objs []*unstructured.Unstructured) []*unstructured.Unstructured {
	t.Helper()
	var pods []*unstructured.Unstructured
	for _, obj := range objs {
		if obj.GetKind() != "Deployment" {
			continue
		}
		template, found, err := unstructured.NestedMap(obj.Object, "spec", "template")
		if err != nil || !found {
			t.Fatalf("Deployment %s has no pod template: %v", obj.GetName(), err)
		}
		pod := &unstructured.Unstructured{Object: template}
		pod.SetAPIVersion("v1")
		pod.SetKind("Pod")
		pod.SetName(obj.GetName() + "-pod")
		pod.SetNamespace(obj.GetNamespace())
		pods = append(pods, pod)
	}
	return pods
}

func kinds(objs []*unstructured.Unstructured) map[string]int {
	counts := map[string]int{}
	for _, obj := range objs {
		counts[obj.GetKind()]++
	}
	return counts
}

func find(t *testing.T, objs []*unstructured.Unstructured, kind, name string) *unstructured.Unstructured {
	t.Helper()
	for _, obj := range objs {
		if obj.GetKind() == kind && obj.GetName() == name {
			return obj
		}
	}
	t.Fatalf("no %s %s rendered", kind, name)
	return nil
}

func containerArgs(t *testing.T, deployment *unstructured.Unstructured) []string {
	t.Helper()
	containers, _, _ := unstructured.NestedSlice(deployment.Object, "spec", "template", "spec", "containers")
	if len(containers) != 1 {
		t.Fatalf("Deployment %s has %d containers, want 1", deployment.GetName(), len(containers))
	}
	args, _, _ := unstructured.NestedStringSlice(containers[0].(map[string]any), "args")
	return args
}

// installServiceMonitorCRD installs a minimal monitoring.coreos.com ServiceMonitor CRD,
// standing in for the Prometheus Operator's, so ServiceMonitors can be dry-run applied.
func installServiceMonitorCRD(t *testing.T) {
	t.Helper()
	preserve := true
	crd := &apiextensionsv1.CustomResourceDefinition{
		ObjectMeta: metav1.ObjectMeta{Name: "servicemonitors.monitoring.coreos.com"},
		Spec: apiextensionsv1.CustomResourceDefinitionSpec{
			Group: "monitoring.coreos.com",
			Names: apiextensionsv1.CustomResourceDefinitionNames{Plural: "servicemonitors", Singular: "servicemonitor", Kind: "ServiceMonitor", ListKind: "ServiceMonitorList"},
			Scope: apiextensionsv1.NamespaceScoped,
			Versions: []apiextensionsv1.CustomResourceDefinitionVersion{{
				Name: "v1", Served: true, Storage: true,
				Schema: &apiextensionsv1.CustomResourceValidation{OpenAPIV3Schema: &apiextensionsv1.JSONSchemaProps{
					Type: "object", XPreserveUnknownFields: &preserve,
				}},
			}},
		},
	}
	if err := c.Create(t.Context(), crd); err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatal(err)
	}
	// The API server serves a new CRD once it is Established.
	for !established(t, crd.Name) {
		select {
		case <-t.Context().Done():
			t.Fatal("the ServiceMonitor CRD never became Established")
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func established(t *testing.T, name string) bool {
	t.Helper()
	crd := &apiextensionsv1.CustomResourceDefinition{}
	if err := c.Get(t.Context(), client.ObjectKey{Name: name}, crd); err != nil {
		t.Fatal(err)
	}
	for _, c := range crd.Status.Conditions {
		if c.Type == apiextensionsv1.Established && c.Status == apiextensionsv1.ConditionTrue {
			return true
		}
	}
	return false
}

func nestedInt(obj *unstructured.Unstructured, fields ...string) (int64, bool, error) {
	return unstructured.NestedInt64(obj.Object, fields...)
}
