package k8s

import (
	"fmt"
	"maps"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

func TestManifests_ReferencedSecretsAndConfigMapsExist(t *testing.T) {
	c := loadCluster(t)
	hasKey := func(s *corev1.Secret, key string) bool {
		_, a := s.Data[key]
		_, b := s.StringData[key]
		return a || b
	}
	for _, w := range c.workloads() {
		for _, ctr := range allContainers(w.Template.Spec) {
			for _, e := range ctr.Env {
				if e.ValueFrom == nil {
					continue
				}
				if ref := e.ValueFrom.SecretKeyRef; ref != nil && (ref.Optional == nil || !*ref.Optional) {
					s, ok := c.Secrets[ref.Name]
					switch {
					case !ok:
						t.Errorf("%s container %s: env %s reads Secret %s, which no manifest in k8s/ defines: add it, or mark the reference optional",
							w, ctr.Name, e.Name, ref.Name)
					case !hasKey(s, ref.Key):
						t.Errorf("%s container %s: env %s reads key %q of Secret %s, which has no such key", w, ctr.Name, e.Name, ref.Key, ref.Name)
					}
				}
				if ref := e.ValueFrom.ConfigMapKeyRef; ref != nil && (ref.Optional == nil || !*ref.Optional) {
					if cm, ok := c.ConfigMaps[ref.Name]; !ok {
						t.Errorf("%s container %s: env %s reads ConfigMap %s, which no manifest in k8s/ defines", w, ctr.Name, e.Name, ref.Name)
					} else if _, ok := cm.Data[ref.Key]; !ok {
						t.Errorf("%s container %s: env %s reads key %q of ConfigMap %s, which has no such key", w, ctr.Name, e.Name, ref.Key, ref.Name)
					}
				}
			}
			for _, ef := range ctr.EnvFrom {
				if ef.SecretRef != nil && (ef.SecretRef.Optional == nil || !*ef.SecretRef.Optional) && c.Secrets[ef.SecretRef.Name] == nil {
					t.Errorf("%s container %s: envFrom Secret %s does not exist in k8s/", w, ctr.Name, ef.SecretRef.Name)
				}
				if ef.ConfigMapRef != nil && (ef.ConfigMapRef.Optional == nil || !*ef.ConfigMapRef.Optional) && c.ConfigMaps[ef.ConfigMapRef.Name] == nil {
					t.Errorf("%s container %s: envFrom ConfigMap %s does not exist in k8s/", w, ctr.Name, ef.ConfigMapRef.Name)
				}
			}
		}
		for _, v := range w.Template.Spec.Volumes {
			if v.Secret != nil && (v.Secret.Optional == nil || !*v.Secret.Optional) && c.Secrets[v.Secret.SecretName] == nil {
				t.Errorf("%s: volume %s mounts Secret %s, which does not exist in k8s/", w, v.Name, v.Secret.SecretName)
			}
			if v.ConfigMap != nil && (v.ConfigMap.Optional == nil || !*v.ConfigMap.Optional) && c.ConfigMaps[v.ConfigMap.Name] == nil {
				t.Errorf("%s: volume %s mounts ConfigMap %s, which does not exist in k8s/", w, v.Name, v.ConfigMap.Name)
			}
		}
	}
}

// serviceNames returns the Services that will exist: those in k8s/ and those Strimzi creates
// for the Kafka and KafkaConnect resources in k8s/.
func serviceNames(c *cluster) map[string]bool {
	out := map[string]bool{}
	for name := range c.Services {
		out[name] = true
	}
	for name := range c.Strimzi["Kafka"] {
		out[name+"-kafka-bootstrap"] = true
		out[name+"-kafka-brokers"] = true
	}
	for name := range c.Strimzi["KafkaConnect"] {
		out[name+"-connect-api"] = true
	}
	return out
}

// hostsOf returns the host names in a comma-separated broker list or a URL.
func hostsOf(value string) []string {
	if u, err := url.Parse(value); err == nil && u.Scheme != "" && u.Host != "" {
		return []string{u.Hostname()}
	}
	var out []string
	for _, part := range strings.Split(value, ",") {
		if host, _, err := net.SplitHostPort(strings.TrimSpace(part)); err == nil {
			out = append(out, host)
		}
	}
	return out
}

// address is a value in k8s/ that says where to connect: a broker list (brokers) or a URL.
type address struct {
	where, value string
	brokers      bool
}

// addresses lists the addresses k8s/ gives: its containers' KAFKA_BROKERS and *_URL, its
// Secrets' *url keys and its KafkaConnects' bootstrapServers.
func addresses(c *cluster) []address {
	var out []address
	for _, w := range c.workloads() {
		for _, ctr := range allContainers(w.Template.Spec) {
			for _, e := range ctr.Env {
				if e.Name == "KAFKA_BROKERS" || strings.HasSuffix(e.Name, "_URL") {
					out = append(out, address{fmt.Sprintf("%s container %s env %s", w, ctr.Name, e.Name), e.Value, e.Name == "KAFKA_BROKERS"})
				}
			}
		}
	}
	for _, s := range c.Secrets {
		for key, v := range s.StringData {
			if strings.HasSuffix(key, "url") {
				out = append(out, address{fmt.Sprintf("Secret %s key %s", s.Name, key), v, false})
			}
		}
	}
	for name, m := range c.Strimzi["KafkaConnect"] {
		bs, _ := strimziSpec(m)["bootstrapServers"].(string)
		out = append(out, address{"KafkaConnect " + name + " bootstrapServers", bs, true})
	}
	return out
}

func TestManifests_ReferencedServicesExist(t *testing.T) {
	c := loadCluster(t)
	services := serviceNames(c)
	check := func(where, host string) {
		short, _, _ := strings.Cut(host, ".")
		if !services[short] {
			t.Errorf("%s names host %q, but no Service %s is defined in k8s/ (or created by Strimzi for a Kafka/KafkaConnect there)", where, host, short)
		}
	}
	for _, a := range addresses(c) {
		for _, h := range hostsOf(a.value) {
			check(a.where, h)
		}
	}
	for name, s := range c.StatefulSets {
		if !services[s.Spec.ServiceName] {
			t.Errorf("StatefulSet %s: serviceName %q is not a Service in k8s/", name, s.Spec.ServiceName)
		}
	}
	for name, m := range c.Strimzi["KafkaConnector"] {
		cfg, _ := strimziSpec(m)["config"].(map[string]any)
		host, _ := cfg["database.hostname"].(string)
		check("KafkaConnector "+name+" database.hostname", host)
	}
}

func TestManifests_SelectorsMatchPodLabels(t *testing.T) {
	c := loadCluster(t)
	matches := func(sel, labels map[string]string) bool {
		for k, v := range sel {
			if labels[k] != v {
				return false
			}
		}
		return true
	}
	workloads := c.workloads()
	for _, w := range workloads {
		if w.Kind == "Job" {
			continue
		}
		if len(w.Selector) == 0 {
			t.Errorf("%s has an empty selector.matchLabels", w)
		} else if !matches(w.Selector, w.Template.Labels) {
			t.Errorf("%s: selector %v does not match its pod template's labels %v", w, w.Selector, w.Template.Labels)
		}
	}
	for name, s := range c.Services {
		var selected []workload
		for _, w := range workloads {
			if len(s.Spec.Selector) > 0 && matches(s.Spec.Selector, w.Template.Labels) {
				selected = append(selected, w)
			}
		}
		if len(selected) == 0 {
			t.Errorf("Service %s: selector %v matches no pod template in k8s/", name, s.Spec.Selector)
			continue
		}
		for _, p := range s.Spec.Ports {
			if p.Name == "" {
				t.Errorf("Service %s: port %d has no name; name every port", name, p.Port)
			}
			target := p.TargetPort
			if target.Type == intstr.Int && target.IntVal == 0 {
				target = intstr.FromInt32(p.Port)
			}
			for _, w := range selected {
				if !hasPort(w.Template.Spec.Containers, target) {
					t.Errorf("Service %s port %s: targetPort %s is not a container port of %s", name, p.Name, target.String(), w)
				}
			}
		}
	}
}

func hasPort(containers []corev1.Container, port intstr.IntOrString) bool {
	for _, ctr := range containers {
		for _, p := range ctr.Ports {
			if (port.Type == intstr.String && p.Name == port.StrVal) || (port.Type == intstr.Int && p.ContainerPort == port.IntVal) {
				return true
			}
		}
	}
	return false
}

// portOf returns the port number of a listen address such as ":9090".
func portOf(addr string) (int32, error) {
	_, p, err := net.SplitHostPort(addr)
	if err != nil {
		return 0, err
	}
	n, err := strconv.ParseInt(p, 10, 32)
	return int32(n), err
}

func TestManifests_ServicesListenProbeAndAreScrapedOnTheirPorts(t *testing.T) {
	c, sk := loadCluster(t), loadSkaffold(t)
	for _, gc := range goContainers(t, c, sk) {
		if gc.Init {
			continue
		}
		var ctr corev1.Container
		for _, x := range gc.Workload.Template.Spec.Containers {
			if x.Name == gc.Name {
				ctr = x
			}
		}
		for _, v := range []string{"ADDR", "ADMIN_ADDR"} {
			if _, ok := gc.Known[v]; !ok {
				continue
			}
			port, err := portOf(gc.effective(v))
			if err != nil {
				t.Errorf("%s container %s: %s %q is not host:port: %v", gc.Workload, gc.Name, v, gc.effective(v), err)
				continue
			}
			if !hasPort([]corev1.Container{ctr}, intstr.FromInt32(port)) {
				t.Errorf("%s container %s listens on %d (%s) but declares no containerPort %d", gc.Workload, gc.Name, port, v, port)
			}
		}
		admin, err := portOf(gc.effective("ADMIN_ADDR"))
		if err != nil {
			continue
		}
		for _, pr := range []struct {
			kind, path string
			probe      *corev1.Probe
		}{{"readinessProbe", "/readyz", ctr.ReadinessProbe}, {"livenessProbe", "/healthz", ctr.LivenessProbe}} {
			if pr.probe == nil || pr.probe.HTTPGet == nil {
				t.Errorf("%s container %s has no HTTP %s: add one on GET %s of the admin port %d", gc.Workload, gc.Name, pr.kind, pr.path, admin)
				continue
			}
			if pr.probe.HTTPGet.Path != pr.path {
				t.Errorf("%s container %s: %s path is %q, want %s", gc.Workload, gc.Name, pr.kind, pr.probe.HTTPGet.Path, pr.path)
			}
			if !portIs(ctr, pr.probe.HTTPGet.Port, admin) {
				t.Errorf("%s container %s: %s port %s is not the admin port %d (ADMIN_ADDR)", gc.Workload, gc.Name, pr.kind, pr.probe.HTTPGet.Port.String(), admin)
			}
		}
		ann := gc.Workload.Template.Annotations
		if ann["prometheus.io/scrape"] != "true" || ann["prometheus.io/port"] != strconv.Itoa(int(admin)) || ann["prometheus.io/path"] != "/metrics" {
			t.Errorf("%s: pod annotations %v; want prometheus.io/scrape \"true\", prometheus.io/port %q, prometheus.io/path /metrics", gc.Workload, ann, strconv.Itoa(int(admin)))
		}
	}
	fd := c.Services["frontdoor"]
	if fd == nil {
		t.Fatal("no Service frontdoor in k8s/")
	}
	for _, p := range fd.Spec.Ports {
		if p.Name == "rpc" && (p.AppProtocol == nil || *p.AppProtocol != "kubernetes.io/h2c") {
			t.Errorf("Service frontdoor port rpc: appProtocol should be kubernetes.io/h2c (Connect, gRPC and gRPC-Web over cleartext HTTP/2)")
		}
	}
}

// portIs reports whether port (a name or number) resolves to want in ctr.
func portIs(ctr corev1.Container, port intstr.IntOrString, want int32) bool {
	if port.Type == intstr.Int {
		return port.IntVal == want
	}
	for _, p := range ctr.Ports {
		if p.Name == port.StrVal {
			return p.ContainerPort == want
		}
	}
	return false
}

func TestManifests_ContainersHaveRequestsAndLimits(t *testing.T) {
	c := loadCluster(t)
	for _, w := range c.workloads() {
		for _, ctr := range allContainers(w.Template.Spec) {
			for _, r := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
				if _, ok := ctr.Resources.Requests[r]; !ok {
					t.Errorf("%s container %s has no %s request", w, ctr.Name, r)
				}
				if _, ok := ctr.Resources.Limits[r]; !ok {
					t.Errorf("%s container %s has no %s limit", w, ctr.Name, r)
				}
			}
		}
	}
}

