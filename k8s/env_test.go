package k8s

import (
	"testing"
	"time"

	"github.com/beacon/eventdispatch/internal/app"
	"github.com/beacon/eventdispatch/internal/config"
)

// binaryEnv returns the variables the binary built from cmd/<name> reads, with its defaults,
// from its settings type in internal/app (the same values the binary loads), so this check
// cannot drift from the code.
func binaryEnv(t *testing.T, name string) map[string]config.Variable {
	t.Helper()
	settings, ok := app.Binaries()[name]
	if !ok {
		t.Fatalf("no binary %q in internal/app.Binaries: is the artifact's CMD build arg a directory under cmd/?", name)
	}
	out := map[string]config.Variable{}
	for _, v := range config.Variables(settings) {
		out[v.Name] = v
	}
	return out
}

// requiredEnv lists, per binary, the variables a manifest must set because their defaults
// only suit a developer machine: the addresses of Kafka and Postgres, and JSON logs for the
// cluster's log collection.
var requiredEnv = map[string][]string{
	"frontdoor":  {"KAFKA_BROKERS", "DATABASE_URL", "LOG_FORMAT"},
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
	Known    map[string]config.Variable
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
	envCache := map[string]map[string]config.Variable{}
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
				t.Errorf("%s container %s sets %s, which %s does not read (not in its settings in internal/app): remove it or fix its name",
					gc.Workload, gc.Name, name, gc.Binary)
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
		// The grace period counts from the deletion, and a preStop sleep comes before SIGTERM.
		exit := app.ExitWithin(grace)
		for _, ctr := range gc.Workload.Template.Spec.Containers {
			if ctr.Name == gc.Name && ctr.Lifecycle != nil && ctr.Lifecycle.PreStop != nil && ctr.Lifecycle.PreStop.Sleep != nil {
				exit += time.Duration(ctr.Lifecycle.PreStop.Sleep.Seconds) * time.Second
			}
		}
		if time.Duration(tgp)*time.Second <= exit {
			t.Errorf("%s: terminationGracePeriodSeconds %d is not longer than the %s %s may take to exit (its preStop, and SHUTDOWN_GRACE %s); the kubelet would kill it before it drains: raise it above %s",
				gc.Workload, tgp, exit, gc.Binary, grace, exit)
		}
	}
}

// loaders load each binary's settings from the environment, as the binary does at start
// (config.Load over its defaults: every value parsed, then validated).
var loaders = map[string]func() error{
	"frontdoor":  func() error { _, err := config.Load(app.DefaultFrontDoor()); return err },
	"dispatcher": func() error { _, err := config.Load(app.DefaultDispatcher()); return err },
	"headband":   func() error { _, err := config.Load(app.DefaultHeadband()); return err },
	"standalone": func() error { _, err := config.Load(app.DefaultStandalone()); return err },
	"migrate":    func() error { _, err := config.Load(app.DefaultMigrate()); return err },
}

// Each container's values load as its binary loads them: a value that does not parse (a
// duration without its unit) or that its settings refuse would otherwise pass every check
// here and stop the pod at start. Values from Secrets are not in the manifests: those
// variables keep their defaults.
func TestManifests_EnvValuesLoadAsTheBinaryLoadsThem(t *testing.T) {
	c, sk := loadCluster(t), loadSkaffold(t)
	for _, gc := range goContainers(t, c, sk) {
		t.Run(gc.Workload.String()+"/"+gc.Name, func(t *testing.T) {
			load, ok := loaders[gc.Binary]
			if !ok {
				t.Fatalf("no loader for %s: add it to loaders", gc.Binary)
			}
			for name := range gc.Known { // the test's own environment aside: an empty value is unset
				t.Setenv(name, "")
			}
			for name, value := range gc.Env {
				t.Setenv(name, value)
			}
			if err := load(); err != nil {
				t.Errorf("%s as the manifest sets it: %v", gc.Binary, err)
			}
		})
	}
}

// sharedEnv are the variables that describe what the services share, so every container that
// reads one must see the same value: the jobs topic the front doors write and the
// dispatchers read, how many partitions it is created with, and the conversations' TTL, by
// which each process judges a conversation idle and its sweep expires it and forgets it (with
// two TTLs, a front door would still serve a conversation whose events a dispatcher has
// deleted, and an expired id would be forgotten after the shorter one).
var sharedEnv = []string{"JOBS_TOPIC", "KAFKA_TOPIC_PARTITIONS", "CONVERSATION_TTL"}

func TestManifests_SharedSettingsAgreeAcrossContainers(t *testing.T) {
	c, sk := loadCluster(t), loadSkaffold(t)
	for _, name := range sharedEnv {
		seen := map[string]string{} // value, as parsed when a duration → the container that has it
		for _, gc := range goContainers(t, c, sk) {
			if _, reads := gc.Known[name]; !reads || gc.Init || (gc.Set[name] && gc.Env[name] == "") {
				continue // not read, or from a Secret or ConfigMap: not in the manifests
			}
			value := gc.effective(name)
			if d, err := time.ParseDuration(value); err == nil {
				value = d.String()
			}
			seen[value] = gc.Workload.String() + " container " + gc.Name
		}
		if len(seen) > 1 {
			t.Errorf("%s differs between containers: %v; the services share what it names, so give them one value", name, seen)
		}
		if len(seen) == 0 {
			t.Errorf("no container reads %s: remove it from sharedEnv", name)
		}
	}
}
