package observability_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect"

	elizav1 "github.com/beacon/eventdispatch/internal/gen/connectrpc/eliza/v1"
	"github.com/beacon/eventdispatch/internal/gen/connectrpc/eliza/v1/elizav1connect"
	"github.com/beacon/eventdispatch/internal/kafkatest"
	"github.com/beacon/eventdispatch/internal/proctest"
)

var builds proctest.Builds

func TestMain(m *testing.M) {
	code := m.Run()
	builds.Remove()
	os.Exit(code)
}

// tool finds a program of Debian's prometheus package (which `make stack-up` installs);
// without it the test is skipped, or fails when CI=true.
func tool(t *testing.T, name string) string {
	t.Helper()
	path, err := exec.LookPath(name)
	if err != nil {
		msg := name + " not found (Debian's prometheus package; `make stack-up` installs it): " + err.Error()
		if os.Getenv("CI") == "true" {
			t.Fatal(msg)
		}
		t.Skip(msg)
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

// dashboard is what the test reads of dashboard.json: every panel's queries.
type dashboard struct {
	Panels []struct {
		Title   string `json:"title"`
		Targets []struct {
			Expr string `json:"expr"`
		} `json:"targets"`
	} `json:"panels"`
}

// A real Prometheus scrapes a real standalone process (front door, dispatcher and headband
// simulator in one) during a short workload: every rule evaluates without error and every
// panel's query returns data.
func TestPrometheus_EveryPanelHasDataAndEveryRuleEvaluates(t *testing.T) {
	if testing.Short() {
		t.Skip("runs Prometheus and the standalone binary for half a minute: not with -short")
	}
	prometheus := tool(t, "prometheus")
	rpc, admin := proctest.Standalone(t, &builds, "HEADBAND_RECORDINGS=0", "HEADBAND_INTERVAL=200ms", "HEADBAND_MAX_PAUSE=100ms")

	dir := t.TempDir()
	rules, err := filepath.Abs("rules.yml")
	if err != nil {
		t.Fatal(err)
	}
	config := filepath.Join(dir, "prometheus.yml")
	if err := os.WriteFile(config, fmt.Appendf(nil, `global:
  scrape_interval: 1s
  evaluation_interval: 1s
rule_files: [%q]
scrape_configs:
  - job_name: standalone
    static_configs:
      - targets: [%q]
`, rules, admin), 0o600); err != nil {
		t.Fatal(err)
	}
	web := proctest.FreeAddr(t)
	proctest.StartArgs(t, prometheus, []string{
		"--config.file=" + config, "--storage.tsdb.path=" + filepath.Join(dir, "data"), "--web.listen-address=" + web,
	})
	base := "http://" + web
	proctest.WaitHTTP(t, base+"/-/ready", 30*time.Second)

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
	for _, p := range d.Panels {
		for _, target := range p.Targets {
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
