package k8s

import (
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/beacon/eventdispatch/internal/app"
)

// perEnvironmentKeys are the connector settings that differ between the local stack and the
// cluster (deploy/local/README.md, "The connector configuration").
var perEnvironmentKeys = []string{"database.hostname", "database.password"}

// secretRef matches Strimzi's KubernetesSecretConfigProvider reference ${secrets:ns/name:key}.
var secretRef = regexp.MustCompile(`^\$\{secrets:([a-z0-9-]+)/([a-z0-9.-]+):([A-Za-z0-9._-]+)\}$`)

func TestKafkaConnector_MatchesTheLocalStacksConnector(t *testing.T) {
	c := loadCluster(t)
	var local map[string]string
	if err := json.Unmarshal(readRepoFile(t, "deploy/local/debezium-connector.json"), &local); err != nil {
		t.Fatalf("deploy/local/debezium-connector.json: %v", err)
	}
	m, ok := c.Strimzi["KafkaConnector"][local["name"]]
	if !ok {
		t.Fatalf("no KafkaConnector named %q (the name in deploy/local/debezium-connector.json) in k8s/", local["name"])
	}
	spec := strimziSpec(m)
	flat := map[string]string{"name": m.Name}
	if v, ok := spec["class"].(string); ok {
		flat["connector.class"] = v
	}
	if v, ok := spec["tasksMax"]; ok {
		flat["tasks.max"] = fmt.Sprint(v)
	}
	cfg, _ := spec["config"].(map[string]any)
	for k, v := range cfg {
		flat[k] = fmt.Sprint(v)
	}
	for k, want := range local {
		if slices.Contains(perEnvironmentKeys, k) {
			continue
		}
		if got, ok := flat[k]; !ok {
			t.Errorf("KafkaConnector %s lacks %s=%q of deploy/local/debezium-connector.json; add it to spec.config (or spec.class/tasksMax)", m.Name, k, want)
		} else if got != want {
			t.Errorf("KafkaConnector %s has %s=%q, deploy/local/debezium-connector.json %q; the local stack's file is the source of truth", m.Name, k, got, want)
		}
	}
	for k := range flat {
		if _, ok := local[k]; !ok {
			t.Errorf("KafkaConnector %s sets %s, which deploy/local/debezium-connector.json does not; add it there too, or document it as per-environment", m.Name, k)
		}
	}
	if local["database.password"] != "" && flat["database.password"] == local["database.password"] {
		t.Errorf("KafkaConnector %s inlines the database password; read it through the config provider: ${secrets:<namespace>/<secret>:<key>}", m.Name)
	}
}

func TestKafkaConnector_ReadsThePasswordFromTheSecretItMayRead(t *testing.T) {
	c, sk := loadCluster(t), loadSkaffold(t)
	for name, m := range c.Strimzi["KafkaConnector"] {
		cfg, _ := strimziSpec(m)["config"].(map[string]any)
		pw, _ := cfg["database.password"].(string)
		ref := secretRef.FindStringSubmatch(pw)
		if ref == nil {
			t.Errorf("KafkaConnector %s: database.password %q is not a ${secrets:<namespace>/<secret>:<key>} reference", name, pw)
			continue
		}
		ns, secret, key := ref[1], ref[2], ref[3]
		if ns != sk.Deploy.Kubectl.DefaultNamespace {
			t.Errorf("KafkaConnector %s: the password reference names namespace %q, but skaffold deploys to %q", name, ns, sk.Deploy.Kubectl.DefaultNamespace)
		}
		s, ok := c.Secrets[secret]
		if !ok {
			t.Errorf("KafkaConnector %s: Secret %s does not exist in k8s/", name, secret)
		} else if _, ok := s.StringData[key]; !ok {
			if _, ok := s.Data[key]; !ok {
				t.Errorf("KafkaConnector %s: Secret %s has no key %q", name, secret, key)
			}
		}
		cluster := m.Labels["strimzi.io/cluster"]
		kc, ok := c.Strimzi["KafkaConnect"][cluster]
		if !ok {
			t.Errorf("KafkaConnector %s: label strimzi.io/cluster=%q names no KafkaConnect in k8s/", name, cluster)
			continue
		}
		if ann, _ := kc.Object["metadata"].(map[string]any)["annotations"].(map[string]any); ann["strimzi.io/use-connector-resources"] != "true" {
			t.Errorf("KafkaConnect %s: annotation strimzi.io/use-connector-resources must be \"true\", or KafkaConnector %s is ignored", cluster, name)
		}
		kcfg, _ := strimziSpec(kc)["config"].(map[string]any)
		providers := strings.Split(fmt.Sprint(kcfg["config.providers"]), ",")
		if !slices.Contains(providers, "secrets") || kcfg["config.providers.secrets.class"] != "io.strimzi.kafka.KubernetesSecretConfigProvider" {
			t.Errorf("KafkaConnect %s: config must set config.providers to include secrets and config.providers.secrets.class io.strimzi.kafka.KubernetesSecretConfigProvider", cluster)
		}
		sa := cluster + "-connect" // the service account Strimzi gives the Connect pods
		if !c.mayGetSecret(sa, ns, secret) {
			t.Errorf("no Role/RoleBinding in k8s/ lets service account %s/%s get Secret %s; the config provider reads it with that account", ns, sa, secret)
		}
	}
}

