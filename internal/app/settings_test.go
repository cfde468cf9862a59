package app_test

import (
	"go/ast"
	"go/parser"
	"go/token"
	"maps"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/beacon/eventdispatch/internal/app"
	"github.com/beacon/eventdispatch/internal/config"
	"github.com/beacon/eventdispatch/internal/consumer"
)

// row is one line of the README's configuration table.
type row struct {
	line      int
	variables []string
	defaults  string // the default cell as written
	readBy    map[string]bool
}

// readmeAfter returns the README from just after the line start to the next section's
// heading.
func readmeAfter(t *testing.T, start string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	_, section, ok := strings.Cut(string(b), "\n"+start+"\n")
	if !ok {
		t.Fatalf("README.md has no line %q", start)
	}
	section, _, _ = strings.Cut(section, "\n## ")
	return section
}

// configTable reads the table under "## Configuration" in the README.
func configTable(t *testing.T) []row {
	t.Helper()
	section := readmeAfter(t, "## Configuration")
	binaries := append(slices.Collect(maps.Keys(app.Binaries())), cli)
	code := regexp.MustCompile("`([A-Z][A-Z0-9_]*)`")
	var rows []row
	for i, line := range strings.Split(section, "\n") {
		cells := strings.Split(line, "|")
		if len(cells) < 5 || !strings.HasPrefix(line, "| `") {
			continue
		}
		r := row{line: i, defaults: cells[2], readBy: map[string]bool{}}
		for _, m := range code.FindAllStringSubmatch(cells[1], -1) {
			r.variables = append(r.variables, m[1])
		}
		for _, word := range regexp.MustCompile(`[a-z]+`).FindAllString(cells[3], -1) {
			if slices.Contains(binaries, word) {
				r.readBy[word] = true
			}
		}
		rows = append(rows, r)
	}
	if len(rows) == 0 {
		t.Fatal("no rows found in the README's configuration table")
	}
	return rows
}

// cli is the eliza CLI, whose variables are read with os.Getenv rather than through settings
// of internal/app (directReads).
const cli = "eliza"

// directReads lists, by binary, the packages that read environment variables of their own
// with os.Getenv rather than through internal/app's settings.
var directReads = map[string][]string{cli: {"elizacli", "statedir"}, "standalone": {"statedir"}}

