package kubetest

import (
	"os"
	"path/filepath"
	"slices"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

func TestDecodeManifests(t *testing.T) {
	tests := []struct {
		name         string
		yaml         string
		wantNames    []string
		wantReplicas int64
		wantErr      bool
	}{
		{name: "one document", yaml: "kind: ConfigMap\nmetadata: {name: a}\n", wantNames: []string{"a"}},
		{name: "documents in order, a leading separator, comments only skipped",
			yaml:      "---\n# Source: chart/a.yaml\nkind: ConfigMap\nmetadata: {name: a}\n---\n# nothing here\n---\nkind: Secret\nmetadata: {name: b}\n",
			wantNames: []string{"a", "b"}},
		{name: "a separator with a comment", yaml: "kind: ConfigMap\nmetadata: {name: a}\n--- # next\nkind: Secret\nmetadata: {name: b}\n", wantNames: []string{"a", "b"}},
		{name: "integers stay integers", yaml: "kind: Deployment\nmetadata: {name: a}\nspec: {replicas: 2}\n", wantNames: []string{"a"}, wantReplicas: 2},
		{name: "empty", yaml: ""},
		{name: "not YAML", yaml: "kind: [ConfigMap\n", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			objs, err := DecodeManifests([]byte(tt.yaml))
			if (err != nil) != tt.wantErr {
				t.Fatalf("error %v, want one: %v", err, tt.wantErr)
			}
			var names []string
			for _, o := range objs {
				names = append(names, o.GetName())
			}
			if !slices.Equal(names, tt.wantNames) {
				t.Errorf("decoded %q, want %q", names, tt.wantNames)
			}
			if tt.wantReplicas != 0 {
				if replicas, ok, err := unstructured.NestedInt64(objs[0].Object, "spec", "replicas"); !ok || err != nil || replicas != tt.wantReplicas {
					t.Errorf("spec.replicas %d (%v, %v), want the integer %d", replicas, ok, err, tt.wantReplicas)
				}
			}
		})
	}
}

func TestReadKustomization(t *testing.T) {
	tests := []struct {
		name          string
		kustomization string
		wantNames     []string
		wantErr       bool
	}{
		{name: "resources in the kustomization's order", kustomization: "resources: [b.yaml, a.yaml]\n", wantNames: []string{"b1", "b2", "a"}},
		{name: "more than resources", kustomization: "resources: [a.yaml]\nnamespace: other\n", wantErr: true},
		{name: "a missing resource", kustomization: "resources: [c.yaml]\n", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			for name, content := range map[string]string{
				"kustomization.yaml": "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\n" + tt.kustomization,
				"a.yaml":             "kind: ConfigMap\nmetadata: {name: a}\n",
				"b.yaml":             "kind: ConfigMap\nmetadata: {name: b1}\n---\nkind: ConfigMap\nmetadata: {name: b2}\n",
			} {
				if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			objs, err := ReadKustomization(dir)
			if (err != nil) != tt.wantErr {
				t.Fatalf("error %v, want one: %v", err, tt.wantErr)
			}
			var names []string
			for _, o := range objs {
				names = append(names, o.GetName())
			}
			if !slices.Equal(names, tt.wantNames) {
				t.Errorf("read %q, want %q", names, tt.wantNames)
			}
		})
	}
}