func TestManifests_DeploymentsRunTheAgreedReplicas(t *testing.T) {
	c := loadCluster(t)
	for name, want := range map[string]int32{"frontdoor": 2, "dispatcher": 2, "headband": 1} {
		d, ok := c.Deployments[name]
		if !ok {
			t.Errorf("no Deployment %s in k8s/", name)
			continue
		}
		if d.Spec.Replicas == nil || *d.Spec.Replicas != want {
			t.Errorf("Deployment %s: replicas %v, want %d", name, d.Spec.Replicas, want)
		}
	}
}

// pinned reports whether a public image names a fixed version: a digest, or a tag other than
// "latest".
func pinned(image string) bool {
	if strings.Contains(image, "@sha256:") {
		return true
	}
	slash := strings.LastIndex(image, "/")
	colon := strings.LastIndex(image, ":")
	return colon > slash && image[colon+1:] != "latest"
}

func TestManifests_ImagesAreSkaffoldArtifactsOrPinned(t *testing.T) {
	c, sk := loadCluster(t), loadSkaffold(t)
	artifacts := sk.binaryOf()
	used := map[string]bool{}
	for _, w := range c.workloads() {
		for _, ctr := range allContainers(w.Template.Spec) {
			if _, ok := artifacts[ctr.Image]; ok {
				used[ctr.Image] = true
				continue
			}
			if !pinned(ctr.Image) {
				t.Errorf("%s container %s: image %q is neither a skaffold artifact (build.artifacts[].image) nor pinned to a tag or digest", w, ctr.Name, ctr.Image)
			}
		}
	}
	for name, m := range c.Strimzi["KafkaConnect"] {
		img, _ := strimziSpec(m)["image"].(string)
		if _, ok := artifacts[img]; !ok {
			t.Errorf("KafkaConnect %s: spec.image %q is not a skaffold artifact; it must be the image with the Debezium plugin built from deploy/docker", name, img)
		}
		used[img] = true
		rewritten := false
		for _, a := range sk.ResourceSelector.Allow {
			if a.GroupKind == "KafkaConnect.kafka.strimzi.io" {
				for _, p := range a.Image {
					rewritten = rewritten || p == ".spec.image"
				}
			}
		}
		if !rewritten {
			t.Errorf("skaffold.yaml: resourceSelector.allow has no groupKind KafkaConnect.kafka.strimzi.io with image [.spec.image]; skaffold would not put the tag it built into KafkaConnect %s", name)
		}
	}
	for _, a := range sk.Build.Artifacts {
		if !used[a.Image] {
			t.Errorf("skaffold.yaml builds %s, but no manifest in k8s/ uses it", a.Image)
		}
		if _, err := os.Stat(filepath.Join("..", a.Context, a.Docker.Dockerfile)); err != nil {
			t.Errorf("skaffold.yaml artifact %s: Dockerfile %s in context %s: %v", a.Image, a.Docker.Dockerfile, a.Context, err)
		}
	}
}