// envReads returns the environment variables the packages under internal/ named by pkgs read:
// the string constants passed to os.Getenv or os.LookupEnv in their code.
func envReads(t *testing.T, pkgs ...string) []string {
	t.Helper()
	var files []string
	for _, pkg := range pkgs {
		found, err := filepath.Glob(filepath.Join("..", pkg, "*.go"))
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, found...)
	}
	var names []string
	for _, file := range files {
		if strings.HasSuffix(file, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(token.NewFileSet(), file, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		ast.Inspect(f, func(n ast.Node) bool {
			call, ok := n.(*ast.CallExpr)
			if !ok || len(call.Args) != 1 {
				return true
			}
			sel, ok := call.Fun.(*ast.SelectorExpr)
			if !ok || (sel.Sel.Name != "Getenv" && sel.Sel.Name != "LookupEnv") {
				return true
			}
			if pkg, ok := sel.X.(*ast.Ident); !ok || pkg.Name != "os" {
				return true
			}
			lit, ok := call.Args[0].(*ast.BasicLit)
			if !ok || lit.Kind != token.STRING {
				t.Errorf("%s: os.%s of a non-constant: the README's table cannot be checked against it", file, sel.Sel.Name)
				return true
			}
			name, _ := strconv.Unquote(lit.Value)
			names = append(names, name)
			return true
		})
	}
	if len(names) == 0 {
		t.Fatalf("found no os.Getenv in internal/%s: have they moved?", strings.Join(pkgs, ", internal/"))
	}
	return names
}

// documentedDefault finds binary's default in a default cell written as "`20s` (`5s`
// standalone)" or "`:9090` frontdoor, standalone; `:9091` dispatcher": a value followed by
// binary names is theirs, a value followed by none is everyone else's.
func documentedDefault(cell, binary string) (string, bool) {
	var generic string
	var found bool
	for _, m := range regexp.MustCompile("`([^`]*)`([^`]*)").FindAllStringSubmatch(cell, -1) {
		names := regexp.MustCompile(`[a-z]+`).FindAllString(m[2], -1)
		if slices.Contains(names, binary) {
			return m[1], true
		}
		if !found && !slices.ContainsFunc(names, func(n string) bool { _, ok := app.Binaries()[n]; return ok }) {
			generic, found = m[1], true
		}
	}
	return generic, found
}

func TestREADME_ConfigurationTableMatchesWhatEachBinaryReads(t *testing.T) {
	rows := configTable(t)
	byVariable := map[string]row{}
	for _, r := range rows {
		for _, v := range r.variables {
			if _, dup := byVariable[v]; dup {
				t.Errorf("README: %s has two rows", v)
			}
			byVariable[v] = r
		}
	}
	readers := map[string]map[string]bool{} // variable → binaries reading it
	for binary, settings := range app.Binaries() {
		for _, v := range config.Variables(settings) {
			if readers[v.Name] == nil {
				readers[v.Name] = map[string]bool{}
			}
			readers[v.Name][binary] = true
			r, ok := byVariable[v.Name]
			if !ok {
				t.Errorf("README: %s reads %s, which the configuration table does not list", binary, v.Name)
				continue
			}
			if !r.readBy[binary] {
				t.Errorf("README: %s's row does not say that %s reads it", v.Name, binary)
			}
			if v.Default == "" {
				continue // unset: the cell says in words what that means
			}
			if doc, ok := documentedDefault(r.defaults, binary); !ok || doc != v.Default {
				t.Errorf("README: %s's default for %s is %q in the code, but the table says %q", v.Name, binary, v.Default, strings.TrimSpace(r.defaults))
			}
		}
	}
	for binary, pkgs := range directReads {
		var help strings.Builder
		if settings, ok := app.Binaries()[binary]; ok {
			if _, err := app.Usage(binary, settings, []string{"-h"}, &help); err != nil {
				t.Fatal(err)
			}
		}
		for _, v := range envReads(t, pkgs...) {
			if binary != cli && !strings.Contains(help.String(), "  "+v+"  ") {
				t.Errorf("%s -h does not list %s, which it reads", binary, v)
			}
			if readers[v] == nil {
				readers[v] = map[string]bool{}
			}
			readers[v][binary] = true
			if r, ok := byVariable[v]; !ok {
				t.Errorf("README: %s reads %s, which the configuration table does not list", binary, v)
			} else if !r.readBy[binary] {
				t.Errorf("README: %s's row does not say that %s reads it", v, binary)
			}
		}
	}
	for _, r := range rows {
		for _, v := range r.variables {
			for binary := range r.readBy {
				if !readers[v][binary] {
					t.Errorf("README: the table says %s reads %s, but its settings (internal/app) have no such variable", binary, v)
				}
			}
		}
	}
}

func TestDefaults_AreValid(t *testing.T) {
	for binary, settings := range app.Binaries() {
		if err := settings.(interface{ Validate() error }).Validate(); err != nil {
			t.Errorf("%s's defaults do not validate: %v", binary, err)
		}
	}
}

func TestSettings_NameEveryVariableThatIsWrong(t *testing.T) {
	cfg := app.DefaultStandalone()
	cfg.FrontDoor.MaxInflight = 0
	cfg.Signals.BatchSize = 0
	cfg.Signals.BatchBytes = 100
	cfg.Conversations.Model.RPM = -1
	cfg.Groups.SessionTimeout = time.Second
	cfg.Kafka.Addr = "10.0.0.1:9092"
	cfg.Headband.MaxPause = -time.Second
	cfg.Queue.Jobs = "bad topic!"
	cfg.Signals.Topic = strings.Repeat("s", 246)
	cfg.Conversations.Model.BaseURL = "notaurl"
	cfg.FrontDoor.EnqueueTimeout = time.Minute // over 30s, which the sweep of lost jobs counts on
	cfg.Conversations.LostAfter = 0
	err := cfg.Validate()
	for _, name := range []string{"MAX_INFLIGHT", "BATCH_SIZE", "BATCH_BYTES", "LLM_RPM", "KAFKA_SESSION_TIMEOUT", "STANDALONE_KAFKA_ADDR",
		"HEADBAND_MAX_PAUSE", "JOBS_TOPIC", "SIGNAL_TOPIC", "OPENAI_BASE_URL", "ENQUEUE_TIMEOUT", "LOST_JOB_AFTER"} {
		if err == nil || !strings.Contains(err.Error(), name+":") {
			t.Errorf("error %v does not name %s", err, name)
		}
	}
}

// Values the other checks let through and the process could not work with are refused,
// naming the variable: a SHUTDOWN_GRACE too short for any batch (every batch ran out of its
// time, and its partition stopped for good), a KAFKA_SESSION_TIMEOUT past what Kafka's
// protocol carries (the client refused it, naming no variable), one of Kafka's own topics as
// a flow's (a group copied all of __consumer_offsets to a dead-letter topic).
func TestSettings_RefuseWhatTheProcessCouldNotWorkWith(t *testing.T) {
	for name, set := range map[string]func(*app.DispatcherSettings){
		"SHUTDOWN_GRACE: 1ms, at least 1s":                                func(s *app.DispatcherSettings) { s.ShutdownGrace = time.Millisecond },
		"KAFKA_SESSION_TIMEOUT: 596h31m23.647s is above 596h31m23.646s":   func(s *app.DispatcherSettings) { s.Groups.SessionTimeout = math.MaxInt32 * time.Millisecond },
		"SHUTDOWN_GRACE: 1194h0m0s, at most 1193h2m37.292s":               func(s *app.DispatcherSettings) { s.ShutdownGrace = 1194 * time.Hour },
		`SIGNAL_TOPIC: "__consumer_offsets" is one of Kafka's own topics`: func(s *app.DispatcherSettings) { s.Signals.Topic = "__consumer_offsets" },
		`JOBS_TOPIC: "__transaction_state" is one of Kafka's own topics`:  func(s *app.DispatcherSettings) { s.Queue.Jobs = "__transaction_state" },
	} {
		cfg := app.DefaultDispatcher()
		set(&cfg)
		if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), name) {
			t.Errorf("%v, want %q", err, name)
		}
	}
	cfg := app.DefaultDispatcher()
	cfg.ShutdownGrace, cfg.Groups.SessionTimeout = time.Second, consumer.MaxTimeout
	if err := cfg.Validate(); err != nil {
		t.Errorf("the bounds themselves: %v", err)
	}
	cfg.ShutdownGrace = 2 * consumer.MaxHandleTimeout
	if err := cfg.Validate(); err != nil {
		t.Errorf("the longest grace: %v", err)
	}
}

