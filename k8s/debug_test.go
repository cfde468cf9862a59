package k8s

import (
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"
	"sigs.k8s.io/yaml"
)

// TestDebugCommand_RunsBesideAGoPod checks the README's `kubectl debug` command against the
// manifests: it names a pod (debug takes no Deployment) by the dispatcher's pod labels, targets
// one of that pod's containers, and gives its debug container, through --custom, the user of
// the Go images, as the pods' runAsNonRoot wants of an image (busybox) that runs as root.
func TestDebugCommand_RunsBesideAGoPod(t *testing.T) {
	readme, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	start := strings.Index(string(readme), "kubectl -n beacon debug ")
	if start < 0 {
		t.Fatal("README.md has no `kubectl -n beacon debug` command")
	}
	end := strings.Index(string(readme[start:]), "\n```")
	if end < 0 {
		t.Fatal("README.md's `kubectl debug` command is not in a code block")
	}
	cmd := strings.ReplaceAll(string(readme[start:start+end]), "\\\n", " ")
	flag := func(name string) string {
		m := regexp.MustCompile(`(?:^|\s)` + name + `[= ](\S+)`).FindStringSubmatch(cmd)
		if m == nil {
			t.Fatalf("README.md's `kubectl debug` command has no %s: %s", name, cmd)
		}
		return strings.Trim(m[1], `"'`)
	}
	if regexp.MustCompile(`\sdeploy(ment)?/`).MatchString(cmd) {
		t.Errorf("README.md's `kubectl debug` names a Deployment, which debug refuses (\"not supported by debug\"): %s", cmd)
	}

	var dispatcher *workload
	for _, w := range loadCluster(t).workloads() {
		if w.Kind == "Deployment" && w.Name == "dispatcher" {
			dispatcher = &w
		}
	}
	if dispatcher == nil {
		t.Fatal("no Deployment dispatcher in k8s/")
	}
	selector, err := labels.Parse(flag("-l"))
	if err != nil {
		t.Fatalf("README.md's `kubectl debug` selector: %v", err)
	}
	if !selector.Matches(labels.Set(dispatcher.Template.Labels)) {
		t.Errorf("README.md's `kubectl debug` selects pods by %q, which the dispatcher's pods (%v) do not match", selector, dispatcher.Template.Labels)
	}
	target := flag("--target")
	if !containerNamed(dispatcher.Template.Spec.Containers, target) {
		t.Errorf("README.md's `kubectl debug` targets container %q, which the dispatcher's pod does not have", target)
	}

	custom := flag("--custom")
	data, err := os.ReadFile("../" + custom)
	if err != nil {
		t.Fatalf("README.md's `kubectl debug --custom`: %v", err)
	}
	var c corev1.Container
	if err := yaml.UnmarshalStrict(data, &c); err != nil {
		t.Fatalf("%s is not a partial container: %v", custom, err)
	}
	if c.SecurityContext == nil || c.SecurityContext.RunAsUser == nil {
		t.Fatalf("%s sets no runAsUser: busybox runs as root, which the pods' runAsNonRoot refuses", custom)
	}
	if sc := dispatcher.Template.Spec.SecurityContext; sc == nil || sc.RunAsNonRoot == nil || !*sc.RunAsNonRoot {
		t.Errorf("the dispatcher's pod no longer sets runAsNonRoot: %s's user is then not needed", custom)
	}
	dockerfile, err := os.ReadFile("../deploy/docker/go.Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^USER (\d+)`).FindSubmatch(dockerfile)
	if m == nil {
		t.Fatal("deploy/docker/go.Dockerfile has no numeric USER")
	}
	if uid, _ := strconv.ParseInt(string(m[1]), 10, 64); *c.SecurityContext.RunAsUser != uid {
		t.Errorf("%s runs as user %d, the Go images as %d: the debug container could not read the target's files", custom, *c.SecurityContext.RunAsUser, uid)
	}
}

func containerNamed(cs []corev1.Container, name string) bool {
	for _, c := range cs {
		if c.Name == name {
			return true
		}
	}
	return false
}