func TestSkaffold_InstallsStrimziAndForwardsThePorts(t *testing.T) {
	c, sk := loadCluster(t), loadSkaffold(t)
	found := false
	for _, r := range sk.Deploy.Helm.Releases {
		if r.RemoteChart == "strimzi-kafka-operator" || strings.HasSuffix(r.RemoteChart, "/strimzi-kafka-operator") {
			found = true
			if r.Version != "1.2.0" {
				t.Errorf("skaffold.yaml: Strimzi chart version %q, want 1.2.0 (the CRDs vendored in k8s/testdata)", r.Version)
			}
			if r.Namespace != sk.Deploy.Kubectl.DefaultNamespace {
				t.Errorf("skaffold.yaml: the operator goes to namespace %q but the manifests to %q; the operator watches its own namespace", r.Namespace, sk.Deploy.Kubectl.DefaultNamespace)
			}
		}
	}
	if !found {
		t.Error("skaffold.yaml: no Helm release of strimzi-kafka-operator in deploy.helm.releases")
	}
	if len(sk.Manifests.RawYaml) != 1 || sk.Manifests.RawYaml[0] != "k8s/*.yaml" {
		t.Errorf("skaffold.yaml: manifests.rawYaml is %v; these checks read k8s/*.yaml, so deploy exactly that", sk.Manifests.RawYaml)
	}
	want := map[string]map[int]bool{"frontdoor": {8080: false, 9090: false}, "postgres": {5432: false}}
	for _, pf := range sk.PortForward {
		svc := c.Services[pf.ResourceName]
		if pf.ResourceType != "service" || svc == nil {
			t.Errorf("skaffold.yaml: portForward %s/%s is not a Service in k8s/", pf.ResourceType, pf.ResourceName)
			continue
		}
		ok := false
		for _, p := range svc.Spec.Ports {
			ok = ok || int(p.Port) == pf.Port
		}
		if !ok {
			t.Errorf("skaffold.yaml: portForward to port %d of Service %s, which has no such port", pf.Port, pf.ResourceName)
		}
		if pf.Namespace != sk.Deploy.Kubectl.DefaultNamespace {
			t.Errorf("skaffold.yaml: portForward %s in namespace %q, but the manifests go to %q", pf.ResourceName, pf.Namespace, sk.Deploy.Kubectl.DefaultNamespace)
		}
		if want[pf.ResourceName] != nil {
			want[pf.ResourceName][pf.Port] = pf.LocalPort == pf.Port
		}
	}
	for svc, ports := range want {
		for port, ok := range ports {
			if !ok {
				t.Errorf("skaffold.yaml: forward Service %s port %d to the same local port (the README's commands use it)", svc, port)
			}
		}
	}
}