// mayGetSecret reports whether a RoleBinding in k8s/ grants service account ns/sa "get" on
// Secret name through a Role in k8s/.
func (c *cluster) mayGetSecret(sa, ns, name string) bool {
	for _, rb := range c.RoleBindings {
		bound := false
		for _, s := range rb.Subjects {
			bound = bound || (s.Kind == "ServiceAccount" && s.Name == sa && s.Namespace == ns)
		}
		role := c.Roles[rb.RoleRef.Name]
		if !bound || rb.RoleRef.Kind != "Role" || role == nil {
			continue
		}
		for _, r := range role.Rules {
			if slices.Contains(r.APIGroups, "") && slices.Contains(r.Resources, "secrets") && slices.Contains(r.Verbs, "get") &&
				(len(r.ResourceNames) == 0 || slices.Contains(r.ResourceNames, name)) {
				return true
			}
		}
	}
	return false
}

func TestKafkaTopics_ExistForEveryTopicTheServicesUse(t *testing.T) {
	c, sk := loadCluster(t), loadSkaffold(t)
	topics := kafkaTopics(c)
	for name, m := range c.Strimzi["KafkaTopic"] {
		if _, ok := c.Strimzi["Kafka"][m.Labels["strimzi.io/cluster"]]; !ok {
			t.Errorf("KafkaTopic %s: label strimzi.io/cluster=%q names no Kafka in k8s/", name, m.Labels["strimzi.io/cluster"])
		}
	}
	// Each topic's replicas on brokers of their own: more than there are, and Strimzi cannot
	// create it.
	brokers := 0.0
	for _, np := range c.Strimzi["KafkaNodePool"] {
		spec := strimziSpec(np)
		if roles, _ := spec["roles"].([]any); slices.Contains(roles, any("broker")) {
			n, _ := spec["replicas"].(float64)
			brokers += n
		}
	}
	for name, m := range c.Strimzi["KafkaTopic"] {
		if r, ok := strimziSpec(m)["replicas"].(float64); ok && r > brokers {
			t.Errorf("KafkaTopic %s: %v replicas on %v brokers", name, r, brokers)
		}
	}
	want := map[string]string{}    // topic -> who uses it
	watched := map[string]string{} // heartbeat topics the dispatchers read -> who reads it
	for _, gc := range goContainers(t, c, sk) {
		for v := range gc.Known {
			if !strings.HasSuffix(v, "_TOPIC") {
				continue
			}
			topic := gc.effective(v)
			if v == "CAPTURE_HEARTBEAT_TOPIC" {
				if topic != app.NoCaptureWatch {
					watched[topic] = fmt.Sprintf("%s (%s)", gc.Workload, v)
				}
				continue
			}
			want[topic] = fmt.Sprintf("%s (%s)", gc.Workload, v)
			if v == "SIGNAL_TOPIC" || v == "JOBS_TOPIC" { // their dead letters: <topic>.dlq
				want[topic+".dlq"] = fmt.Sprintf("%s (%s + .dlq)", gc.Workload, v)
			}
		}
	}
	heartbeats := map[string]bool{}
	for name, m := range c.Strimzi["KafkaConnector"] {
		cfg, _ := strimziSpec(m)["config"].(map[string]any)
		tables, beats := connectorTopics(cfg)
		for _, topic := range tables {
			want[topic] = "KafkaConnector " + name
		}
		for _, topic := range beats {
			heartbeats[topic] = true
		}
	}
	// A dispatcher watching a topic that no connector writes fires CaptureStalled for ever.
	for topic, user := range watched {
		if !heartbeats[topic] {
			t.Errorf("%s watches %s, which no KafkaConnector in k8s/ writes heartbeats to (%v)", user, topic, heartbeats)
		}
		if _, ok := topics[topic]; !ok {
			t.Errorf("%s watches %s, but no KafkaTopic in k8s/ creates it", user, topic)
		}
	}
	// The dispatcher runs up to as many replicas as these have partitions.
	dispatchers := int64(0)
	if d := c.Deployments["dispatcher"]; d != nil && d.Spec.Replicas != nil {
		dispatchers = int64(*d.Spec.Replicas)
	}
	for topic, user := range want {
		m, ok := topics[topic]
		if !ok {
			t.Errorf("%s uses topic %s, but no KafkaTopic in k8s/ creates it", user, topic)
			continue
		}
		p, _ := strimziSpec(m)["partitions"].(float64)
		if p < 3 {
			t.Errorf("KafkaTopic %s has %v partitions; want at least 3 so several dispatchers share the work", topic, p)
		}
		if int64(p) < dispatchers {
			t.Errorf("KafkaTopic %s has %v partitions, fewer than the dispatcher's %d replicas", topic, p, dispatchers)
		}
	}
}

