package main_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"connectrpc.com/connect"

	"github.com/beacon/eventdispatch/internal/fakeopenai"
	elizav1 "github.com/beacon/eventdispatch/internal/gen/connectrpc/eliza/v1"
	"github.com/beacon/eventdispatch/internal/gen/connectrpc/eliza/v1/elizav1connect"
	usagev1 "github.com/beacon/eventdispatch/internal/gen/eventdispatch/usage/v1"
	"github.com/beacon/eventdispatch/internal/gen/eventdispatch/usage/v1/usagev1connect"
	"github.com/beacon/eventdispatch/internal/kafkatest"
	"github.com/beacon/eventdispatch/internal/proctest"
	"github.com/beacon/eventdispatch/internal/stack"
)

// These tests need nothing but Go: the binary brings its own broker and keeps state in memory.
// One needs Postgres, for standalone with a database.

// builds are the binaries these tests start, built once for all of them.
var builds proctest.Builds

func TestMain(m *testing.M) { builds.Main(m) }

type standalone struct {
	*proctest.Proc
	rpc, admin string
}

func start(t *testing.T, bin string, extra ...string) standalone {
	t.Helper()
	s := standalone{rpc: proctest.FreeAddr(t), admin: proctest.FreeAddr(t)}
	s.Proc = proctest.Start(t, bin, append([]string{
		"ADDR=" + s.rpc, "ADMIN_ADDR=" + s.admin, "STANDALONE_KAFKA_ADDR=" + proctest.FreeAddr(t),
		"OPENAI_API_KEY=", "OPENAI_BASE_URL=", "DATABASE_URL=", // whatever the developer's shell has
		"HEADBAND_INTERVAL=200ms", "HEADBAND_MAX_PAUSE=100ms",
	}, extra...)...)
	return s
}