// CAPTURE_HEARTBEAT_TOPIC is a topic name, or off (empty is unset, so the default).
func TestCapture_IsATopicOrOff(t *testing.T) {
	for topic, ok := range map[string]bool{"postgres.message": true, "__debezium-heartbeat.postgres": true, "off": true, "bad topic!": false, "..": false} {
		err := app.Capture{HeartbeatTopic: topic}.Validate()
		if (err == nil) != ok || (err != nil && !strings.Contains(err.Error(), "CAPTURE_HEARTBEAT_TOPIC:")) {
			t.Errorf("%q: %v", topic, err)
		}
	}
	// Off in any case: "OFF" was watched as a topic, which nothing wrote to.
	for _, off := range []string{"off", "OFF", "Off"} {
		if got := (app.Capture{HeartbeatTopic: off}).Watched(); got != "" {
			t.Errorf("%q watches %q, want no watch", off, got)
		}
	}
	cfg := app.DefaultDispatcher()
	cfg.Capture.HeartbeatTopic = ""
	if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), "CAPTURE_HEARTBEAT_TOPIC:") {
		t.Errorf("an empty topic in the settings: %v, want it refused (the environment's empty value is the default)", err)
	}
}

// The dispatcher's flows each need topics of their own: one topic for two (or a topic that is
// another's dead-letter topic) had the dispatcher read one flow's messages as another's.
func TestDispatcher_RefusesTopicsSharedByTwoFlows(t *testing.T) {
	for _, tc := range []struct {
		signals, jobs, heartbeat, want string
	}{
		{"s", "s", "__debezium-heartbeat.postgres", `JOBS_TOPIC: the topic "s" is SIGNAL_TOPIC too`},
		{"s", "s.dlq", "__debezium-heartbeat.postgres", `JOBS_TOPIC: the topic "s.dlq" is SIGNAL_TOPIC's dead-letter topic too`},
		{"j.dlq", "j", "__debezium-heartbeat.postgres", `JOBS_TOPIC: its dead-letter topic "j.dlq" is SIGNAL_TOPIC too`},
		{"s", "j", "j", `CAPTURE_HEARTBEAT_TOPIC: the topic "j" is JOBS_TOPIC too`},
		{"s", "j", "off", ""},
		{"a.b", "a_b", "off", `JOBS_TOPIC: the topic "a_b" is SIGNAL_TOPIC too`}, // one to Kafka
	} {
		cfg := app.DefaultDispatcher()
		cfg.Signals.Topic, cfg.Queue.Jobs, cfg.Capture.HeartbeatTopic = tc.signals, tc.jobs, tc.heartbeat
		err := cfg.Validate()
		if tc.want == "" && err != nil || tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)) {
			t.Errorf("%+v: %v, want %q", tc, err, tc.want)
		}
	}
}

