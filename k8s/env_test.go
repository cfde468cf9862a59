package k8s

import (
	"go/ast"
	"go/parser"
	"go/token"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"
)

// envVar is an environment variable a binary reads, from an `env:"NAME"` struct tag.
type envVar struct {
	Name    string
	Default string // envDefault, "" if none
}

// binaryEnv returns the variables the binary built from cmd/<name> reads: the env tags of the
// struct fields in its non-test Go files and in the module's packages it imports directly
// (internal/logging's Config, internal/worker's ModelSettings, ...), whose settings structs it
// embeds. Parsing the source (not a hand-kept list) keeps this check in step with the code.
func binaryEnv(t *testing.T, name string) map[string]envVar {
	t.Helper()
	out := map[string]envVar{}
	for _, dir := range settingsDirs(t, filepath.Join("..", "cmd", name)) {
		paths, err := filepath.Glob(filepath.Join(dir, "*.go"))
		if err != nil || len(paths) == 0 {
			t.Fatalf("no Go files in %s (err %v): is the artifact's CMD build arg a directory under cmd/?", dir, err)
		}
		fset := token.NewFileSet()
		for _, path := range paths {
			if strings.HasSuffix(path, "_test.go") {
				continue
			}
			f, err := parser.ParseFile(fset, path, nil, 0)
			if err != nil {
				t.Fatalf("parse %s: %v", path, err)
			}
			ast.Inspect(f, func(n ast.Node) bool {
				field, ok := n.(*ast.Field)
				if !ok || field.Tag == nil {
					return true
				}
				tag, err := strconv.Unquote(field.Tag.Value)
				if err != nil {
					return true
				}
				st := reflect.StructTag(tag)
				if env := st.Get("env"); env != "" {
					name, _, _ := strings.Cut(env, ",")
					out[name] = envVar{Name: name, Default: st.Get("envDefault")}
				}
				return true
			})
		}
	}
	if len(out) == 0 {
		t.Fatalf("found no env tags in cmd/%s: is the artifact's CMD build arg a directory under cmd/?", name)
	}
	return out
}

// settingsDirs returns cmd's directory and those of the module's packages it imports.
func settingsDirs(t *testing.T, cmd string) []string {
	t.Helper()
	const module = "github.com/beacon/eventdispatch/"
	dirs := []string{cmd}
	seen := map[string]bool{}
	paths, _ := filepath.Glob(filepath.Join(cmd, "*.go"))
	for _, path := range paths {
		if strings.HasSuffix(path, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(token.NewFileSet(), path, nil, parser.ImportsOnly)
		if err != nil {
			t.Fatalf("parse %s: %v", path, err)
		}
		for _, imp := range f.Imports {
			pkg, _ := strconv.Unquote(imp.Path.Value)
			if rel, ok := strings.CutPrefix(pkg, module); ok && !seen[rel] {
				seen[rel] = true
				dirs = append(dirs, filepath.Join("..", filepath.FromSlash(rel)))
			}
		}
	}
	return dirs
}

// requiredEnv lists, per binary, the variables a manifest must set because their defaults
// only suit a developer machine: the addresses of Kafka and Postgres, and JSON logs for the
// cluster's log collection.
var requiredEnv = map[string][]string{
	"frontdoor":  {"KAFKA_BROKERS", "LOG_FORMAT"},
	"dispatcher": {"KAFKA_BROKERS", "DATABASE_URL", "LOG_FORMAT"},
	"headband":   {"DATABASE_URL", "LOG_FORMAT"},
	"migrate":    {"DATABASE_URL", "LOG_FORMAT"},
}

// goContainer is a container running one of the repo's binaries.
type goContainer struct {
	Workload workload
	Name     string
	Binary   string
	Init     bool
	Env      map[string]string // variables set with a literal value ("" for valueFrom)
	Set      map[string]bool
	Known    map[string]envVar
}

// effective returns the value the binary sees for name: the manifest's, else its default.
func (c goContainer) effective(name string) string {
	if v, ok := c.Env[name]; ok && c.Set[name] {
		return v
	}
	return c.Known[name].Default
}

func goContainers(t *testing.T, c *cluster, sk skaffoldConfig) []goContainer {
	t.Helper()
	binaries := sk.binaryOf()
	envCache := map[string]map[string]envVar{}
	var out []goContainer
	for _, w := range c.workloads() {
		inits := len(w.Template.Spec.InitContainers)
		for i, ctr := range allContainers(w.Template.Spec) {
			bin := binaries[ctr.Image]
			if bin == "" {
				continue
			}
			if envCache[bin] == nil {
				envCache[bin] = binaryEnv(t, bin)
			}
			gc := goContainer{Workload: w, Name: ctr.Name, Binary: bin, Init: i < inits,
				Env: map[string]string{}, Set: map[string]bool{}, Known: envCache[bin]}
			for _, e := range ctr.Env {
				gc.Env[e.Name] = e.Value
				gc.Set[e.Name] = true
			}
			out = append(out, gc)
		}
	}
	return out
}

func TestManifests_SetOnlyEnvVarsTheBinaryReads(t *testing.T) {
	c, sk := loadCluster(t), loadSkaffold(t)
	containers := goContainers(t, c, sk)
	if len(containers) == 0 {
		t.Fatal("no container runs a Go binary built by skaffold (build.artifacts with docker.buildArgs.CMD)")
	}
	for _, gc := range containers {
		for name := range gc.Set {
			if _, ok := gc.Known[name]; !ok {
				t.Errorf("%s container %s sets %s, which %s does not read (no env:%q tag in cmd/%s or the packages it imports): remove it or fix its name",
					gc.Workload, gc.Name, name, gc.Binary, name, gc.Binary)
			}
		}
		for _, name := range requiredEnv[gc.Binary] {
			if !gc.Set[name] {
				t.Errorf("%s container %s does not set %s; %s needs it in the cluster (its default %q only suits a developer machine)",
					gc.Workload, gc.Name, name, gc.Binary, gc.Known[name].Default)
			}
		}
		if f := gc.effective("LOG_FORMAT"); gc.Set["LOG_FORMAT"] && f != "json" {
			t.Errorf("%s container %s sets LOG_FORMAT=%q; in the cluster logs are JSON (see README, Kubernetes)", gc.Workload, gc.Name, f)
		}
	}
}

func TestManifests_GracePeriodOutlastsShutdownGrace(t *testing.T) {
	c, sk := loadCluster(t), loadSkaffold(t)
	for _, gc := range goContainers(t, c, sk) {
		if gc.Init {
			continue
		}
		grace, err := time.ParseDuration(gc.effective("SHUTDOWN_GRACE"))
		if err != nil {
			t.Errorf("%s container %s: SHUTDOWN_GRACE %q: %v", gc.Workload, gc.Name, gc.effective("SHUTDOWN_GRACE"), err)
			continue
		}
		tgp := int64(30) // Kubernetes' default
		if p := gc.Workload.Template.Spec.TerminationGracePeriodSeconds; p != nil {
			tgp = *p
		}
		if time.Duration(tgp)*time.Second <= grace {
			t.Errorf("%s: terminationGracePeriodSeconds %d is not longer than SHUTDOWN_GRACE %s; the kubelet would kill %s before it drains: raise it above %s",
				gc.Workload, tgp, grace, gc.Binary, grace)
		}
	}
}