func TestStandalone_AnswersQueuesProcessesRecordingsAndStopsCleanly(t *testing.T) {
	bin := builds.Build(t, "./cmd/standalone")
	s := start(t, bin)
	deadline := time.Now().Add(30 * time.Second)
	proctest.WaitHTTP(t, "http://"+s.admin+"/readyz", time.Until(deadline))

	client := elizav1connect.NewElizaServiceClient(http.DefaultClient, "http://"+s.rpc, connect.WithProtoJSON())
	say, err := client.Say(t.Context(), connect.NewRequest(&elizav1.SayRequest{Sentence: "I feel happy."}))
	if err != nil || say.Msg.GetSentence() == "" {
		t.Fatalf("Say: %q %v", say.Msg.GetSentence(), err)
	}
	// Usage is kept in Postgres: without DATABASE_URL the method says so.
	_, err = usagev1connect.NewUsageServiceClient(http.DefaultClient, "http://"+s.rpc).GetUsage(t.Context(), connect.NewRequest(&usagev1.GetUsageRequest{}))
	if connect.CodeOf(err) != connect.CodeFailedPrecondition || !strings.Contains(err.Error(), "DATABASE_URL") {
		t.Errorf("GetUsage without a database: %v, want failed_precondition naming DATABASE_URL", err)
	}

	var h2c http.Protocols
	h2c.SetUnencryptedHTTP2(true)
	grpc := elizav1connect.NewElizaServiceClient(&http.Client{Transport: &http.Transport{Protocols: &h2c}}, "http://"+s.rpc, connect.WithGRPC())
	ctx, cancel := context.WithDeadline(t.Context(), deadline)
	defer cancel()
	stream := grpc.QueueConversation(ctx)
	if err := stream.Send(&elizav1.QueueConversationRequest{Sentence: "I feel happy."}); err != nil {
		t.Fatalf("send: %v", err)
	}
	ack, err := stream.Receive()
	if err != nil || ack.GetSentence() != "enqueued" {
		t.Fatalf("first answer %q %v, want \"enqueued\"", ack.GetSentence(), err)
	}
	reply, err := stream.Receive()
	if err != nil || reply.GetKind() != elizav1.QueueConversationResponse_KIND_REPLY || reply.GetJobId() != ack.GetJobId() || reply.GetSentence() == "" {
		t.Fatalf("reply %+v %v, want an ELIZA reply to job %s", reply, err, ack.GetJobId())
	}
	_ = stream.CloseRequest()
	_ = stream.CloseResponse()
	// A watch of the conversation stays open: the shutdown ends it for the client to resume
	// elsewhere rather than wait out its grace for it. (From the reply: a watch's call
	// returns with its first event.)
	watch, err := grpc.Watch(ctx, connect.NewRequest(&elizav1.WatchRequest{ConversationId: ack.GetConversationId(), AfterSerial: ack.GetSerial()}))
	if err != nil {
		t.Fatalf("Watch: %v", err)
	}
	defer watch.Close()
	if !watch.Receive() || watch.Msg().GetSerial() != reply.GetSerial() {
		t.Fatalf("Watch: %v", watch.Err())
	}
	watched := make(chan error, 1)
	go func() {
		for watch.Receive() {
		}
		watched <- watch.Err()
	}()

	for completed(t, s.admin) == 0 {
		if time.Now().After(deadline) {
			t.Fatal("no recording from the simulator processed within 30s")
		}
		time.Sleep(200 * time.Millisecond)
	}
	// It has no Debezium, so no heartbeat to watch: a heartbeat series would age from its
	// start and fire CaptureStalled under `make observe`.
	if metrics := proctest.Get(t, "http://"+s.admin+"/metrics"); strings.Contains(metrics, "dispatcher_capture_heartbeat") {
		t.Error("standalone exports dispatcher_capture_heartbeat_timestamp_seconds, with no Debezium to write heartbeats")
	}
	if !regexp.MustCompile(`processing recording [0-9a-f-]{36}`).MatchString(s.Output()) {
		t.Error(`no "processing recording <uuid>" in the log`)
	}
	if page := proctest.Get(t, "http://"+s.rpc+"/"); !strings.Contains(page, "<title>ELIZA</title>") {
		t.Errorf("GET / on the front door: %.200q, want the chat page", page)
	}
	for _, want := range []string{"curl", "grpcurl", "QueueConversation", "/metrics", "chat page    http://"} {
		if !strings.Contains(s.Output(), want) {
			t.Errorf("banner does not mention %s", want)
		}
	}

	s.Signal(t, syscall.SIGINT)
	began := time.Now()
	if code := s.Wait(t, 10*time.Second); code != 0 {
		t.Fatalf("exit code %d after SIGINT", code)
	}
	if took := time.Since(began); took > 3*time.Second {
		t.Errorf("took %s to stop with a watch open (SHUTDOWN_GRACE 5s)", took)
	}
	select {
	case err := <-watched:
		if connect.CodeOf(err) != connect.CodeUnavailable || !strings.Contains(err.Error(), "resume") {
			t.Errorf("the watch ended with %v, want unavailable, saying to resume", err)
		}
	case <-time.After(5 * time.Second):
		t.Error("the watch was not ended by the shutdown")
	}
	for _, warning := range []string{"still running at the shutdown deadline", "jobs left unanswered"} {
		if strings.Contains(s.Output(), warning) {
			t.Errorf("a shutdown with every job answered warned %q:\n%s", warning, s.Output())
		}
	}
}

// Its broker in memory, a standalone stopped with jobs queued says how many it loses: the one
// a worker has in hand and those waiting their turn.
func TestStandalone_SaysHowManyQueuedJobsItLosesAtExit(t *testing.T) {
	url, _ := heldModel(t) // answers nothing
	s := start(t, builds.Build(t, "./cmd/standalone"), "OPENAI_BASE_URL="+url, "OPENAI_API_KEY=test-key", "SHUTDOWN_GRACE=1s")
	proctest.WaitHTTP(t, "http://"+s.admin+"/readyz", 30*time.Second)
	client := elizav1connect.NewElizaServiceClient(http.DefaultClient, "http://"+s.rpc, connect.WithProtoJSON())
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	var conv string
	for _, sentence := range []string{"one", "two", "three"} {
		res, err := client.Send(ctx, connect.NewRequest(&elizav1.SendRequest{ConversationId: conv, Sentence: sentence}))
		if err != nil || res.Msg.GetKind() != elizav1.QueueConversationResponse_KIND_ENQUEUED {
			t.Fatalf("send %q: %+v %v", sentence, res, err)
		}
		conv = res.Msg.GetConversationId()
	}
	kafkatest.Eventually(t, 10*time.Second, func() bool {
		return strings.Contains(proctest.Get(t, "http://"+s.admin+"/metrics"), "worker_busy 1")
	}, func() string { return "no worker took the first job" })
	s.Signal(t, syscall.SIGTERM)
	if code := s.Wait(t, 15*time.Second); code != 0 {
		t.Fatalf("exit code %d after SIGTERM", code)
	}
	if !regexp.MustCompile(`level=WARN msg="jobs left unanswered; the broker is in memory, so they are lost with the process" jobs=3`).MatchString(s.Output()) {
		t.Fatalf("no warning of the 3 jobs lost:\n%s", s.Output())
	}
}

