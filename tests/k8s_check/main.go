// k8s_check: decodes each Kubernetes manifest file strictly into the
// official API types (k8s.io/api, and kustomize's for kustomization.yaml),
// and fails on an unknown field, a mistyped value, a duplicate key or a kind
// it does not know. tests/k8s_test.ts runs it on every file of contrib/k8s.
//
// Usage: k8s_check FILE...
// Prints "ok FILE: KIND NAME" for each object; exits 1 with "FILE: document
// N (KIND): ERROR" on the first error of each file.
package main

import (
	"bytes"
	"fmt"
	"os"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	kustomize "sigs.k8s.io/kustomize/api/types"
	"sigs.k8s.io/yaml"
)

// The kinds the manifests use, by apiVersion and kind.
func object(apiVersion, kind string) (any, error) {
	switch apiVersion + " " + kind {
	case "v1 Namespace":
		return &corev1.Namespace{}, nil
	case "v1 ServiceAccount":
		return &corev1.ServiceAccount{}, nil
	case "v1 ConfigMap":
		return &corev1.ConfigMap{}, nil
	case "v1 Pod":
		return &corev1.Pod{}, nil
	case "apps/v1 DaemonSet":
		return &appsv1.DaemonSet{}, nil
	case "kustomize.config.k8s.io/v1beta1 Kustomization":
		return &kustomize.Kustomization{}, nil
	}
	return nil, fmt.Errorf("unknown apiVersion %q and kind %q", apiVersion, kind)
}

func name(obj any) string {
	if o, ok := obj.(metav1.Object); ok {
		return o.GetName()
	}
	return "-"
}

// documents splits a YAML stream at its "---" lines.
func documents(data []byte) [][]byte {
	var docs [][]byte
	var cur bytes.Buffer
	for _, line := range strings.SplitAfter(string(data), "\n") {
		if strings.TrimRight(line, " \t\r\n") == "---" {
			docs = append(docs, bytes.Clone(cur.Bytes()))
			cur.Reset()
			continue
		}
		cur.WriteString(line)
	}
	return append(docs, cur.Bytes())
}

func check(file string) error {
	data, err := os.ReadFile(file)
	if err != nil {
		return err
	}
	n := 0
	for i, doc := range documents(data) {
		if len(bytes.TrimSpace(doc)) == 0 {
			continue
		}
		var head metav1.TypeMeta
		if err := yaml.Unmarshal(doc, &head); err != nil {
			return fmt.Errorf("document %d: %w", i+1, err)
		}
		if head.APIVersion == "" || head.Kind == "" {
			return fmt.Errorf("document %d: no apiVersion or kind", i+1)
		}
		obj, err := object(head.APIVersion, head.Kind)
		if err != nil {
			return fmt.Errorf("document %d: %w", i+1, err)
		}
		if err := yaml.UnmarshalStrict(doc, obj); err != nil {
			return fmt.Errorf("document %d (%s): %w", i+1, head.Kind, err)
		}
		fmt.Printf("ok %s: %s %s\n", file, head.Kind, name(obj))
		n++
	}
	if n == 0 {
		return fmt.Errorf("no object in the file")
	}
	return nil
}

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: k8s_check FILE...")
		os.Exit(2)
	}
	status := 0
	for _, file := range os.Args[1:] {
		if err := check(file); err != nil {
			fmt.Fprintf(os.Stderr, "%s: %v\n", file, err)
			status = 1
		}
	}
	os.Exit(status)
}
