package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

const (
	fileConfig = `{
  "name": "datastore-signal",
  "tasks.max": "1",
  "table.include.list": "datastore.signal",
  "poll.interval.ms": "50"
}`
	running = `{"name":"datastore-signal","connector":{"state":"RUNNING","worker_id":"127.0.0.1:8083"},
		"tasks":[{"id":0,"state":"RUNNING","worker_id":"127.0.0.1:8083"}],"type":"source"}`
	taskFailed = `{"name":"datastore-signal","connector":{"state":"RUNNING"},
		"tasks":[{"id":0,"state":"FAILED","trace":"org.apache.kafka.connect.errors.ConnectException: boom\n\tat Foo.bar(Foo.java:1)"}]}`
)

func TestDiffConfig_ComparesValuesAsConnectStoresThem(t *testing.T) {
	file := raw(t, `{"name":"c","tasks.max":"1","include.unknown.datatypes":"true","poll.interval.ms":"50"}`)
	for _, tc := range []struct {
		name       string
		registered string
		want       []string
	}{
		{"same, other order and spacing", `{ "poll.interval.ms" : "50", "tasks.max":"1", "name":"c", "include.unknown.datatypes":"true" }`, nil},
		{"numbers and booleans as Connect stringifies them", `{"name":"c","tasks.max":1,"include.unknown.datatypes":true,"poll.interval.ms":50}`, nil},
		{"a changed value", `{"name":"c","tasks.max":"1","include.unknown.datatypes":"true","poll.interval.ms":"500"}`, []string{"poll.interval.ms"}},
		{"a missing and an extra key", `{"name":"c","tasks.max":"1","poll.interval.ms":"50","snapshot.mode":"never"}`, []string{"include.unknown.datatypes", "snapshot.mode"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := diffConfig(raw(t, tc.registered), file)
			if strings.Join(got, ",") != strings.Join(tc.want, ",") {
				t.Fatalf("diff = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestStatusLine_ReportsWhatConnectSays(t *testing.T) {
	for _, tc := range []struct {
		name   string
		code   int
		body   string
		prefix string
	}{
		{"running", 200, running, "up\tdatastore-signal\tconnector RUNNING, tasks: RUNNING -> topic postgres.datastore.signal"},
		{"tasks in id order", 200, `{"connector":{"state":"RUNNING"},"tasks":[{"id":1,"state":"UNASSIGNED"},{"id":0,"state":"RUNNING"}]}`,
			"down\tdatastore-signal\tconnector RUNNING, tasks: RUNNING UNASSIGNED"},
		{"no tasks yet", 200, `{"connector":{"state":"RUNNING"},"tasks":[]}`, "down\tdatastore-signal\tconnector RUNNING, tasks: none"},
		{"failed", 200, taskFailed, "down\tdatastore-signal\tconnector RUNNING, tasks: FAILED"},
		{"not registered", 404, `{"error_code":404,"message":"No status found for connector datastore-signal"}`, "down\tdatastore-signal\tnot registered"},
		{"not a status", 200, `{"tasks":[]}`, "down\tdatastore-signal\tstatus unknown: connector status: no connector.state"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.URL.Path != "/connectors/datastore-signal/status" {
					t.Errorf("asked for %s", r.URL.Path)
				}
				w.WriteHeader(tc.code)
				fmt.Fprint(w, tc.body)
			}))
			defer srv.Close()
			c := &client{base: srv.URL, name: "datastore-signal", http: srv.Client()}
			if got := statusLine(t.Context(), c, "postgres.datastore.signal", "", heartbeat{}); !strings.HasPrefix(got, tc.prefix) {
				t.Fatalf("status line %q, want %q", got, tc.prefix)
			}
		})
	}
}

func TestRegister_SendsNothingWhenConnectHasTheSameConfig(t *testing.T) {
	fc := &fakeConnect{registered: `{"poll.interval.ms":50,"name":"datastore-signal","table.include.list":"datastore.signal","tasks.max":1}`}
	out, err := registerAgainst(t, fc, false)
	if err != nil {
		t.Fatal(err)
	}
	if fc.puts != 0 || !strings.Contains(out, "connector: datastore-signal already registered with the current config") ||
		!strings.Contains(out, "connector: datastore-signal RUNNING with all tasks; changes to datastore.signal go to topic postgres.datastore.signal") {
		t.Fatalf("%d PUTs, output:\n%s", fc.puts, out)
	}
}

func TestRegister_PutsAChangedConfigRetryingConflictsAndServerErrors(t *testing.T) {
	fc := &fakeConnect{registered: strings.Replace(fileConfig, `"50"`, `"500"`, 1), putAnswers: []int{409, 503}}
	out, err := registerAgainst(t, fc, false)
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if fc.puts != 3 || !strings.Contains(out, "registered with a different config (poll.interval.ms)") ||
		strings.Count(out, "connector: registering datastore-signal from ") != 3 || !strings.Contains(out, "RUNNING with all tasks") {
		t.Fatalf("%d PUTs, output:\n%s", fc.puts, out)
	}
	if diffConfig(raw(t, fc.registered), raw(t, fileConfig)) != nil {
		t.Fatalf("Connect holds %s", fc.registered)
	}
}

func TestRegister_FailsAtOnceWhenConnectRefusesTheConfig(t *testing.T) {
	fc := &fakeConnect{putAnswers: []int{400}}
	_, err := registerAgainst(t, fc, false)
	var ee *exitError
	if !errors.As(err, &ee) || ee.code != exitFailed || fc.puts != 1 ||
		ee.msg != "connector: Connect refused the config (HTTP 400): Connector configuration is invalid" {
		t.Fatalf("%d PUTs, error %v", fc.puts, err)
	}
}

func TestRegister_DryRunNamesTheDifferingKeysAndChangesNothing(t *testing.T) {
	fc := &fakeConnect{registered: strings.Replace(fileConfig, `"1"`, `"2"`, 1), status: taskFailed}
	out, err := registerAgainst(t, fc, true)
	if err != nil {
		t.Fatal(err)
	}
	if fc.puts != 0 || fc.restarts != 0 || !strings.Contains(out, "(tasks.max)") || !strings.Contains(out, "would register datastore-signal") {
		t.Fatalf("%d PUTs, %d restarts, output:\n%s", fc.puts, fc.restarts, out)
	}
}

// A dry run that cannot read Connect's config fails, saying so: it said "would register",
// status 0, for a Connect that was not there. One that finds no connector says so.
func TestRegister_DryRunFailsWhenConnectDoesNotAnswer(t *testing.T) {
	fc := &fakeConnect{configAnswer: http.StatusServiceUnavailable}
	out, err := registerAgainst(t, fc, true)
	var ee *exitError
	if !errors.As(err, &ee) || ee.code != exitFailed || !strings.Contains(ee.msg, "could not read the config of datastore-signal from Connect") ||
		strings.Contains(out, "would register") || fc.puts != 0 {
		t.Fatalf("error %v, %d PUTs, output:\n%s", err, fc.puts, out)
	}
	out, err = registerAgainst(t, &fakeConnect{}, true)
	if err != nil || !strings.Contains(out, "datastore-signal is not registered") || !strings.Contains(out, "would register datastore-signal") {
		t.Fatalf("error %v, output:\n%s", err, out)
	}
}

func TestRegister_RestartsFailedPartsThenReportsAFailureThatStays(t *testing.T) {
	fc := &fakeConnect{registered: fileConfig, status: taskFailed}
	out, err := registerAgainst(t, fc, false)
	var ee *exitError
	if !errors.As(err, &ee) || ee.code != exitFailed || fc.restarts != 1 ||
		!strings.Contains(out, "has failed parts (connector RUNNING, tasks: FAILED), restarting them") ||
		!strings.Contains(ee.msg, "task 0 FAILED\n    org.apache.kafka.connect.errors.ConnectException: boom") {
		t.Fatalf("%d restarts, error %v, output:\n%s", fc.restarts, err, out)
	}
}

func TestRegister_TimesOutPointingAtConnectsLog(t *testing.T) {
	fc := &fakeConnect{registered: fileConfig, status: `{"connector":{"state":"RUNNING"},"tasks":[{"id":0,"state":"UNASSIGNED"}]}`}
	_, err := registerAgainst(t, fc, false)
	var ee *exitError
	if !errors.As(err, &ee) || ee.code != exitSeeConnect || !strings.Contains(ee.msg, "not RUNNING after 200ms (state: RUNNING UNASSIGNED)") {
		t.Fatalf("error %v", err)
	}
}

// fakeConnect plays Kafka Connect's REST API for one connector.
type fakeConnect struct {
	mu sync.Mutex
	// registered is the config Connect holds; "" means not registered.
	registered string
	// putAnswers are the statuses of the first PUTs, in turn; later ones succeed.
	putAnswers []int
	// status is the status answer once registered; "" means running.
	status         string
	puts, restarts int
	// configAnswer, when set, is the status of every GET of the config: Connect failing.
	configAnswer int
}

func (f *fakeConnect) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	switch r.Method + " " + r.URL.Path {
	case "GET /connectors/datastore-signal/config":
		if f.configAnswer != 0 {
			http.Error(w, `{"error_code":503,"message":"rebalancing"}`, f.configAnswer)
			return
		}
		if f.registered == "" {
			http.Error(w, `{"error_code":404,"message":"Connector datastore-signal not found"}`, http.StatusNotFound)
			return
		}
		fmt.Fprint(w, f.registered)
	case "PUT /connectors/datastore-signal/config":
		f.puts++
		if len(f.putAnswers) > 0 {
			code := f.putAnswers[0]
			f.putAnswers = f.putAnswers[1:]
			w.WriteHeader(code)
			fmt.Fprint(w, `{"error_code":400,"message":"Connector configuration is invalid"}`)
			return
		}
		body, _ := io.ReadAll(r.Body)
		f.registered = string(body)
		fmt.Fprint(w, `{}`)
	case "GET /connectors/datastore-signal/status":
		switch {
		case f.registered == "":
			http.Error(w, `{"error_code":404}`, http.StatusNotFound)
		case f.status == "":
			fmt.Fprint(w, running)
		default:
			fmt.Fprint(w, f.status)
		}
	case "POST /connectors/datastore-signal/restart":
		if r.URL.RawQuery != "includeTasks=true&onlyFailed=true" {
			http.Error(w, "unexpected query "+r.URL.RawQuery, http.StatusBadRequest)
			return
		}
		f.restarts++
		w.WriteHeader(http.StatusAccepted)
	default:
		http.Error(w, "unexpected "+r.Method+" "+r.URL.Path, http.StatusMethodNotAllowed)
	}
}

// registerAgainst runs register with fileConfig against fc, with short pauses and deadline.
func registerAgainst(t *testing.T, fc *fakeConnect, dryRun bool) (string, error) {
	t.Helper()
	srv := httptest.NewServer(fc)
	defer srv.Close()
	path := filepath.Join(t.TempDir(), "connector.json")
	if err := os.WriteFile(path, []byte(fileConfig), 0o600); err != nil {
		t.Fatal(err)
	}
	s, err := loadSpec(path)
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	r := newRegistrar(&client{base: srv.URL, name: s.name, http: srv.Client()}, s, &out)
	r.timeout, r.dryRun = 200*time.Millisecond, dryRun
	r.retryPause, r.restartPause, r.pollEvery = time.Millisecond, time.Millisecond, 10*time.Millisecond
	err = r.register(t.Context())
	return out.String(), err
}

func raw(t *testing.T, s string) map[string]json.RawMessage {
	t.Helper()
	var m map[string]json.RawMessage
	if err := json.Unmarshal([]byte(s), &m); err != nil {
		t.Fatal(err)
	}
	return m
}