func TestStandalone_WithoutWebUIServesOnlyTheRPCs(t *testing.T) {
	s := start(t, builds.Build(t, "./cmd/standalone"), "WEB_UI=false")
	proctest.WaitHTTP(t, "http://"+s.admin+"/readyz", 30*time.Second)
	res, err := http.Get("http://" + s.rpc + "/")
	if err != nil {
		t.Fatal(err)
	}
	_ = res.Body.Close()
	if res.StatusCode != http.StatusNotFound {
		t.Fatalf("GET / with WEB_UI=false: %d, want 404", res.StatusCode)
	}
	client := elizav1connect.NewElizaServiceClient(http.DefaultClient, "http://"+s.rpc)
	if _, err := client.Say(t.Context(), connect.NewRequest(&elizav1.SayRequest{Sentence: "hello"})); err != nil {
		t.Fatalf("Say with WEB_UI=false: %v", err)
	}
	if !strings.Contains(s.Output(), "off (WEB_UI=false)") {
		t.Error("the banner does not say the page is off")
	}
}

// grpcurl, the README's client, prints the drain's error with its details readable: it looks
// their types up on its reflection stream once its call has ended, which the drain used to
// have ended first (the details then came out as base64).
func TestStandalone_GrpcurlReadsWhyAWatchEndedAtShutdown(t *testing.T) {
	s := start(t, builds.Build(t, "./cmd/standalone"))
	proctest.WaitHTTP(t, "http://"+s.admin+"/readyz", 30*time.Second)
	client := elizav1connect.NewElizaServiceClient(http.DefaultClient, "http://"+s.rpc, connect.WithProtoJSON())
	res, err := client.Send(t.Context(), connect.NewRequest(&elizav1.SendRequest{Sentence: "hello"}))
	if err != nil {
		t.Fatal(err)
	}
	watch := proctest.StartArgs(t, builds.Build(t, "github.com/fullstorydev/grpcurl/cmd/grpcurl"), []string{
		"-plaintext", "-v", "-d", `{"conversationId":"` + res.Msg.GetConversationId() + `"}`,
		s.rpc, elizav1connect.ElizaServiceName + "/Watch",
	})
	kafkatest.Eventually(t, 10*time.Second, func() bool { return strings.Contains(watch.Output(), "Response headers received") },
		func() string { return "grpcurl's Watch got no headers:\n" + watch.Output() })
	s.Signal(t, syscall.SIGTERM)
	if code := watch.Wait(t, 15*time.Second); code == 0 {
		t.Fatalf("grpcurl exited 0 when the front door shut down:\n%s", watch.Output())
	}
	out := watch.Output()
	if !strings.Contains(out, "Code: Unavailable") || !strings.Contains(out, `"reason": "FRONT_DOOR_SHUTTING_DOWN"`) {
		t.Fatalf("grpcurl printed, want Unavailable with the reason readable:\n%s", out)
	}
	if code := s.Wait(t, 15*time.Second); code != 0 {
		t.Fatalf("exit code %d after SIGTERM", code)
	}
}

// heldModel starts a fake model that answers nothing until release is called, and returns its
// URL and release.
func heldModel(t *testing.T) (url string, release func()) {
	t.Helper()
	held := make(chan struct{})
	model := fakeopenai.New(fakeopenai.WithLatencyFunc(func(int) time.Duration { <-held; return 0 }))
	url, err := model.Start()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = model.Close() })
	var once sync.Once
	release = func() { once.Do(func() { close(held) }) }
	t.Cleanup(release) // before the model closes, which waits for its handlers
	return url, release
}

