package observability_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect"
	"sigs.k8s.io/yaml"

	elizav1 "github.com/beacon/eventdispatch/internal/gen/connectrpc/eliza/v1"
	"github.com/beacon/eventdispatch/internal/gen/connectrpc/eliza/v1/elizav1connect"
	"github.com/beacon/eventdispatch/internal/kafkatest"
	"github.com/beacon/eventdispatch/internal/proctest"
	"github.com/beacon/eventdispatch/internal/stack"
)

var builds proctest.Builds

// signalTopic is Debezium's topic for datastore.signal, the dispatcher's default SIGNAL_TOPIC.
const signalTopic = "postgres.datastore.signal"

func TestMain(m *testing.M) { builds.Main(m) }

// tool finds a program of Debian's prometheus package (which `make stack-up` installs);
// without it the test is skipped, or fails when CI=true.
func tool(t *testing.T, name string) string {
	t.Helper()
	path, err := exec.LookPath(name)
	if err != nil {
		stack.Missing(t, name+" not found (Debian's prometheus package; `make stack-up` installs it): "+err.Error())
	}
	return path
}

func TestRules_PassPromtoolsCheckAndUnitTests(t *testing.T) {
	promtool := tool(t, "promtool")
	for _, args := range [][]string{{"check", "rules", "rules.yml"}, {"test", "rules", "rules_test.yml"}} {
		out, err := exec.CommandContext(t.Context(), promtool, args...).CombinedOutput()
		if err != nil {
			t.Fatalf("promtool %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
}

// dashboard is what the test reads of dashboard.json: its variables and every panel's
// queries.
type dashboard struct {
	Templating struct {
		List []struct {
			Name, Type, Query string
		} `json:"list"`
	} `json:"templating"`
	Panels []struct {
		Title   string `json:"title"`
		Targets []struct {
			Expr string `json:"expr"`
		} `json:"targets"`
	} `json:"panels"`
}

// A real Prometheus scrapes the real binaries during a short workload: every rule evaluates
// without error and every panel's query returns data. Twice: on the local stack (a front door,
// a dispatcher and the headband simulator, with Postgres, Kafka and Debezium between them), as
// in production, and a standalone process (all of them in one), as `make run` starts it.
func TestPrometheus_EveryPanelHasDataAndEveryRuleEvaluates(t *testing.T) {
	if testing.Short() {
		t.Skip("runs Prometheus and the binaries for half a minute each: not with -short")
	}
	prometheus := tool(t, "prometheus")
	t.Run("local stack", func(t *testing.T) {
		ep := stack.Require(t, stack.Postgres, stack.Kafka, stack.Debezium)
		// The dispatcher's signal group reads Debezium's topic from now on: what the
		// headband simulator below inserts.
		group := stack.GroupAtEnd(t, ep, "test-observability-signals", signalTopic)
		c := proctest.StartConversations(t, &builds, ep, "observability",
			[]string{"SIGNAL_TOPIC=" + signalTopic, "GROUP_ID=" + group}, nil)
		// The operator sets the dashboard's variables to the deployment's settings.
		vars := map[string]string{"jobs_topic": c.Jobs}
		headband := proctest.FreeAddr(t)
		proctest.Start(t, builds.Build(t, "./cmd/headband"), "DATABASE_URL="+ep.DatabaseURL, "ADMIN_ADDR="+headband,
			"HEADBAND_RECORDINGS=0", "HEADBAND_INTERVAL=200ms", "HEADBAND_MAX_PAUSE=100ms")
		proctest.WaitHTTP(t, "http://"+headband+"/readyz", 30*time.Second)
		check(t, prometheus, vars, nil, c.RPC, c.FrontDoorAdmin, c.DispatcherAdmin, headband)
	})
	t.Run("standalone", func(t *testing.T) {
		rpc, admin := proctest.Standalone(t, &builds, "HEADBAND_RECORDINGS=0", "HEADBAND_INTERVAL=200ms", "HEADBAND_MAX_PAUSE=100ms")
		// Default settings: the variables' defaults fit. Without Debezium there is no
		// heartbeat to watch.
		check(t, prometheus, nil, []string{"dispatcher_capture_heartbeat_timestamp_seconds"}, rpc, admin)
	})
}

// check runs Prometheus with rules.yml against targets (admin addresses) while clients call the
// front door at rpc, then asks it for every dashboard panel's queries, with the dashboard's
// variables set to vars or else their defaults, and every rule's health. A query of a metric
// in lacks, which these targets do not export, must find nothing; every other must find data.
func check(t *testing.T, prometheus string, vars map[string]string, lacks []string, rpc string, targets ...string) {
	t.Helper()
	dir := t.TempDir()
	rules, err := filepath.Abs("rules.yml")
	if err != nil {
		t.Fatal(err)
	}
	quoted := make([]string, len(targets))
	for i, target := range targets {
		quoted[i] = strconv.Quote(target)
	}
	config := filepath.Join(dir, "prometheus.yml")
	if err := os.WriteFile(config, fmt.Appendf(nil, `global:
  scrape_interval: 1s
  evaluation_interval: 1s
rule_files: [%q]
scrape_configs:
  - job_name: eventdispatch
    static_configs:
      - targets: [%s]
`, rules, strings.Join(quoted, ", ")), 0o600); err != nil {
		t.Fatal(err)
	}
	web := proctest.FreeAddr(t)
	proctest.StartArgs(t, prometheus, []string{
		"--config.file=" + config, "--storage.tsdb.path=" + filepath.Join(dir, "data"), "--web.listen-address=" + web,
	})
	base := "http://" + web
	proctest.WaitHTTP(t, base+"/-/ready", 30*time.Second)
	var up int
	kafkatest.Eventually(t, 30*time.Second, func() bool {
		up, _ = query(t, base, "up == 1")
		return up == len(targets)
	}, func() string { return fmt.Sprintf("%d of %d targets up", up, len(targets)) })

	// The workload: answers, a queued conversation, the headband's recordings meanwhile.
	client := elizav1connect.NewElizaServiceClient(http.DefaultClient, "http://"+rpc)
	stop := time.Now().Add(15 * time.Second)
	go func() {
		for time.Now().Before(stop) && t.Context().Err() == nil {
			_, _ = client.Say(t.Context(), connect.NewRequest(&elizav1.SayRequest{Sentence: "I feel sad"}))
			_, _ = client.Send(t.Context(), connect.NewRequest(&elizav1.SendRequest{Sentence: "I feel sad"}))
			time.Sleep(100 * time.Millisecond)
		}
	}()

	b, err := os.ReadFile("dashboard.json")
	if err != nil {
		t.Fatal(err)
	}
	var d dashboard
	if err := json.Unmarshal(b, &d); err != nil {
		t.Fatal(err)
	}
	var vals []string
	for _, v := range d.Templating.List {
		if v.Type == "datasource" {
			continue
		}
		val, ok := vars[v.Name]
		if !ok {
			val = v.Query
		}
		vals = append(vals, "${"+v.Name+"}", val, "$"+v.Name, val)
	}
	substitute := strings.NewReplacer(vals...)
	for _, p := range d.Panels {
		for _, target := range p.Targets {
			target.Expr = substitute.Replace(target.Expr)
			if slices.ContainsFunc(lacks, func(m string) bool { return strings.Contains(target.Expr, m) }) {
				if n, err := query(t, base, target.Expr); err != nil || n != 0 {
					t.Errorf("panel %q: %s returned %d series (%v) from targets that do not export it", p.Title, target.Expr, n, err)
				}
				continue
			}
			var n int
			var qerr error
			kafkatest.Eventually(t, 45*time.Second, func() bool {
				n, qerr = query(t, base, target.Expr)
				return qerr == nil && n > 0
			}, func() string {
				return fmt.Sprintf("panel %q: %s returned %d series (%v)", p.Title, target.Expr, n, qerr)
			})
		}
	}

	var rulesRes struct {
		Data struct {
			Groups []struct {
				Rules []struct {
					Name, Health, LastError string
				} `json:"rules"`
			} `json:"groups"`
		} `json:"data"`
	}
	res, err := http.Get(base + "/api/v1/rules")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	if err := json.NewDecoder(res.Body).Decode(&rulesRes); err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, g := range rulesRes.Data.Groups {
		for _, r := range g.Rules {
			n++
			if r.Health != "ok" {
				t.Errorf("rule %s: health %q (%s)", r.Name, r.Health, r.LastError)
			}
		}
	}
	if n == 0 {
		t.Fatal("Prometheus loaded no rules")
	}
}

// query runs an instant query and returns how many series it found.
func query(t *testing.T, base, expr string) (int, error) {
	t.Helper()
	res, err := http.Get(base + "/api/v1/query?query=" + url.QueryEscape(expr))
	if err != nil {
		return 0, err
	}
	defer res.Body.Close()
	var body struct {
		Status string `json:"status"`
		Error  string `json:"error"`
		Data   struct {
			Result []json.RawMessage `json:"result"`
		} `json:"data"`
	}
	if err := json.NewDecoder(res.Body).Decode(&body); err != nil {
		return 0, err
	}
	if body.Status != "success" {
		return 0, fmt.Errorf("%s: %s", expr, body.Error)
	}
	return len(body.Data.Result), nil
}

// TestRules_EveryAlertHasARunbook checks that each alert's runbook_url names a section of
// docs/operations.md, as GitHub anchors it (the heading, lower-cased).
func TestRules_EveryAlertHasARunbook(t *testing.T) {
	b, err := os.ReadFile("rules.yml")
	if err != nil {
		t.Fatal(err)
	}
	var rules struct {
		Groups []struct {
			Rules []struct {
				Alert       string            `json:"alert"`
				Annotations map[string]string `json:"annotations"`
			} `json:"rules"`
		} `json:"groups"`
	}
	if err := yaml.Unmarshal(b, &rules); err != nil {
		t.Fatal(err)
	}
	doc, err := os.ReadFile(filepath.Join("..", "..", "docs", "operations.md"))
	if err != nil {
		t.Fatal(err)
	}
	anchors := map[string]bool{}
	for line := range strings.Lines(string(doc)) {
		if heading, ok := strings.CutPrefix(line, "### "); ok {
			anchors[strings.ToLower(strings.TrimSpace(heading))] = true
		}
	}
	alerts := 0
	for _, g := range rules.Groups {
		for _, r := range g.Rules {
			if r.Alert == "" {
				continue
			}
			alerts++
			doc, anchor, _ := strings.Cut(r.Annotations["runbook_url"], "#")
			if doc != "docs/operations.md" || !anchors[anchor] {
				t.Errorf("alert %s: runbook_url %q names no section of docs/operations.md", r.Alert, r.Annotations["runbook_url"])
			}
		}
	}
	if alerts == 0 {
		t.Fatal("no alerts read from rules.yml")
	}
}