// pgMajor reads the major version from an image such as postgres:17.6.
var pgMajor = regexp.MustCompile(`^(?:docker\.io/(?:library/)?)?postgres:(\d+)`)

func TestManifests_PostgresRunsLogicalReplication(t *testing.T) {
	c := loadCluster(t)
	s, ok := c.StatefulSets["postgres"]
	if !ok {
		t.Fatal("no StatefulSet postgres in k8s/")
	}
	if len(s.Spec.VolumeClaimTemplates) == 0 {
		t.Error("StatefulSet postgres has no volumeClaimTemplates: its data would not survive a restart")
	}
	ctr := s.Spec.Template.Spec.Containers[0]
	m := pgMajor.FindStringSubmatch(ctr.Image)
	if m == nil {
		t.Errorf("StatefulSet postgres: image %q is not the official postgres image with a version tag", ctr.Image)
	} else if n, _ := strconv.Atoi(m[1]); n < 15 {
		t.Errorf("StatefulSet postgres: PostgreSQL %d; use 15 or newer (the local stack's, which the tests run on)", n)
	}
	args := strings.Join(ctr.Args, " ")
	for _, want := range []string{"wal_level=logical", "max_replication_slots=", "max_wal_senders="} {
		if !strings.Contains(args, want) {
			t.Errorf("StatefulSet postgres: args %q lack -c %s; Debezium needs logical decoding and a replication slot", args, want)
		}
	}
	// The slot's WAL is capped, well within the volume: without a cap a slot whose Connect
	// is gone keeps WAL until the disk is full. The cap is enforced at checkpoints, so the WAL
	// between two of them (max_wal_size, 1 GB unless set) comes on top of it.
	size := func(setting string) int64 {
		t.Helper()
		m := regexp.MustCompile(setting + `=(\d+)(MB|GB)\b`).FindStringSubmatch(args)
		if m == nil {
			t.Fatalf("StatefulSet postgres: args %q lack -c %s=<n>MB|GB", args, setting)
		}
		n, _ := strconv.ParseInt(m[1], 10, 64)
		if m[2] == "GB" {
			return n << 30
		}
		return n << 20
	}
	keep, between := size("max_slot_wal_keep_size"), size("max_wal_size")
	if len(s.Spec.VolumeClaimTemplates) > 0 {
		volume := s.Spec.VolumeClaimTemplates[0].Spec.Resources.Requests.Storage().Value()
		if keep <= 0 || 2*keep > volume {
			t.Errorf("StatefulSet postgres: max_slot_wal_keep_size of %d bytes on a volume of %d; want at most half of it", keep, volume)
		}
		if 4*(keep+between) > 3*volume {
			t.Errorf("StatefulSet postgres: max_slot_wal_keep_size and max_wal_size come to %d bytes on a volume of %d; want at most three quarters of it", keep+between, volume)
		}
	}
}