func TestStandalone_AClientThatLeftResumesItsConversationAndGetsTheReply(t *testing.T) {
	// The model answers once the client has gone.
	url, released := heldModel(t)

	s := start(t, builds.Build(t, "./cmd/standalone"), "OPENAI_BASE_URL="+url, "OPENAI_API_KEY=test-key")
	proctest.WaitHTTP(t, "http://"+s.admin+"/readyz", 30*time.Second)
	var h2c http.Protocols
	h2c.SetUnencryptedHTTP2(true)
	client := elizav1connect.NewElizaServiceClient(&http.Client{Transport: &http.Transport{Protocols: &h2c}}, "http://"+s.rpc, connect.WithGRPC())
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()

	left := client.QueueConversation(ctx)
	if err := left.Send(&elizav1.QueueConversationRequest{Sentence: "I have to go"}); err != nil {
		t.Fatal(err)
	}
	ack, err := left.Receive()
	if err != nil || ack.GetKind() != elizav1.QueueConversationResponse_KIND_ENQUEUED || ack.GetSerial() != 1 ||
		ack.GetJobId() == "" || ack.GetInReplyTo() != "I have to go" {
		t.Fatalf("first answer %+v %v, want the sentence enqueued as event 1", ack, err)
	}
	if err := left.CloseResponse(); err != nil { // gone before the answer
		t.Fatal(err)
	}
	released()

	back := client.QueueConversation(ctx)
	defer back.CloseResponse() //nolint:errcheck // the outcome is checked through Receive
	if err := back.Send(&elizav1.QueueConversationRequest{ConversationId: ack.GetConversationId(), ResumeAfter: 1}); err != nil {
		t.Fatal(err)
	}
	if err := back.CloseRequest(); err != nil {
		t.Fatal(err)
	}
	reply, err := back.Receive()
	if err != nil || reply.GetKind() != elizav1.QueueConversationResponse_KIND_REPLY || reply.GetSerial() != 2 ||
		reply.GetJobId() != ack.GetJobId() || reply.GetConversationId() != ack.GetConversationId() ||
		reply.GetSentence() != fakeopenai.Echo("I have to go") || reply.GetInReplyTo() != "I have to go" {
		t.Fatalf("resumed with %+v %v, want the answer to job %s as event 2", reply, err, ack.GetJobId())
	}
	if extra, err := back.Receive(); !errors.Is(err, io.EOF) {
		t.Fatalf("after the answer: %+v %v, want the stream to end", extra, err)
	}
}

// completed reads dispatcher_recordings_completed_total.
func completed(t *testing.T, admin string) float64 {
	t.Helper()
	m := regexp.MustCompile(`(?m)^dispatcher_recordings_completed_total (\S+)$`).FindStringSubmatch(proctest.Get(t, "http://"+admin+"/metrics"))
	if m == nil {
		return 0
	}
	n, _ := strconv.ParseFloat(m[1], 64)
	return n
}

func TestStandalone_NamesABusyPortAndItsVariable(t *testing.T) {
	bin := builds.Build(t, "./cmd/standalone")
	var lc net.ListenConfig
	busy, err := lc.Listen(t.Context(), "tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	for _, variable := range []string{"ADDR", "ADMIN_ADDR", "STANDALONE_KAFKA_ADDR"} {
		t.Run(variable, func(t *testing.T) {
			s := start(t, bin, variable+"="+busy.Addr().String())
			if code := s.Wait(t, 10*time.Second); code == 0 {
				t.Fatal("exit code 0 with a busy port")
			}
			out := s.Output()
			if !strings.Contains(out, "("+variable+")") || !strings.Contains(out, busy.Addr().String()) {
				t.Fatalf("error does not name %s and the port:\n%s", variable, out)
			}
		})
	}
}

