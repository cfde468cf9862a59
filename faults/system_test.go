//go:build faults

package faults_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/segmentio/kafka-go"

	"github.com/beacon/eventdispatch/internal/fakeopenai"
	"github.com/beacon/eventdispatch/internal/proctest"
	"github.com/beacon/eventdispatch/internal/stack"
)

var builds proctest.Builds

func TestMain(m *testing.M) {
	code := m.Run()
	builds.Remove()
	removeAudit()
	report.print(os.Stdout)
	os.Exit(code)
}

// removeAudit takes the scenarios' audit trigger (installAudit) off process_record's table, so
// that it does not count, and cost, every later run's inserts (a benchmark's, say).
func removeAudit() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, stack.Get().DatabaseURL)
	if err != nil {
		return // no stack: nothing was installed
	}
	defer conn.Close(context.Background())
	if _, err := conn.Exec(ctx, `
		DROP TRIGGER IF EXISTS process_audit ON dispatcher.processed_recording;
		DROP SCHEMA IF EXISTS faults CASCADE`); err != nil {
		fmt.Fprintln(os.Stderr, "faults: cannot remove the audit trigger:", err)
	}
}

// signalTopic is Debezium's topic for datastore.signal.
const signalTopic = "postgres.datastore.signal"

// modelLatency is how long the fake model takes to answer: long enough that a dispatcher
// always has calls in flight when a fault hits.
const modelLatency = 300 * time.Millisecond

// system is one scenario's processes: dispatchers and front doors built from this checkout,
// on a jobs topic and consumer groups of their own, the stack's Postgres, Kafka and Debezium,
// and a fake model in the test process.
type system struct {
	t  *testing.T
	ep stack.Endpoints
	db *pgxpool.Pool
	// jobs is the scenario's jobs topic; llmGroup and signalGroup its dispatchers' groups.
	jobs, llmGroup, signalGroup string
	model                       *fakeopenai.Server
	modelEnv                    []string
	since                       time.Time // Postgres's clock when the scenario started

	mu            sync.Mutex
	dispatchers   []*proc
	frontdoors    []*proc
	conversations []uuid.UUID // every conversation the scenario's clients and probes used
}

// proc is a dispatcher or front door of the system.
type proc struct {
	*proctest.Proc
	name, rpc, admin string
	dead             bool
}

func newSystem(t *testing.T) *system {
	t.Helper()
	ep := stack.Require(t, stack.Postgres, stack.Kafka, stack.Debezium)
	suffix := fmt.Sprintf("%d-%08x", time.Now().UnixNano(), rand.Uint32())
	s := &system{t: t, ep: ep, jobs: "faults.jobs." + suffix,
		llmGroup: "faults-llm-" + suffix}
	db, err := pgxpool.New(context.Background(), ep.DatabaseURL)
	if err != nil {
		t.Fatal(err)
	}
	s.db = db
	t.Cleanup(func() {
		// After the processes are gone (registered first, so it runs last).
		s.forget()
		db.Close()
	})
	s.installAudit()
	// The signal group starts at the end of Debezium's topic: it sees only what the scenario
	// inserts, however long the topic's history.
	s.signalGroup = stack.GroupAtEnd(t, ep, "faults-signals", signalTopic)
	s.model = fakeopenai.New(fakeopenai.WithLatency(modelLatency))
	url, err := s.model.Start()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.model.Close() })
	s.modelEnv = []string{"OPENAI_BASE_URL=" + url, "OPENAI_API_KEY=faults"}
	s.since = s.now()
	return s
}

// now is Postgres's clock, which stamps datastore.signal's inserted_at.
func (s *system) now() time.Time {
	s.t.Helper()
	var now time.Time
	if err := s.db.QueryRow(s.t.Context(), `SELECT now()`).Scan(&now); err != nil {
		s.t.Fatal(err)
	}
	return now
}