// Addresses name a port their Service or Kafka listener serves, and the database URL the
// database the Secret's other keys describe: a host right and a port or database wrong
// (postgres:5433, beacon-kafka-bootstrap:9093, /nosuchdb) fails only once deployed.
func TestManifests_AddressesNameTheRightPortsAndDatabase(t *testing.T) {
	c := loadCluster(t)
	kafkaPorts := map[string]bool{}
	for _, k := range c.Strimzi["Kafka"] {
		kafka, _ := strimziSpec(k)["kafka"].(map[string]any)
		listeners, _ := kafka["listeners"].([]any)
		for _, l := range listeners {
			if l, ok := l.(map[string]any); ok && l["tls"] != true {
				kafkaPorts[fmt.Sprint(l["port"])] = true
			}
		}
	}
	checkBrokers := func(where, value string) {
		for part := range strings.SplitSeq(value, ",") {
			if _, port, err := net.SplitHostPort(strings.TrimSpace(part)); err != nil || !kafkaPorts[port] {
				t.Errorf("%s: %q is not a plaintext listener's port of the Kafka in k8s/ (%v)", where, part, slices.Sorted(maps.Keys(kafkaPorts)))
			}
		}
	}
	checkURL := func(where, value string) {
		u, err := url.Parse(value)
		if err != nil || u.Host == "" {
			return
		}
		short, _, _ := strings.Cut(u.Hostname(), ".")
		svc := c.Services[short]
		if svc == nil {
			return // TestManifests_ReferencedServicesExist's
		}
		var ports []string
		for _, p := range svc.Spec.Ports {
			ports = append(ports, strconv.Itoa(int(p.Port)))
		}
		if !slices.Contains(ports, u.Port()) {
			t.Errorf("%s: %s names port %q of Service %s, which serves %v", where, value, u.Port(), short, ports)
		}
	}
	for _, a := range addresses(c) {
		if a.brokers {
			checkBrokers(a.where, a.value)
		} else {
			checkURL(a.where, a.value)
		}
	}
	s := c.Secrets["postgres-credentials"]
	if s == nil {
		t.Fatal("no Secret postgres-credentials in k8s/")
	}
	u, err := url.Parse(s.StringData["database-url"])
	if err != nil {
		t.Fatalf("Secret postgres-credentials: database-url: %v", err)
	}
	password, _ := u.User.Password()
	if u.User.Username() != s.StringData["username"] || password != s.StringData["password"] || strings.TrimPrefix(u.Path, "/") != s.StringData["database"] {
		t.Errorf("Secret postgres-credentials: database-url names user %q, database %q (and a password); its username, password and database keys (what Postgres is created with) say %q, %q",
			u.User.Username(), strings.TrimPrefix(u.Path, "/"), s.StringData["username"], s.StringData["database"])
	}
}

// Every pod of a binary that reads the database applies the migrations first, in an init
// container: a pod without it may start on a schema older than its code.
func TestManifests_EveryPodOnTheDatabaseMigratesFirst(t *testing.T) {
	c, sk := loadCluster(t), loadSkaffold(t)
	migrates, readers := map[string]bool{}, map[string]bool{}
	for _, gc := range goContainers(t, c, sk) {
		switch {
		case gc.Init && gc.Binary == "migrate":
			migrates[gc.Workload.String()] = true
		case !gc.Init && gc.Set["DATABASE_URL"]:
			readers[gc.Workload.String()] = true
		}
	}
	if len(readers) == 0 {
		t.Fatal("no container sets DATABASE_URL")
	}
	for w := range readers {
		if !migrates[w] {
			t.Errorf("%s reads DATABASE_URL but has no init container running migrate", w)
		}
	}
}