// With a database, the transcript outlives the process, and so do the jobs it holds as queued:
// standalone stopped before its model answered, then started again on the same database,
// answers them, each once. (An embedded broker in memory lost them: their answers never came,
// and their slots in the conversation's queue stayed taken.) A second process on the same
// broker directory stops, naming it.
func TestStandalone_WithADatabaseAnswersAfterARestartWhatItHadQueued(t *testing.T) {
	ep := stack.Require(t, stack.Postgres)
	bin := builds.Build(t, "./cmd/standalone")
	dir := t.TempDir()
	url, released := heldModel(t)
	env := []string{"DATABASE_URL=" + ep.DatabaseURL, "STANDALONE_KAFKA_DIR=" + dir, "OPENAI_BASE_URL=" + url, "OPENAI_API_KEY=test-key",
		"HEADBAND_RECORDINGS=0"}

	first := start(t, bin, env...)
	proctest.WaitHTTP(t, "http://"+first.admin+"/readyz", 30*time.Second)
	if !strings.Contains(first.Output(), "kept in "+dir+" (STANDALONE_KAFKA_DIR)") {
		t.Errorf("the banner does not say where the broker keeps its data:\n%s", first.Output())
	}
	second := start(t, bin, env...)
	if code := second.Wait(t, 30*time.Second); code != 1 || !strings.Contains(second.Output(), "STANDALONE_KAFKA_DIR: "+dir+" is in use by another standalone process") {
		t.Errorf("a second process on the same directory: exit %d, want 1 naming it:\n%s", code, second.Output())
	}

	client := elizav1connect.NewElizaServiceClient(http.DefaultClient, "http://"+first.rpc, connect.WithProtoJSON())
	var conv string
	var jobs []string
	for _, sentence := range []string{"I have to go", "see you later"} {
		res, err := client.Send(t.Context(), connect.NewRequest(&elizav1.SendRequest{ConversationId: conv, Sentence: sentence}))
		if err != nil || res.Msg.GetKind() != elizav1.QueueConversationResponse_KIND_ENQUEUED {
			t.Fatalf("Send %q: %+v %v", sentence, res, err)
		}
		conv = res.Msg.GetConversationId()
		jobs = append(jobs, res.Msg.GetJobId())
	}
	// Stopped with both jobs at the model, unanswered.
	first.Signal(t, syscall.SIGTERM)
	first.Wait(t, 30*time.Second)
	released()

	again := start(t, bin, env...)
	proctest.WaitHTTP(t, "http://"+again.admin+"/readyz", 30*time.Second)
	client = elizav1connect.NewElizaServiceClient(http.DefaultClient, "http://"+again.rpc, connect.WithProtoJSON())
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	watch, err := client.Watch(ctx, connect.NewRequest(&elizav1.WatchRequest{ConversationId: conv, AfterSerial: 2}))
	if err != nil {
		t.Fatal(err)
	}
	defer watch.Close()
	var got []string
	for len(got) < 2 && watch.Receive() {
		if ev := watch.Msg(); ev.GetSerial() != 0 {
			got = append(got, fmt.Sprintf("%d %s %s %s", ev.GetSerial(), ev.GetKind(), ev.GetJobId(), ev.GetInReplyTo()))
		}
	}
	want := []string{
		fmt.Sprintf("3 KIND_REPLY %s I have to go", jobs[0]),
		fmt.Sprintf("4 KIND_REPLY %s see you later", jobs[1]),
	}
	if !slices.Equal(got, want) {
		t.Fatalf("after the restart: %q (%v), want %q", got, watch.Err(), want)
	}
	// Nothing more: each answered once.
	res, err := client.Send(t.Context(), connect.NewRequest(&elizav1.SendRequest{ConversationId: conv, Sentence: "one more", AfterSerial: 4}))
	if err != nil || res.Msg.GetSerial() != 5 {
		t.Fatalf("a sentence after the answers: %+v %v, want it enqueued as event 5", res, err)
	}
}

// A database standalone cannot use stops it before its embedded broker makes a directory for
// that database's jobs: nothing is left behind in the state home.
func TestStandalone_AnUnusableDatabaseLeavesNoBrokerDirectory(t *testing.T) {
	ep := stack.Require(t, stack.Postgres)
	u, err := url.Parse(ep.DatabaseURL)
	if err != nil {
		t.Fatal(err)
	}
	u.Path = "/no_such_database_" + strconv.Itoa(os.Getpid())
	state := t.TempDir()
	s := start(t, builds.Build(t, "./cmd/standalone"), "XDG_STATE_HOME="+state, "DATABASE_URL="+u.String())
	if code := s.Wait(t, 30*time.Second); code != 1 || !strings.Contains(s.Output(), "DATABASE_URL") {
		t.Fatalf("exit code %d, printed:\n%s\nwant 1, naming DATABASE_URL", code, s.Output())
	}
	left, _ := filepath.Glob(filepath.Join(state, "eventdispatch", "standalone-kafka-*"))
	if len(left) > 0 {
		t.Errorf("left behind %v", left)
	}
}