// Connect creates the topics a connector writes before its first record, and the topic
// operator creates the KafkaTopics; either may come first, so both must make the same topic.
// Left to the broker (no topic.creation.default.*), a topic written first has num.partitions
// and is not compacted, and its KafkaTopic cannot make it fewer.
func TestKafkaConnector_CreatesItsTopicsAsTheirKafkaTopicsSay(t *testing.T) {
	c := loadCluster(t)
	topics := kafkaTopics(c)
	if len(c.Strimzi["Kafka"]) != 1 {
		t.Fatalf("want one Kafka in k8s/, found %d", len(c.Strimzi["Kafka"]))
	}
	var broker map[string]any
	for _, k := range c.Strimzi["Kafka"] {
		kafka, _ := strimziSpec(k)["kafka"].(map[string]any)
		broker, _ = kafka["config"].(map[string]any)
	}
	brokerDefault := func(key, fallback string) string {
		if v, ok := broker[key]; ok {
			return configValue(v)
		}
		return fallback
	}
	for _, kc := range c.Strimzi["KafkaConnect"] {
		cfg, _ := strimziSpec(kc)["config"].(map[string]any)
		if v, ok := cfg["topic.creation.enable"]; ok && configValue(v) != "true" {
			t.Errorf("KafkaConnect %s sets topic.creation.enable=%v; its connectors' topics are then the broker's to create", kc.Name, v)
		}
	}
	if strings.Contains(string(readRepoFile(t, "deploy/local/kafka/connect-distributed.properties")), "topic.creation.enable=false") {
		t.Errorf("deploy/local/kafka/connect-distributed.properties sets topic.creation.enable=false; its connector's topics are then the broker's to create")
	}
	for name, m := range c.Strimzi["KafkaConnector"] {
		cfg, _ := strimziSpec(m)["config"].(map[string]any)
		setting := func(key string) (string, bool) {
			v, ok := cfg[key]
			return configValue(v), ok
		}
		_, partitions := setting("topic.creation.default.partitions")
		_, replicas := setting("topic.creation.default.replication.factor")
		if !partitions || !replicas {
			t.Errorf("KafkaConnector %s lacks topic.creation.default.partitions or .replication.factor: Connect does not create its topics, the broker does", name)
			continue
		}
		tables, beats := connectorTopics(cfg)
		for _, topic := range append(tables, beats...) {
			m, ok := topics[topic]
			if !ok {
				continue // TestKafkaTopics_ExistForEveryTopicTheServicesUse
			}
			spec := strimziSpec(m)
			group := creationGroup(t, cfg, topic)
			value := func(key, brokerKey, fallback string) string {
				v, ok := setting("topic.creation." + group + "." + key)
				if !ok {
					v, ok = setting("topic.creation.default." + key)
				}
				if !ok || (v == "-1" && brokerKey != "") {
					return brokerDefault(brokerKey, fallback)
				}
				return v
			}
			wantPartitions := brokerDefault("num.partitions", "1")
			if p, ok := spec["partitions"]; ok {
				wantPartitions = configValue(p)
			}
			if got := value("partitions", "num.partitions", "1"); got != wantPartitions {
				t.Errorf("KafkaConnector %s creates %s with %s partitions (group %s), its KafkaTopic with %s", name, topic, got, group, wantPartitions)
			}
			wantReplicas := brokerDefault("default.replication.factor", "1")
			if r, ok := spec["replicas"]; ok {
				wantReplicas = configValue(r)
			}
			if got := value("replication.factor", "default.replication.factor", "1"); got != wantReplicas {
				t.Errorf("KafkaConnector %s creates %s with %s replicas (group %s), its KafkaTopic with %s", name, topic, got, group, wantReplicas)
			}
			wantPolicy := "delete"
			if tc, ok := spec["config"].(map[string]any); ok && tc["cleanup.policy"] != nil {
				wantPolicy = configValue(tc["cleanup.policy"])
			}
			if got := value("cleanup.policy", "", "delete"); got != wantPolicy {
				t.Errorf("KafkaConnector %s creates %s with cleanup.policy=%s (group %s), its KafkaTopic with %s", name, topic, got, group, wantPolicy)
			}
		}
	}
}