// installAudit counts every row process_record's table is asked to insert: a recording
// processed twice shows here. A second insert that the primary key refuses fails its batch
// and rolls its audit row back; checkRecordings finds those in the dispatchers' logs.
func (s *system) installAudit() {
	s.t.Helper()
	_, err := s.db.Exec(s.t.Context(), `
		CREATE SCHEMA IF NOT EXISTS faults;
		CREATE TABLE IF NOT EXISTS faults.process_audit (recording uuid NOT NULL, at timestamptz NOT NULL DEFAULT clock_timestamp());
		CREATE OR REPLACE FUNCTION faults.audit() RETURNS trigger LANGUAGE plpgsql AS $$
		BEGIN
		    INSERT INTO faults.process_audit (recording) VALUES (NEW.recording);
		    RETURN NEW;
		END $$;
		CREATE OR REPLACE TRIGGER process_audit BEFORE INSERT ON dispatcher.processed_recording
		    FOR EACH ROW EXECUTE FUNCTION faults.audit();`)
	if err != nil {
		s.t.Fatalf("install the audit trigger: %v", err)
	}
}

// newConversation returns a new conversation id, remembered for forget.
func (s *system) newConversation() uuid.UUID {
	id := uuid.New()
	s.mu.Lock()
	s.conversations = append(s.conversations, id)
	s.mu.Unlock()
	return id
}

// forget deletes what the scenario left: its conversations and its topics.
func (s *system) forget() {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s.mu.Lock()
	convs := slices.Clone(s.conversations)
	s.mu.Unlock()
	if _, err := s.db.Exec(ctx, `DELETE FROM transcript.conversation WHERE id = ANY($1)`, convs); err != nil {
		s.t.Logf("conversations left in the transcript: %v", err)
	}
	if conn, err := kafka.Dial("tcp", s.ep.KafkaBrokers[0]); err == nil {
		_ = conn.DeleteTopics(s.jobs, s.jobs+".dlq")
		_ = conn.Close()
	}
}

// dispatcher starts a dispatcher and waits until it is ready.
func (s *system) dispatcher() *proc {
	s.t.Helper()
	admin := proctest.FreeAddr(s.t)
	p := &proc{name: fmt.Sprintf("dispatcher-%d", len(s.dispatchers)+1), admin: admin}
	p.Proc = proctest.Start(s.t, builds.Build(s.t, "./cmd/dispatcher"), append([]string{
		"ADMIN_ADDR=" + admin, "KAFKA_BROKERS=" + strings.Join(s.ep.KafkaBrokers, ","), "DATABASE_URL=" + s.ep.DatabaseURL,
		"JOBS_TOPIC=" + s.jobs, "LLM_GROUP_ID=" + s.llmGroup, "GROUP_ID=" + s.signalGroup,
		"KAFKA_SESSION_TIMEOUT=6s", "SHUTDOWN_GRACE=10s", "WORKERS=16", "LOG_LEVEL=info",
	}, s.modelEnv...)...)
	proctest.WaitHTTP(s.t, "http://"+admin+"/readyz", 60*time.Second)
	s.mu.Lock()
	s.dispatchers = append(s.dispatchers, p)
	s.mu.Unlock()
	return p
}

// frontdoor starts a front door and waits until it is ready.
func (s *system) frontdoor() *proc {
	s.t.Helper()
	p := &proc{name: fmt.Sprintf("frontdoor-%d", len(s.frontdoors)+1), rpc: proctest.FreeAddr(s.t), admin: proctest.FreeAddr(s.t)}
	p.Proc = proctest.Start(s.t, builds.Build(s.t, "./cmd/frontdoor"),
		"ADDR="+p.rpc, "ADMIN_ADDR="+p.admin, "KAFKA_BROKERS="+strings.Join(s.ep.KafkaBrokers, ","),
		"DATABASE_URL="+s.ep.DatabaseURL, "JOBS_TOPIC="+s.jobs, "QUEUE_LIMIT=1000", "ENQUEUE_TIMEOUT=2s",
		// The suite measures what faults do, not the anonymous caller's quota.
		"ANONYMOUS_REQUESTS_PER_SECOND=0", "ANONYMOUS_SENTENCES_PER_MINUTE=0",
		"SHUTDOWN_GRACE=5s", "LOG_LEVEL=info")
	proctest.WaitHTTP(s.t, "http://"+p.admin+"/readyz", 30*time.Second)
	s.mu.Lock()
	s.frontdoors = append(s.frontdoors, p)
	s.mu.Unlock()
	return p
}