// The exercise texts this product grew from run a command as `go run cmd/NAME/main.go`, which
// builds that one file: a command whose package had a second file would fail so
// ("undefined: banner"), though `go run ./cmd/NAME` works.
func TestCommands_EachIsOneFileSoGoRunOfItsMainGoWorks(t *testing.T) {
	files, err := filepath.Glob("../*/*.go")
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		if !strings.HasSuffix(f, "_test.go") && filepath.Base(f) != "main.go" {
			t.Errorf("%s: a command's code is its main.go alone, for `go run cmd/NAME/main.go`", f)
		}
	}
}

// Under AUTH=required the banner's commands carry a token, and say how to make one: copied
// from the banner, with the token `eliza clients add` printed, Say answers. (They had none,
// and each was refused: "this server needs a token".)
func TestStandalone_WhereTokensAreRequiredTheBannersCommandsCarryOne(t *testing.T) {
	ep := stack.Require(t, stack.Postgres)
	s := start(t, builds.Build(t, "./cmd/standalone"), "DATABASE_URL="+ep.DatabaseURL, "AUTH=required", "HEADBAND_RECORDINGS=1")
	proctest.WaitHTTP(t, "http://"+s.admin+"/readyz", 30*time.Second)
	banner := s.Output()
	if !strings.Contains(banner, "TOKEN=$(go run ./cmd/eliza clients add --name me)") {
		t.Errorf("the banner does not say how to make a token:\n%s", banner)
	}
	for line := range strings.Lines(banner) {
		if (strings.Contains(line, "grpcurl") || strings.Contains(line, "curl --header")) && !strings.Contains(line, `"Authorization: Bearer $TOKEN"`) {
			t.Errorf("a command without the token: %q", line)
		}
	}
	say := regexp.MustCompile(`(?m)^  (curl .*\\)\n\s+(\S+/Say)$`).FindStringSubmatch(banner)
	if say == nil {
		t.Fatalf("no curl of Say in the banner:\n%s", banner)
	}
	add := exec.Command(builds.Build(t, "./cmd/eliza"), "clients", "add", "--name", "test "+t.Name())
	add.Env = append(os.Environ(), "DATABASE_URL="+ep.DatabaseURL)
	var made strings.Builder
	add.Stderr = &made
	token, err := add.Output()
	if err != nil {
		t.Fatalf("eliza clients add: %v\n%s", err, made.String())
	}
	pool := stack.Pool(t, ep.DatabaseURL)
	if id := regexp.MustCompile(`client (\S+) `).FindStringSubmatch(made.String()); id != nil {
		t.Cleanup(func() { _, _ = pool.Exec(context.Background(), `DELETE FROM access.client WHERE id = $1`, id[1]) })
	}
	curl := exec.Command("sh", "-c", strings.TrimSuffix(say[1], `\`)+" "+say[2])
	curl.Env = append(os.Environ(), "TOKEN="+strings.TrimSpace(string(token)))
	out, err := curl.CombinedOutput()
	if err != nil || !strings.Contains(string(out), `"sentence":`) {
		t.Errorf("the banner's curl of Say with the token: %v\n%s\nwant an answer", err, out)
	}
}

// The simulator drops some signals on purpose: standalone reports the recordings left
// incomplete, by the dispatcher that owns their partitions once it has caught up with them,
// and counts them, as the README says.
func TestStandalone_ReportsTheRecordingsLeftIncomplete(t *testing.T) {
	s := start(t, builds.Build(t, "./cmd/standalone"), "INCOMPLETE_AFTER=1s", "HEADBAND_MAX_PAUSE=10ms")
	proctest.WaitHTTP(t, "http://"+s.admin+"/readyz", 30*time.Second)
	deadline := time.Now().Add(60 * time.Second)
	reported := regexp.MustCompile(`(?m)^dispatcher_incomplete_recordings_total ([1-9]\S*)$`)
	for !reported.MatchString(proctest.Get(t, "http://"+s.admin+"/metrics")) {
		if time.Now().After(deadline) {
			t.Fatalf("no recording reported incomplete within a minute; the log:\n%s", s.Output())
		}
		time.Sleep(200 * time.Millisecond)
	}
	if !regexp.MustCompile(`msg="recording still incomplete" recording=[0-9a-f-]{36} missing=\[`).MatchString(s.Output()) {
		t.Errorf(`no "recording still incomplete" line, with what it misses, in the log:\n%s`, s.Output())
	}
}

// A key or a model the API refuses is the operator's to mend: the process says so at its
// start, from the API's list of models, before any sentence; a sentence then sent is answered
// "try again later", not that it cannot be answered, and its failure is logged as the
// settings'. The API here answers as LiteLLM does without a database of keys: 400 "No
// connected db." (type no_db_connection), where OpenAI answers 401.
func TestStandalone_SaysAtStartThatTheModelAPIRefusesItsSettings(t *testing.T) {
	var mu sync.Mutex
	var asked []string
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		asked = append(asked, r.Method+" "+r.URL.Path)
		mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusBadRequest)
		fmt.Fprint(w, `{"error":{"message":"No connected db.","type":"no_db_connection","param":null,"code":"400"}}`)
	}))
	defer api.Close()
	s := start(t, builds.Build(t, "./cmd/standalone"), "OPENAI_BASE_URL="+api.URL+"/v1", "OPENAI_API_KEY=sk-wrong")
	proctest.WaitHTTP(t, "http://"+s.admin+"/readyz", 30*time.Second)
	kafkatest.Eventually(t, 10*time.Second, func() bool {
		return strings.Contains(s.Output(), `level=ERROR msg="the model API refuses this process's key (OPENAI_API_KEY)`)
	}, func() string { return "no error at start for the key refused:\n" + s.Output() })
	mu.Lock()
	if !slices.Equal(asked, []string{"GET /v1/models"}) {
		t.Errorf("the API was asked %v before any sentence, want its list of models alone", asked)
	}
	mu.Unlock()

	client := elizav1connect.NewElizaServiceClient(http.DefaultClient, "http://"+s.rpc, connect.WithProtoJSON())
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	sent, err := client.Send(ctx, connect.NewRequest(&elizav1.SendRequest{Sentence: "I feel tired"}))
	if err != nil {
		t.Fatal(err)
	}
	watch, err := client.Watch(ctx, connect.NewRequest(&elizav1.WatchRequest{ConversationId: sent.Msg.GetConversationId()}))
	if err != nil {
		t.Fatal(err)
	}
	defer watch.Close()
	for watch.Receive() {
		if ev := watch.Msg(); ev.GetKind() != elizav1.QueueConversationResponse_KIND_ENQUEUED {
			if ev.GetKind() != elizav1.QueueConversationResponse_KIND_ERROR || ev.GetSentence() != "the assistant could not answer, please try again later" {
				t.Errorf("the sentence's outcome: %v %q, want an error saying to try again later", ev.GetKind(), ev.GetSentence())
			}
			break
		}
	}
	kafkatest.Eventually(t, 10*time.Second, func() bool {
		return strings.Contains(s.Output(), `level=ERROR msg="job failed: the model API refuses this process's settings (OPENAI_BASE_URL, OPENAI_API_KEY or OPENAI_MODEL)"`)
	}, func() string { return "the job's failure is not logged as the settings':\n" + s.Output() })
}

// A model the API does not list is said at start, with what it lists.
func TestStandalone_SaysAtStartThatTheModelAPIDoesNotListItsModel(t *testing.T) {
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, `{"object":"list","data":[{"id":"gpt-5.4-mini"},{"id":"counsellor"}]}`)
	}))
	defer api.Close()
	s := start(t, builds.Build(t, "./cmd/standalone"), "OPENAI_BASE_URL="+api.URL+"/v1", "OPENAI_API_KEY=sk-key", "OPENAI_MODEL=counseller")
	kafkatest.Eventually(t, 30*time.Second, func() bool {
		return strings.Contains(s.Output(), `level=WARN msg="the model API does not list OPENAI_MODEL: its calls will fail unless the API serves models it does not list" model=counseller listed="counsellor, gpt-5.4-mini"`)
	}, func() string { return "no warning at start for the model not listed:\n" + s.Output() })
}
