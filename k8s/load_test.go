package k8s

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"sigs.k8s.io/yaml"
)

// manifest is one YAML document of a file in k8s/.
type manifest struct {
	File       string
	Index      int // position in the file, from 0
	APIVersion string
	Kind       string
	Name       string
	Namespace  string
	Labels     map[string]string
	JSON       []byte         // the document as JSON
	Object     map[string]any // the document, decoded loosely
}

func (m manifest) String() string {
	return fmt.Sprintf("%s #%d (%s %s)", m.File, m.Index+1, m.Kind, m.Name)
}

// docSeparator splits a YAML stream into documents.
var docSeparator = regexp.MustCompile(`(?m)^---[ \t]*$`)

// loadManifests reads every document of k8s/*.yaml, the files skaffold applies.
func loadManifests(t *testing.T) []manifest {
	t.Helper()
	return loadManifestFiles(t, "*.yaml")
}

// loadManifestFiles is loadManifests for the files of k8s/ that match pattern.
func loadManifestFiles(t *testing.T, pattern string) []manifest {
	t.Helper()
	files, err := filepath.Glob(pattern)
	if err != nil || len(files) == 0 {
		t.Fatalf("no k8s/%s manifests found (err %v)", pattern, err)
	}
	sort.Strings(files)
	var out []manifest
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for i, doc := range docSeparator.Split(string(data), -1) {
			if strings.TrimSpace(stripComments(doc)) == "" {
				continue
			}
			js, err := yaml.YAMLToJSON([]byte(doc))
			if err != nil {
				t.Fatalf("k8s/%s document %d is not valid YAML: %v", f, i+1, err)
			}
			var obj map[string]any
			if err := json.Unmarshal(js, &obj); err != nil {
				t.Fatalf("k8s/%s document %d is not a YAML mapping: %v", f, i+1, err)
			}
			var head struct {
				APIVersion string `json:"apiVersion"`
				Kind       string `json:"kind"`
				Metadata   struct {
					Name      string            `json:"name"`
					Namespace string            `json:"namespace"`
					Labels    map[string]string `json:"labels"`
				} `json:"metadata"`
			}
			if err := json.Unmarshal(js, &head); err != nil {
				t.Fatalf("k8s/%s document %d: apiVersion, kind or metadata malformed: %v", f, i+1, err)
			}
			out = append(out, manifest{
				File: f, Index: i, APIVersion: head.APIVersion, Kind: head.Kind,
				Name: head.Metadata.Name, Namespace: head.Metadata.Namespace, Labels: head.Metadata.Labels,
				JSON: js, Object: obj,
			})
		}
	}
	return out
}

func stripComments(doc string) string {
	var b strings.Builder
	for _, line := range strings.Split(doc, "\n") {
		if !strings.HasPrefix(strings.TrimSpace(line), "#") {
			b.WriteString(line)
			b.WriteByte('\n')
		}
	}
	return b.String()
}

// cluster is the decoded content of k8s/: native kinds as API types, Strimzi kinds loosely.
type cluster struct {
	Secrets      map[string]*corev1.Secret
	ConfigMaps   map[string]*corev1.ConfigMap
	Services     map[string]*corev1.Service
	Deployments  map[string]*appsv1.Deployment
	StatefulSets map[string]*appsv1.StatefulSet
	Jobs         map[string]*batchv1.Job
	Roles        map[string]*rbacv1.Role
	RoleBindings map[string]*rbacv1.RoleBinding
	// Strimzi resources by kind, then name.
	Strimzi map[string]map[string]manifest
}

// nativeKinds are the Kubernetes kinds k8s/ may use, with the API type each decodes into.
var nativeKinds = map[string]func() any{
	"v1/Secret":                                func() any { return &corev1.Secret{} },
	"v1/ConfigMap":                             func() any { return &corev1.ConfigMap{} },
	"v1/Service":                               func() any { return &corev1.Service{} },
	"apps/v1/Deployment":                       func() any { return &appsv1.Deployment{} },
	"apps/v1/StatefulSet":                      func() any { return &appsv1.StatefulSet{} },
	"batch/v1/Job":                             func() any { return &batchv1.Job{} },
	"rbac.authorization.k8s.io/v1/Role":        func() any { return &rbacv1.Role{} },
	"rbac.authorization.k8s.io/v1/RoleBinding": func() any { return &rbacv1.RoleBinding{} },
}