// kafkaTopics returns the KafkaTopics in k8s/ by the name of their topic (spec.topicName, or
// their own name).
func kafkaTopics(c *cluster) map[string]manifest {
	topics := map[string]manifest{}
	for name, m := range c.Strimzi["KafkaTopic"] {
		if tn, ok := strimziSpec(m)["topicName"].(string); ok {
			name = tn
		}
		topics[name] = m
	}
	return topics
}

// connectorTopics returns the topics a Debezium connector writes: one per captured table
// (topic.prefix, a dot, the table), and its heartbeat topics when heartbeat.interval.ms sets
// them: its heartbeat records' (topic.heartbeat.prefix, by default __debezium-heartbeat, a
// dot, topic.prefix), and its messages' (topic.prefix, ".message") when its
// heartbeat.action.query writes a message of prefix "heartbeat" that
// message.prefix.include.list lets through.
func connectorTopics(cfg map[string]any) (tables, heartbeats []string) {
	prefix := fmt.Sprint(cfg["topic.prefix"])
	for _, table := range strings.Split(fmt.Sprint(cfg["table.include.list"]), ",") {
		tables = append(tables, prefix+"."+strings.TrimSpace(table))
	}
	if ms, _ := strconv.Atoi(fmt.Sprint(cfg["heartbeat.interval.ms"])); ms > 0 {
		hp := "__debezium-heartbeat"
		if p, ok := cfg["topic.heartbeat.prefix"].(string); ok {
			hp = p
		}
		heartbeats = append(heartbeats, hp+"."+prefix)
		query := fmt.Sprint(cfg["heartbeat.action.query"])
		included := slices.Contains(strings.Split(fmt.Sprint(cfg["message.prefix.include.list"]), ","), "heartbeat")
		if strings.Contains(query, "pg_logical_emit_message(") && strings.Contains(query, "'heartbeat'") && included {
			heartbeats = append(heartbeats, prefix+".message")
		}
	}
	return tables, heartbeats
}

// creationGroup returns the topic creation group that Connect applies to topic: the first of
// topic.creation.groups whose include list matches the whole name and whose exclude list does
// not, or "default".
func creationGroup(t *testing.T, cfg map[string]any, topic string) string {
	t.Helper()
	matches := func(key string) bool {
		list, _ := cfg[key].(string)
		for _, expr := range strings.Split(list, ",") {
			if expr = strings.TrimSpace(expr); expr == "" {
				continue
			}
			re, err := regexp.Compile("^(?:" + expr + ")$")
			if err != nil {
				t.Fatalf("%s: %v", key, err)
			}
			if re.MatchString(topic) {
				return true
			}
		}
		return false
	}
	groups, _ := cfg["topic.creation.groups"].(string)
	for _, g := range strings.Split(groups, ",") {
		if g = strings.TrimSpace(g); g != "" && matches("topic.creation."+g+".include") && !matches("topic.creation."+g+".exclude") {
			return g
		}
	}
	return "default"
}

