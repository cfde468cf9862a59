package k8s

import (
	"encoding/json"
	"os/exec"
	"slices"
	"testing"

	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"

	"github.com/beacon/eventdispatch/internal/gentest"
)

// k8s/monitoring/ is what skaffold's monitoring profile adds for kube-prometheus-stack: the
// rules and the dashboard of deploy/observability/, and a PodMonitor.

func TestMonitoring_IsGeneratedFromDeployObservability(t *testing.T) {
	dir := t.TempDir()
	out, err := exec.Command("go", "run", "../deploy/observability/tok8s", "-src", "../deploy/observability", "-out", dir).CombinedOutput()
	if err != nil {
		t.Fatalf("go run ./deploy/observability/tok8s: %v\n%s", err, out)
	}
	gentest.Same(t, dir, "monitoring", "k8s/monitoring", "make k8s-monitoring")
}

// monitoringKinds are the kinds k8s/monitoring/ may hold, as Go types of the Prometheus
// Operator's API (v0.95) and of Kubernetes.
var monitoringKinds = map[string]func() any{
	"monitoring.coreos.com/v1/PodMonitor":     func() any { return &monitoringv1.PodMonitor{} },
	"monitoring.coreos.com/v1/PrometheusRule": func() any { return &monitoringv1.PrometheusRule{} },
	"v1/ConfigMap": func() any { return &corev1.ConfigMap{} },
}

// monitoringObjects decodes every document of k8s/monitoring/ strictly (unknown fields are
// errors, as with kubectl's strict field validation), by kind.
func monitoringObjects(t *testing.T) map[string][]any {
	t.Helper()
	objs := map[string][]any{}
	for _, m := range loadManifestFiles(t, "monitoring/*.yaml") {
		if m.Namespace != "" {
			t.Errorf("%s sets metadata.namespace %q: leave it out, skaffold's deploy.kubectl.defaultNamespace places everything", m, m.Namespace)
		}
		obj, err := decodeStrictAs(m, monitoringKinds, "monitoringKinds in k8s/monitoring_test.go")
		if err != nil {
			t.Error(err)
			continue
		}
		objs[m.Kind] = append(objs[m.Kind], obj)
	}
	return objs
}

func TestMonitoring_DecodesIntoPrometheusOperatorTypes(t *testing.T) {
	objs := monitoringObjects(t)
	for _, kind := range []string{"PodMonitor", "PrometheusRule", "ConfigMap"} {
		if len(objs[kind]) != 1 {
			t.Errorf("k8s/monitoring/ holds %d %s objects, want 1", len(objs[kind]), kind)
		}
	}
	for _, o := range objs["PrometheusRule"] {
		r := o.(*monitoringv1.PrometheusRule)
		var alerts, records int
		for _, g := range r.Spec.Groups {
			for _, rule := range g.Rules {
				switch {
				case rule.Alert != "":
					alerts++
				case rule.Record != "":
					records++
				}
			}
		}
		if alerts == 0 || records == 0 {
			t.Errorf("PrometheusRule %s has %d alerts and %d recording rules", r.Name, alerts, records)
		}
	}
	for _, o := range objs["ConfigMap"] {
		cm := o.(*corev1.ConfigMap)
		if cm.Labels["grafana_dashboard"] != "1" {
			t.Errorf("ConfigMap %s lacks the label grafana_dashboard: \"1\" that Grafana's dashboard sidecar looks for", cm.Name)
		}
		for name, body := range cm.Data {
			if !json.Valid([]byte(body)) {
				t.Errorf("ConfigMap %s: %s is not valid JSON", cm.Name, name)
			}
		}
	}
}

func TestMonitoring_PodMonitorScrapesEveryServiceOnItsAdminPort(t *testing.T) {
	c := loadCluster(t)
	for _, o := range monitoringObjects(t)["PodMonitor"] {
		pm := o.(*monitoringv1.PodMonitor)
		sel, err := metav1.LabelSelectorAsSelector(&pm.Spec.Selector)
		if err != nil {
			t.Fatalf("PodMonitor %s: %v", pm.Name, err)
		}
		for _, name := range []string{"dispatcher", "frontdoor"} {
			d, ok := c.Deployments[name]
			if !ok {
				t.Fatalf("no Deployment %s in k8s/", name)
			}
			if !sel.Matches(labels.Set(d.Spec.Template.Labels)) {
				t.Errorf("PodMonitor %s does not select the pods of Deployment %s (labels %v)", pm.Name, name, d.Spec.Template.Labels)
			}
			for _, ep := range pm.Spec.PodMetricsEndpoints {
				port := ""
				if ep.Port != nil {
					port = *ep.Port
				}
				if !slices.ContainsFunc(d.Spec.Template.Spec.Containers, func(ctr corev1.Container) bool {
					return slices.ContainsFunc(ctr.Ports, func(p corev1.ContainerPort) bool { return p.Name == port })
				}) {
					t.Errorf("PodMonitor %s scrapes port %q, which Deployment %s's containers do not name", pm.Name, port, name)
				}
				if ep.Path != "/metrics" {
					t.Errorf("PodMonitor %s scrapes %q; the admin server serves /metrics", pm.Name, ep.Path)
				}
			}
		}
	}
}

func TestSkaffold_MonitoringProfileInstallsThePrometheusOperatorAndAppliesK8sMonitoring(t *testing.T) {
	type profile struct {
		Name    string `json:"name"`
		Patches []struct {
			Op    string          `json:"op"`
			Path  string          `json:"path"`
			Value json.RawMessage `json:"value"`
		} `json:"patches"`
	}
	var cfg struct {
		Profiles []profile `json:"profiles"`
	}
	if err := json.Unmarshal(skaffoldJSON(t), &cfg); err != nil {
		t.Fatal(err)
	}
	i := slices.IndexFunc(cfg.Profiles, func(p profile) bool { return p.Name == "monitoring" })
	if i < 0 {
		t.Fatal("skaffold.yaml has no profile monitoring")
	}
	var manifests, operator bool
	for _, p := range cfg.Profiles[i].Patches {
		switch p.Path {
		case "/manifests/rawYaml/-":
			var glob string
			manifests = json.Unmarshal(p.Value, &glob) == nil && glob == "k8s/monitoring/*.yaml"
		case "/deploy/helm/releases/-":
			var rel struct {
				RemoteChart string         `json:"remoteChart"`
				Version     string         `json:"version"`
				SetValues   map[string]any `json:"setValues"`
			}
			if err := json.Unmarshal(p.Value, &rel); err != nil || rel.RemoteChart != "kube-prometheus-stack" {
				continue
			}
			operator = true
			if rel.Version == "" {
				t.Error("the monitoring profile's kube-prometheus-stack release does not pin a chart version")
			}
			// Otherwise its Prometheus selects only the chart's own rules and monitors.
			for _, v := range []string{"prometheus.prometheusSpec.podMonitorSelectorNilUsesHelmValues", "prometheus.prometheusSpec.ruleSelectorNilUsesHelmValues"} {
				if rel.SetValues[v] != false {
					t.Errorf("the monitoring profile's kube-prometheus-stack release sets %s to %v, want false", v, rel.SetValues[v])
				}
			}
		}
	}
	if !manifests {
		t.Error("the monitoring profile does not add k8s/monitoring/*.yaml to the manifests")
	}
	if !operator {
		t.Error("the monitoring profile does not install kube-prometheus-stack")
	}
}