// decodeStrict decodes a native manifest into its API type; unknown fields are errors.
func decodeStrict(m manifest) (any, error) {
	return decodeStrictAs(m, nativeKinds, "nativeKinds in k8s/load_test.go")
}

// decodeStrictAs is decodeStrict with the kinds of kinds, which the error for an unknown kind
// names as where.
func decodeStrictAs(m manifest, kinds map[string]func() any, where string) (any, error) {
	newObj, ok := kinds[m.APIVersion+"/"+m.Kind]
	if !ok {
		return nil, fmt.Errorf("%s: %s %s is not a kind these checks know; add it to %s", m, m.APIVersion, m.Kind, where)
	}
	obj := newObj()
	dec := json.NewDecoder(bytes.NewReader(m.JSON))
	dec.DisallowUnknownFields()
	if err := dec.Decode(obj); err != nil {
		return nil, fmt.Errorf("%s does not decode strictly into %s %s: %w", m, m.APIVersion, m.Kind, err)
	}
	return obj, nil
}

// loadCluster decodes every manifest, failing the test on the first that does not decode.
func loadCluster(t *testing.T) *cluster {
	t.Helper()
	c := &cluster{
		Secrets: map[string]*corev1.Secret{}, ConfigMaps: map[string]*corev1.ConfigMap{},
		Services: map[string]*corev1.Service{}, Deployments: map[string]*appsv1.Deployment{},
		StatefulSets: map[string]*appsv1.StatefulSet{}, Jobs: map[string]*batchv1.Job{},
		Roles: map[string]*rbacv1.Role{}, RoleBindings: map[string]*rbacv1.RoleBinding{},
		Strimzi: map[string]map[string]manifest{},
	}
	for _, m := range loadManifests(t) {
		if strings.HasPrefix(m.APIVersion, "kafka.strimzi.io/") {
			if c.Strimzi[m.Kind] == nil {
				c.Strimzi[m.Kind] = map[string]manifest{}
			}
			c.Strimzi[m.Kind][m.Name] = m
			continue
		}
		obj, err := decodeStrict(m)
		if err != nil {
			t.Fatal(err)
		}
		switch o := obj.(type) {
		case *corev1.Secret:
			c.Secrets[o.Name] = o
		case *corev1.ConfigMap:
			c.ConfigMaps[o.Name] = o
		case *corev1.Service:
			c.Services[o.Name] = o
		case *appsv1.Deployment:
			c.Deployments[o.Name] = o
		case *appsv1.StatefulSet:
			c.StatefulSets[o.Name] = o
		case *batchv1.Job:
			c.Jobs[o.Name] = o
		case *rbacv1.Role:
			c.Roles[o.Name] = o
		case *rbacv1.RoleBinding:
			c.RoleBindings[o.Name] = o
		}
	}
	return c
}

// workload is a pod template with the name of what owns it.
type workload struct {
	Kind, Name string
	Selector   map[string]string
	Replicas   *int32
	Template   corev1.PodTemplateSpec
}

func (w workload) String() string { return w.Kind + " " + w.Name }

func (c *cluster) workloads() []workload {
	var out []workload
	for _, d := range c.Deployments {
		out = append(out, workload{"Deployment", d.Name, d.Spec.Selector.MatchLabels, d.Spec.Replicas, d.Spec.Template})
	}
	for _, s := range c.StatefulSets {
		out = append(out, workload{"StatefulSet", s.Name, s.Spec.Selector.MatchLabels, s.Spec.Replicas, s.Spec.Template})
	}
	for _, j := range c.Jobs {
		var sel map[string]string
		if j.Spec.Selector != nil {
			sel = j.Spec.Selector.MatchLabels
		}
		out = append(out, workload{"Job", j.Name, sel, nil, j.Spec.Template})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].String() < out[j].String() })
	return out
}

// allContainers returns the init containers and containers of a pod spec.
func allContainers(spec corev1.PodSpec) []corev1.Container {
	return append(append([]corev1.Container{}, spec.InitContainers...), spec.Containers...)
}

// strimziSpec returns the spec of a Strimzi resource.
func strimziSpec(m manifest) map[string]any {
	spec, _ := m.Object["spec"].(map[string]any)
	return spec
}

// readRepoFile reads a file by its path from the repository root.
func readRepoFile(t *testing.T, path string) []byte {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("..", path))
	if err != nil {
		t.Fatalf("read %s: %v", path, err)
	}
	return data
}