func TestKafka_IsOneKRaftNodeOfKafka431(t *testing.T) {
	c := loadCluster(t)
	if len(c.Strimzi["Kafka"]) != 1 {
		t.Fatalf("want one Kafka in k8s/, found %d", len(c.Strimzi["Kafka"]))
	}
	for name, k := range c.Strimzi["Kafka"] {
		kafka, _ := strimziSpec(k)["kafka"].(map[string]any)
		if kafka["version"] != "4.3.1" {
			t.Errorf("Kafka %s: spec.kafka.version %v, want 4.3.1 (the local stack's, and the Connect image's)", name, kafka["version"])
		}
		roles := map[string]bool{}
		for _, p := range c.Strimzi["KafkaNodePool"] {
			if p.Labels["strimzi.io/cluster"] != name {
				continue
			}
			rs, _ := strimziSpec(p)["roles"].([]any)
			for _, r := range rs {
				roles[fmt.Sprint(r)] = true
			}
		}
		if !roles["controller"] || !roles["broker"] {
			t.Errorf("Kafka %s: its KafkaNodePools give roles %v; KRaft needs a controller and a broker", name, roles)
		}
	}
	for name, kc := range c.Strimzi["KafkaConnect"] {
		if v := strimziSpec(kc)["version"]; v != "4.3.1" {
			t.Errorf("KafkaConnect %s: spec.version %v, want 4.3.1", name, v)
		}
	}
}

// A Connect worker that drops out of its group gives up its tasks; with the default
// scheduled.rebalance.max.delay.ms they stay unassigned for 5 minutes, waiting for the worker
// to come back, while nothing is captured. With one worker, locally and in the cluster, the
// delay must be 0.
func TestKafkaConnect_ReassignsTasksAtOnceWithOneWorker(t *testing.T) {
	const key = "scheduled.rebalance.max.delay.ms"
	c := loadCluster(t)
	for name, m := range c.Strimzi["KafkaConnect"] {
		spec := strimziSpec(m)
		cfg, _ := spec["config"].(map[string]any)
		if replicas := fmt.Sprint(spec["replicas"]); replicas == "1" && configValue(cfg[key]) != "0" {
			t.Errorf("KafkaConnect %s has one replica and %s=%v; set it to 0 in spec.config", name, key, cfg[key])
		}
	}
	checkLocalProperty(t, "deploy/local/kafka/connect-distributed.properties", key, "0", "its worker is alone in its group")
}

// The log cleaner's offset map lives on the broker's heap, 128 MiB unless set: on the small
// heaps of the local stack and the cluster it kept the old generation above G1's marking
// threshold, and the broker paused for a concurrent cycle every minute or two
// (BENCHMARKS.md, "Twelfth round"). Both brokers set the same smaller map.
func TestKafka_KeepsTheLogCleanersOffsetMapSmall(t *testing.T) {
	const key, want = "log.cleaner.dedupe.buffer.size", "16777216"
	c := loadCluster(t)
	for name, k := range c.Strimzi["Kafka"] {
		kafka, _ := strimziSpec(k)["kafka"].(map[string]any)
		cfg, _ := kafka["config"].(map[string]any)
		if got := configValue(cfg[key]); got != want {
			t.Errorf("Kafka %s: spec.kafka.config %s is %s, want %s", name, key, got, want)
		}
	}
	checkLocalProperty(t, "deploy/local/kafka/server.properties", key, want, "the same map as the cluster's")
}

// configValue is an entry of a Strimzi resource's config as a properties file would spell it:
// YAML numbers decode as float64, which fmt prints with an exponent past a million.
func configValue(v any) string {
	if f, ok := v.(float64); ok {
		return strconv.FormatFloat(f, 'f', -1, 64)
	}
	return fmt.Sprint(v)
}

// checkLocalProperty fails t unless the local stack's properties file sets key to want.
func checkLocalProperty(t *testing.T, file, key, want, why string) {
	t.Helper()
	if !slices.Contains(strings.Split(string(readRepoFile(t, file)), "\n"), key+"="+want) {
		t.Errorf("%s lacks %s=%s (%s)", file, key, want, why)
	}
}