// One consumer group for both flows is refused, by the dispatcher and by standalone: it was
// taken, and each flow's rebalances were the other's.
func TestSettings_RefuseOneConsumerGroupForBothFlows(t *testing.T) {
	dispatcher, standalone := app.DefaultDispatcher(), app.DefaultStandalone()
	dispatcher.Conversations.GroupID = dispatcher.Signals.GroupID
	standalone.Conversations.GroupID = standalone.Signals.GroupID
	for name, err := range map[string]error{"dispatcher": dispatcher.Validate(), "standalone": standalone.Validate()} {
		if want := "GROUP_ID and LLM_GROUP_ID: both are"; err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v, want %q", name, err, want)
		}
	}
}

// A broker kept on disk needs the state kept in a database: with it in memory, the broker
// would come back ahead of it after a restart.
func TestStandalone_RefusesABrokerOnDiskWithTheStateInMemory(t *testing.T) {
	cfg := app.DefaultStandalone()
	cfg.Kafka.Dir = t.TempDir()
	if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), "STANDALONE_KAFKA_DIR: needs DATABASE_URL") {
		t.Errorf("STANDALONE_KAFKA_DIR without DATABASE_URL: %v", err)
	}
	cfg.DatabaseURL = app.DefaultDatabaseURL
	if err := cfg.Validate(); err != nil {
		t.Errorf("with DATABASE_URL: %v", err)
	}
}

// KAFKA_BROKERS is read as people write it, spaces after the commas; an empty entry is
// refused wherever it is, by its place, not taken for no broker at all.
func TestKafkaBrokers_AreTrimmedAndAnEmptyOneIsNamed(t *testing.T) {
	for _, c := range []struct{ value, want, err string }{
		{value: "a:9092, b:9092 ", want: "a:9092 b:9092"},
		{value: ",a:9092", err: "KAFKA_BROKERS: entry 1 of 2 is empty"},
		{value: "a:9092, ", err: "KAFKA_BROKERS: entry 2 of 2 is empty"},
		{value: " ", err: "KAFKA_BROKERS: no broker given"},
	} {
		t.Setenv("KAFKA_BROKERS", c.value)
		cfg, err := config.Load(app.DefaultDispatcher())
		switch {
		case c.err == "" && err != nil:
			t.Errorf("KAFKA_BROKERS=%q: %v", c.value, err)
		case c.err == "" && strings.Join(cfg.Kafka.Brokers, " ") != c.want:
			t.Errorf("KAFKA_BROKERS=%q read as %q, want %q", c.value, cfg.Kafka.Brokers, c.want)
		case c.err != "" && (err == nil || !strings.Contains(err.Error(), c.err)):
			t.Errorf("KAFKA_BROKERS=%q: error %v, want one saying %q", c.value, err, c.err)
		}
	}
}

// Two of a process's listeners on one port are refused by both names: the second listener
// failed to start, naming only itself ("listen for rpc (ADDR) … address already in use").
func TestSettings_RefuseTwoListenersOnOnePort(t *testing.T) {
	frontdoor, standalone := app.DefaultFrontDoor(), app.DefaultStandalone()
	frontdoor.AdminAddr = frontdoor.FrontDoor.Addr
	standalone.AdminAddr = "127.0.0.1" + standalone.FrontDoor.Addr[strings.LastIndex(standalone.FrontDoor.Addr, ":"):]
	for name, err := range map[string]error{"frontdoor": frontdoor.Validate(), "standalone": standalone.Validate()} {
		if want := "ADDR and ADMIN_ADDR: both listen on port"; err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v, want %q", name, err, want)
		}
	}
	// localhost is 127.0.0.1, where Go listens for it: it was taken for another host.
	frontdoor = app.DefaultFrontDoor()
	frontdoor.FrontDoor.Addr, frontdoor.AdminAddr = "localhost:8080", "127.0.0.1:8080"
	if err := frontdoor.Validate(); err == nil || !strings.Contains(err.Error(), "ADDR and ADMIN_ADDR: both listen on port 8080") {
		t.Errorf("localhost and 127.0.0.1, one port: %v, want it refused", err)
	}
	// Another host's port of the same number is another listener.
	frontdoor = app.DefaultFrontDoor()
	frontdoor.FrontDoor.Addr, frontdoor.AdminAddr = "127.0.0.1:8080", "127.0.0.2:8080"
	if err := frontdoor.Validate(); err != nil {
		t.Errorf("two hosts, one port number: %v", err)
	}
}