// live returns the front doors not killed, for the clients to use.
func (s *system) liveFrontdoors() []*proc {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []*proc
	for _, f := range s.frontdoors {
		if !f.dead {
			out = append(out, f)
		}
	}
	return out
}

// markDead takes p out of the live processes (the clients' front doors, the ready probe).
func (s *system) markDead(p *proc) {
	s.mu.Lock()
	p.dead = true
	s.mu.Unlock()
}

// kill sends SIGKILL to p and waits for it to be gone.
func (s *system) kill(p *proc) {
	s.t.Helper()
	s.markDead(p)
	p.Signal(s.t, syscall.SIGKILL)
	p.Wait(s.t, 10*time.Second)
}

// stop sends SIGTERM to p and wants it to exit 0 within its grace.
func (s *system) stop(p *proc) {
	s.t.Helper()
	s.markDead(p)
	p.Signal(s.t, syscall.SIGTERM)
	if code := p.Wait(s.t, 30*time.Second); code != 0 {
		s.t.Errorf("%s exited %d after SIGTERM", p.name, code)
	}
}

// headband runs the simulator at a steady pace until the returned stop is called.
func (s *system) headband() (stop func()) {
	s.t.Helper()
	p := proctest.Start(s.t, builds.Build(s.t, "./cmd/headband"),
		"DATABASE_URL="+s.ep.DatabaseURL, "ADMIN_ADDR="+proctest.FreeAddr(s.t),
		"HEADBAND_INTERVAL=150ms", "HEADBAND_MAX_PAUSE=100ms", "HEADBAND_RECORDINGS=0",
		"HEADBAND_RETRY_FOR=3m", fmt.Sprintf("HEADBAND_SEED=%d", rand.Uint64()), "LOG_LEVEL=warn")
	return func() {
		p.Signal(s.t, syscall.SIGTERM)
		if code := p.Wait(s.t, 60*time.Second); code != 0 {
			s.t.Errorf("headband exited %d", code)
		}
	}
}

// stackScript runs deploy/local/stack.sh with args and returns its output.
func stackScript(t *testing.T, args ...string) string {
	t.Helper()
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("bash", append([]string{filepath.Join(root, "deploy/local/stack.sh")}, args...)...)
	cmd.Dir = root
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("stack.sh %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// stackPid is the pid of a stack component (postgres, kafka, connect).
func stackPid(t *testing.T, component string) int {
	t.Helper()
	pid, err := strconv.Atoi(strings.TrimSpace(stackScript(t, "pid", component)))
	if err != nil {
		t.Fatalf("pid of %s: %v", component, err)
	}
	return pid
}

// signalStack sends sig to a stack component and returns its pid.
func signalStack(t *testing.T, component string, sig syscall.Signal) int {
	t.Helper()
	pid := stackPid(t, component)
	if err := syscall.Kill(pid, sig); err != nil {
		t.Fatalf("signal %s (pid %d) with %v: %v", component, pid, sig, err)
	}
	t.Logf("sent %v to %s (pid %d)", sig, component, pid)
	return pid
}

// killStack kills a stack component with SIGKILL and waits until its process is gone.
func killStack(t *testing.T, component string) {
	t.Helper()
	pid := signalStack(t, component, syscall.SIGKILL)
	for deadline := time.Now().Add(30 * time.Second); syscall.Kill(pid, 0) == nil; time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%s (pid %d) still there 30 s after SIGKILL", component, pid)
		}
	}
}

// restartStack starts whatever of the stack is down again, as an operator would.
func restartStack(t *testing.T) {
	t.Helper()
	start := time.Now()
	stackScript(t, "up")
	t.Logf("stack up again in %s", time.Since(start).Round(100*time.Millisecond))
}
