package k8s

import (
	"bytes"
	"encoding/json"

	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"sigs.k8s.io/yaml"
)

func TestManifests_NativeKindsDecodeStrictlyIntoKubernetesTypes(t *testing.T) {
	for _, m := range loadManifests(t) {
		if strings.HasPrefix(m.APIVersion, "kafka.strimzi.io/") {
			continue
		}
		if m.Name == "" {
			t.Errorf("%s has no metadata.name", m)
		}
		if m.Namespace != "" {
			t.Errorf("%s sets metadata.namespace %q: leave it out, skaffold's deploy.kubectl.defaultNamespace places everything", m, m.Namespace)
		}
		if _, err := decodeStrict(m); err != nil {
			t.Error(err)
		}
	}
}

func TestManifests_StrimziResourcesMatchStrimziCRDs(t *testing.T) {
	schemas := strimziSchemas(t)
	seen := 0
	for _, m := range loadManifests(t) {
		if !strings.HasPrefix(m.APIVersion, "kafka.strimzi.io/") {
			continue
		}
		seen++
		sch, ok := schemas[m.APIVersion+"/"+m.Kind]
		if !ok {
			t.Errorf("%s: no served Strimzi 1.2.0 CRD version for %s %s; use kafka.strimzi.io/v1 (or vendor the CRD into k8s/testdata/strimzi-1.2.0)", m, m.APIVersion, m.Kind)
			continue
		}
		if m.Namespace != "" {
			t.Errorf("%s sets metadata.namespace %q: leave it out, skaffold's deploy.kubectl.defaultNamespace places everything", m, m.Namespace)
		}
		var doc any
		if err := json.Unmarshal(m.JSON, &doc); err != nil {
			t.Fatal(err)
		}
		if err := sch.Validate(doc); err != nil {
			t.Errorf("%s does not match the Strimzi 1.2.0 CRD schema (unknown fields count as errors, as with kubectl's strict field validation):\n%v", m, err)
		}
	}
	if seen == 0 {
		t.Error("no Strimzi resources in k8s/: expected Kafka, KafkaNodePool, KafkaConnect, KafkaConnector and KafkaTopics")
	}
}

func TestSkaffold_ConfigMatchesV4beta14Schema(t *testing.T) {
	c := jsonschema.NewCompiler()
	f, err := os.Open(filepath.Join("testdata", "skaffold", "v4beta14.json"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	doc, err := jsonschema.UnmarshalJSON(f)
	if err != nil {
		t.Fatalf("testdata/skaffold/v4beta14.json: %v", err)
	}
	if err := c.AddResource("file:///skaffold-v4beta14.json", doc); err != nil {
		t.Fatal(err)
	}
	sch, err := c.Compile("file:///skaffold-v4beta14.json")
	if err != nil {
		t.Fatalf("compile skaffold schema: %v", err)
	}
	cfg, err := jsonschema.UnmarshalJSON(bytes.NewReader(skaffoldJSON(t)))
	if err != nil {
		t.Fatal(err)
	}
	if err := sch.Validate(cfg); err != nil {
		t.Errorf("skaffold.yaml does not match the skaffold v4beta14 schema:\n%v", err)
	}
	var head struct {
		APIVersion string `json:"apiVersion"`
		Kind       string `json:"kind"`
	}
	_ = json.Unmarshal(skaffoldJSON(t), &head)
	if head.APIVersion != "skaffold/v4beta14" || head.Kind != "Config" {
		t.Errorf("skaffold.yaml is %s %s; want apiVersion skaffold/v4beta14, kind Config (the schema vendored in k8s/testdata/skaffold)", head.APIVersion, head.Kind)
	}
}

// strimziSchemas compiles the openAPIV3Schema of every served version of the vendored Strimzi
// CRDs, keyed by "apiVersion/kind".
func strimziSchemas(t *testing.T) map[string]*jsonschema.Schema {
	t.Helper()
	files, err := filepath.Glob(filepath.Join("testdata", "strimzi-1.2.0", "*.yaml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no CRDs in k8s/testdata/strimzi-1.2.0 (err %v)", err)
	}
	out := map[string]*jsonschema.Schema{}
	for _, file := range files {
		data, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		var crd struct {
			Kind string `json:"kind"`
			Spec struct {
				Group string `json:"group"`
				Names struct {
					Kind string `json:"kind"`
				} `json:"names"`
				Versions []struct {
					Name   string `json:"name"`
					Served bool   `json:"served"`
					Schema struct {
						OpenAPIV3Schema map[string]any `json:"openAPIV3Schema"`
					} `json:"schema"`
				} `json:"versions"`
			} `json:"spec"`
		}
		if err := yaml.Unmarshal(data, &crd); err != nil {
			t.Fatalf("%s: %v", file, err)
		}
		if crd.Kind != "CustomResourceDefinition" {
			t.Fatalf("%s is a %s, not a CustomResourceDefinition", file, crd.Kind)
		}
		for _, v := range crd.Spec.Versions {
			if !v.Served {
				continue
			}
			key := crd.Spec.Group + "/" + v.Name + "/" + crd.Spec.Names.Kind
			url := "file:///" + key + ".json"
			c := jsonschema.NewCompiler()
			// Round-trip through JSON so numbers have the types the compiler expects.
			js, err := json.Marshal(closeObjects(v.Schema.OpenAPIV3Schema))
			if err != nil {
				t.Fatal(err)
			}
			doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(js))
			if err != nil {
				t.Fatal(err)
			}
			if err := c.AddResource(url, doc); err != nil {
				t.Fatal(err)
			}
			sch, err := c.Compile(url)
			if err != nil {
				t.Fatalf("compile %s schema from %s: %v", key, file, err)
			}
			out[key] = sch
		}
	}
	return out
}

// closeObjects returns a copy of an OpenAPI v3 schema in which every object that lists its
// properties, and neither allows additional ones nor preserves unknown fields, rejects fields it
// does not list (but within oneOf, anyOf and allOf, below). The API server would silently prune such fields (or reject them under strict
// field validation); here they are errors, so a typo in a manifest is caught. metadata is left
// open: the CRD does not describe it.
func closeObjects(s map[string]any) map[string]any {
	out := make(map[string]any, len(s)+1)
	for k, v := range s {
		out[k] = v
	}
	if props, ok := s["properties"].(map[string]any); ok {
		np := make(map[string]any, len(props))
		for name, p := range props {
			ps, ok := p.(map[string]any)
			if !ok || name == "metadata" {
				np[name] = p
				continue
			}
			np[name] = closeObjects(ps)
		}
		out["properties"] = np
		_, hasAdditional := s["additionalProperties"]
		if preserve, _ := s["x-kubernetes-preserve-unknown-fields"].(bool); !preserve && !hasAdditional {
			out["additionalProperties"] = false
		}
	}
	if items, ok := s["items"].(map[string]any); ok {
		out["items"] = closeObjects(items)
	}
	if ap, ok := s["additionalProperties"].(map[string]any); ok {
		out["additionalProperties"] = closeObjects(ap)
	}
	// oneOf, anyOf and allOf are left as they are: in a CRD's structural schema their
	// branches only validate fields the object's own properties declare (Strimzi's env
	// entries: name and one of value or valueFrom), so closing a branch would refuse the
	// fields declared beside it.
	return out
}
