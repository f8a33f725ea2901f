package kubetest

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/yaml"
)

// DecodeManifests decodes the objects of multi-document YAML, such as a rendered chart,
// in their order. Documents that hold only comments are skipped.
func DecodeManifests(data []byte) ([]*unstructured.Unstructured, error) {
	reader := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(data)))
	var objs []*unstructured.Unstructured
	for {
		doc, err := reader.Read()
		if errors.Is(err, io.EOF) {
			return objs, nil
		}
		if err != nil {
			return nil, err
		}
		obj := &unstructured.Unstructured{}
		// Not sigs.k8s.io/yaml, which decodes every number as a float64: integers stay
		// int64, as unstructured.NestedInt64 reads them.
		if err := utilyaml.Unmarshal(doc, &obj.Object); err != nil {
			return nil, fmt.Errorf("%w\n%s", err, doc)
		}
		if len(obj.Object) > 0 {
			objs = append(objs, obj)
		}
	}
}

// ReadManifests reads the objects of a multi-document YAML file.
func ReadManifests(path string) ([]*unstructured.Unstructured, error) {
	data, err := os.ReadFile(path) //nolint:gosec // manifests of this repository
	if err != nil {
		return nil, err
	}
	objs, err := DecodeManifests(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return objs, nil
}

// ReadKustomization reads the objects of the files that dir's kustomization.yaml lists
// as resources, in its order, as `kubectl apply -k` applies them. It refuses a
// kustomization that asks for more than that (patches, a namespace, generators...),
// which the samples do not need; `kubectl kustomize` builds those.
func ReadKustomization(dir string) ([]*unstructured.Unstructured, error) {
	path := filepath.Join(dir, "kustomization.yaml")
	data, err := os.ReadFile(path) //nolint:gosec // a kustomization of this repository
	if err != nil {
		return nil, err
	}
	var kustomization struct {
		APIVersion string   `json:"apiVersion"`
		Kind       string   `json:"kind"`
		Resources  []string `json:"resources"`
	}
	if err := yaml.UnmarshalStrict(data, &kustomization); err != nil {
		return nil, fmt.Errorf("%s: only a list of resources is supported: %w", path, err)
	}
	var objs []*unstructured.Unstructured
	for _, resource := range kustomization.Resources {
		more, err := ReadManifests(filepath.Join(dir, resource))
		if err != nil {
			return nil, err
		}
		objs = append(objs, more...)
	}
	return objs, nil
}
