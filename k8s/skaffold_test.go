package k8s

import (
	"encoding/json"
	"regexp"
	"strconv"
	"testing"

	"sigs.k8s.io/yaml"
)

// skaffoldConfig is the part of skaffold.yaml the cross-reference checks read. The schema test
// validates the whole file.
type skaffoldConfig struct {
	Build struct {
		Artifacts []struct {
			Image   string `json:"image"`
			Context string `json:"context"`
			Docker  struct {
				Dockerfile string            `json:"dockerfile"`
				BuildArgs  map[string]string `json:"buildArgs"`
			} `json:"docker"`
		} `json:"artifacts"`
	} `json:"build"`
	Manifests struct {
		RawYaml []string `json:"rawYaml"`
	} `json:"manifests"`
	ResourceSelector struct {
		Allow []struct {
			GroupKind string   `json:"groupKind"`
			Image     []string `json:"image"`
		} `json:"allow"`
	} `json:"resourceSelector"`
	Deploy struct {
		Helm struct {
			Releases []struct {
				Name        string `json:"name"`
				Repo        string `json:"repo"`
				RemoteChart string `json:"remoteChart"`
				Version     string `json:"version"`
				Namespace   string `json:"namespace"`
			} `json:"releases"`
		} `json:"helm"`
		Kubectl struct {
			DefaultNamespace string `json:"defaultNamespace"`
		} `json:"kubectl"`
	} `json:"deploy"`
	PortForward []struct {
		ResourceType string `json:"resourceType"`
		ResourceName string `json:"resourceName"`
		Namespace    string `json:"namespace"`
		Port         int    `json:"port"`
		LocalPort    int    `json:"localPort"`
	} `json:"portForward"`
}

func skaffoldJSON(t *testing.T) []byte {
	t.Helper()
	js, err := yaml.YAMLToJSON(readRepoFile(t, "skaffold.yaml"))
	if err != nil {
		t.Fatalf("skaffold.yaml is not valid YAML: %v", err)
	}
	return js
}

func loadSkaffold(t *testing.T) skaffoldConfig {
	t.Helper()
	var cfg skaffoldConfig
	if err := json.Unmarshal(skaffoldJSON(t), &cfg); err != nil {
		t.Fatalf("skaffold.yaml: %v", err)
	}
	return cfg
}

// binaryOf maps each skaffold image to the cmd/ directory its Go binary is built from ("" for
// images that are not Go binaries, such as Kafka Connect).
func (s skaffoldConfig) binaryOf() map[string]string {
	out := map[string]string{}
	for _, a := range s.Build.Artifacts {
		out[a.Image] = a.Docker.BuildArgs["CMD"]
	}
	return out
}

// The Go images are built with the Go that go.mod asks for, or a later patch release of it.
// The golang images do not download a newer toolchain (GOTOOLCHAIN=local), so a floating tag
// (golang:1.26) already pulled into minikube's daemon at an older patch fails the build with
// "go.mod requires go >= ...".
func TestDockerfile_BuildsWithTheGoOfGoMod(t *testing.T) {
	mod := regexp.MustCompile(`(?m)^go (\d+)\.(\d+)\.(\d+)$`).FindSubmatch(readRepoFile(t, "go.mod"))
	arg := regexp.MustCompile(`(?m)^ARG GO_VERSION=(\d+)\.(\d+)\.(\d+)$`).FindSubmatch(readRepoFile(t, "deploy/docker/go.Dockerfile"))
	if mod == nil || arg == nil {
		t.Fatalf("go.mod's go line %q or go.Dockerfile's ARG GO_VERSION %q is not a whole release (1.N.P)", mod, arg)
	}
	patch := func(m [][]byte) int { n, _ := strconv.Atoi(string(m[3])); return n }
	if string(arg[1]) != string(mod[1]) || string(arg[2]) != string(mod[2]) || patch(arg) < patch(mod) {
		t.Errorf("deploy/docker/go.Dockerfile builds with golang:%s.%s.%s; go.mod needs go %s.%s.%s: use that release or a later patch of it",
			arg[1], arg[2], arg[3], mod[1], mod[2], mod[3])
	}
	for _, a := range loadSkaffold(t).Build.Artifacts {
		if v, ok := a.Docker.BuildArgs["GO_VERSION"]; ok {
			t.Errorf("skaffold.yaml sets GO_VERSION=%s for %s; go.Dockerfile's default is the one checked here", v, a.Image)
		}
	}
}
