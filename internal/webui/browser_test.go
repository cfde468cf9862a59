package webui_test

import (
	"context"
	"fmt"
	"maps"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"
	"github.com/google/uuid"

	"github.com/beacon/eventdispatch/internal/access"
	"github.com/beacon/eventdispatch/internal/eliza"
	"github.com/beacon/eventdispatch/internal/fakeopenai"
	"github.com/beacon/eventdispatch/internal/kafkatest"
	"github.com/beacon/eventdispatch/internal/proctest"
	"github.com/beacon/eventdispatch/internal/stack"
	"github.com/beacon/eventdispatch/internal/webui"
)

// These tests drive the chat page in a real headless Chromium (Debian's package, which
// `make stack-up` installs when it is missing), against the real binaries: the page as the
// front door serves it, and as a page on another origin would use the service.

var builds proctest.Builds

func TestMain(m *testing.M) { builds.Main(m) }

// page is a tab of a headless Chromium, driven by one test.
type page struct {
	t   *testing.T
	ctx context.Context
}

// browser starts a headless Chromium for the test and returns its tab; it is closed at the
// end of the test. Without Chromium the test is skipped, or fails when CI=true.
func browser(t *testing.T) *page {
	t.Helper()
	if testing.Short() {
		t.Skip("drives a real browser: not run with -short (make test-unit); make test runs it")
	}
	path, err := exec.LookPath("chromium")
	if err != nil {
		stack.Missing(t, "Chromium not found (`make stack-up` installs Debian's chromium): "+err.Error())
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(path), chromedp.WindowSize(900, 1000))
	if os.Geteuid() == 0 {
		opts = append(opts, chromedp.NoSandbox) // Chromium refuses to sandbox itself as root
	}
	alloc, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(alloc)
	t.Cleanup(func() { cancel(); cancelAlloc() })
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("start Chromium: %v", err)
	}
	return &page{t: t, ctx: ctx}
}

// run runs steps in the browser, failing the test on error.
func (p *page) run(steps ...chromedp.Action[chromedp.Void]) {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, 30*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, steps...); err != nil {
		p.t.Fatal(err)
	}
}

// eval returns the value of a JavaScript expression on the page.
func eval[T any](p *page, expression string) T {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, 30*time.Second)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expression))
	if err != nil {
		p.t.Fatalf("%s: %v", expression, err)
	}
	return v
}

// ready waits until the page's script has started.
var ready = chromedp.WaitVisible(chromedp.CSS(`body[data-ready="true"]`))

// open loads the page at url and waits until its script has started.
func (p *page) open(url string) {
	p.t.Helper()
	p.run(chromedp.Navigate(url), ready)
}

// standalone starts a standalone process (front door, queue and workers in one) with extra
// settings and returns its RPC address.
func standalone(t *testing.T, env ...string) string {
	t.Helper()
	rpc, _ := proctest.Standalone(t, &builds, env...)
	return rpc
}

// slowModel starts a fake OpenAI-compatible model that answers as ELIZA, taking latency per
// answer, and returns the settings pointing workers at it.
func slowModel(t *testing.T, latency time.Duration) []string {
	t.Helper()
	var mu sync.Mutex
	bot := eliza.New(1)
	srv := fakeopenai.New(fakeopenai.WithLatency(latency), fakeopenai.WithResponder(func(sentence string) string {
		mu.Lock()
		defer mu.Unlock()
		reply, _ := bot.Reply(sentence)
		return reply
	}))
	url, err := srv.Start()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Close() })
	return []string{"OPENAI_BASE_URL=" + url, "OPENAI_API_KEY=test-key"}
}

// entry is one line of the page's conversation log.
type entry struct {
	Kind   string `json:"kind"`
	Serial string `json:"serial"`
	Text   string `json:"text"`
}

// entries reads the conversation's log as the page shows it.
func (p *page) entries() []entry {
	p.t.Helper()
	return eval[[]entry](p, `[...document.querySelectorAll("#log li")].map(li => ({
		kind: li.dataset.kind, serial: li.dataset.serial ?? "", text: li.querySelector(".text").textContent}))`)
}

func count(es []entry, kind string) int {
	n := 0
	for _, e := range es {
		if e.Kind == kind {
			n++
		}
	}
	return n
}

// waitLog waits until the log shows n entries of kind.
func (p *page) waitLog(kind string, n int) {
	p.t.Helper()
	kafkatest.Eventually(p.t, 30*time.Second, func() bool { return count(p.entries(), kind) >= n },
		func() string {
			return fmt.Sprintf("waited for %d %q entries; the log shows %+v", n, kind, p.entries())
		})
}

// waitStatus waits until the page's connection status is state.
func (p *page) waitStatus(state string) {
	p.t.Helper()
	var got []string
	kafkatest.Eventually(p.t, 30*time.Second, func() bool {
		got = eval[[]string](p, `[document.getElementById("status").dataset.state, document.getElementById("status").textContent]`)
		return got[0] == state
	}, func() string { return fmt.Sprintf("status %q, want %q", got, state) })
}

// chatting starts the conversations' services on the stack at ep (a front door and a
// dispatcher), opens the page on the front door and has one exchange there. It returns the
// page, the services and the conversation's id, which is forgotten when the test ends.
func chatting(t *testing.T, ep stack.Endpoints) (*page, *proctest.Conversations, string) {
	t.Helper()
	p := browser(t)
	s := proctest.StartConversations(t, &builds, ep, "webui", nil, nil)
	p.open("http://" + s.RPC + "/")
	p.say("I feel sad")
	p.waitLog("reply", 1)
	return p, s, p.conversation(s)
}

// conversation returns the id of the conversation the page shows, which s forgets (with its
// transcript) when the test ends.
func (p *page) conversation(s *proctest.Conversations) string {
	p.t.Helper()
	id := strings.TrimPrefix(eval[string](p, `document.getElementById("conversation").textContent`), "Conversation ")
	p.t.Cleanup(func() { s.Forget(id) })
	return id
}

// say types a sentence into the conversation's field and presses Enter.
func (p *page) say(sentence string) {
	p.t.Helper()
	p.run(chromedp.SendKeys(chromedp.ID("sentence"), sentence+kb.Enter))
}

// checkOnce fails unless every event of the conversation is shown once, in serial order.
func checkOnce(t *testing.T, es []entry) {
	t.Helper()
	var serials []string
	for _, e := range es {
		if e.Serial != "" {
			serials = append(serials, e.Serial)
		}
	}
	for i := range serials {
		if want := fmt.Sprint(i + 1); serials[i] != want {
			t.Fatalf("event serials %v: want 1, 2, 3... each once; the log: %+v", serials, es)
		}
	}
}

func TestPage_AnswersEverySentenceAcrossAReloadAndSaysWhenTheQueueIsFull(t *testing.T) {
	p := browser(t)
	// One answer a second: the reload comes while answers are still due.
	rpc := standalone(t, slowModel(t, time.Second)...)
	p.open("http://" + rpc + "/")

	for _, s := range []string{"I feel sad", "my mother hates me", "I dream of trains", "and my father"} {
		p.say(s)
	}
	p.waitLog("enqueued", 3)
	p.waitLog("refused", 1) // QUEUE_LIMIT is 3
	p.waitLog("reply", 1)
	before := p.entries()
	if count(before, "reply") == 3 {
		t.Fatalf("all three answers came before the reload, which tests nothing: %+v", before)
	}
	if refused := before[slices.IndexFunc(before, func(e entry) bool { return e.Kind == "refused" })]; refused.Text != "queue is full!" {
		t.Fatalf("the fourth sentence shows %q, want \"queue is full!\"", refused.Text)
	}
	// Not queued, it stays in its field to be sent again.
	p.waitField("and my father")

	p.run(chromedp.Reload(), ready)
	p.waitLog("reply", 3)
	after := p.entries()
	if !slices.Equal(after[:len(before)], before) {
		t.Fatalf("after the reload the log begins %+v, want what it showed before: %+v", after, before)
	}
	if count(after, "enqueued") != 3 || count(after, "reply") != 3 || count(after, "refused") != 1 || len(after) != 7 {
		t.Fatalf("the log after the reload: %+v; want 3 enqueued, 3 answers and 1 refusal", after)
	}
	checkOnce(t, after)

	png, err := chromedp.Run(p.ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatal(err)
	}
	shot := filepath.Join(t.ArtifactDir(), "chat.png")
	if err := os.WriteFile(shot, png, 0o600); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot: %s", shot)
}

func TestPage_RecoversWhenTheFrontDoorIsKilledAndRestarted(t *testing.T) {
	p, s, _ := chatting(t, stack.Require(t, stack.Postgres, stack.Kafka))

	s.FrontDoor.Signal(t, syscall.SIGKILL)
	s.FrontDoor.Wait(t, 10*time.Second)
	p.waitStatus("offline")
	s.StartFrontDoor()
	p.waitStatus("online")

	p.say("my mother hates me")
	p.waitLog("reply", 2)
	// Events come in order: one repeated from before the restart would show before the
	// answer to a third sentence.
	p.say("I dream of trains")
	p.waitLog("reply", 3)
	es := p.entries()
	if count(es, "enqueued") != 3 || count(es, "reply") != 3 {
		t.Fatalf("the log after a front-door restart: %+v; want 3 enqueued and 3 answers", es)
	}
	checkOnce(t, es)
}

// A front door shutting down (a rolling update's SIGTERM) ends the page's Watch with
// Unavailable: the page says it is reconnecting, not that the server cannot be reached, and
// says that only once the next attempt has failed too.
func TestPage_SaysItIsReconnectingWhenItsFrontDoorShutsDown(t *testing.T) {
	p, s, _ := chatting(t, stack.Require(t, stack.Postgres, stack.Kafka))
	p.waitStatus("online")
	// Every state the status takes from here on, in order.
	eval[bool](p, `(() => {
		const status = document.getElementById("status");
		window.states = [];
		new MutationObserver(() => window.states.push(status.dataset.state)).observe(status, { attributes: true, childList: true });
		return true;
	})()`)

	s.FrontDoor.Signal(t, syscall.SIGTERM)
	s.FrontDoor.Wait(t, 10*time.Second)
	p.waitStatus("offline")
	// No server answers: the status says it cannot be reached.
	if status := eval[string](p, `document.getElementById("status").textContent`); !strings.Contains(status, "Cannot reach the server") {
		t.Fatalf("with no front door the status reads %q, want that the server cannot be reached", status)
	}
	s.StartFrontDoor()
	p.waitStatus("online")
	p.say("my mother hates me")
	p.waitLog("reply", 2)

	states := slices.Compact(eval[[]string](p, `window.states`))
	if len(states) < 3 || states[0] != "reconnecting" || states[1] != "offline" || states[len(states)-1] != "online" {
		t.Fatalf("the status after SIGTERM went %v; want reconnecting, offline while no front door answers, then online", states)
	}
	checkOnce(t, p.entries())
}

// A watch the front door refuses because it cannot read the transcript (its Postgres out of
// reach) is not "Connected": an error's headers carry no history's end. The page says the
// server cannot follow the conversation (not that it cannot reach it: it answered), keeps
// trying, and is connected again once Postgres answers.
func TestPage_AWatchRefusedForAnUnreachableTranscriptIsNotConnected(t *testing.T) {
	ep := stack.Require(t, stack.Postgres, stack.Kafka)
	u, err := url.Parse(ep.DatabaseURL)
	if err != nil {
		t.Fatal(err)
	}
	pg := proctest.NewProxy(t, u.Host)
	u.Host = pg.Addr()
	p := browser(t)
	s := proctest.StartConversations(t, &builds, ep, "webui", nil, []string{"DATABASE_URL=" + u.String()})
	p.open("http://" + s.RPC + "/")
	p.say("I feel sad")
	p.waitLog("reply", 1)
	p.conversation(s)

	pg.Down()
	p.open("http://" + s.RPC + "/") // the reload's watch finds the transcript out of reach
	var seen []string
	for range 40 { // two seconds: the first attempt, and the retries after 0.5 s and 1 s
		state := eval[string](p, `document.getElementById("status").dataset.state`)
		if len(seen) == 0 || seen[len(seen)-1] != state {
			seen = append(seen, state)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if slices.Contains(seen, "online") || seen[len(seen)-1] != "offline" {
		t.Fatalf("with the transcript out of reach the status went %v; want it never online, and offline", seen)
	}
	// The server was reached: the status says what it answered, not that it was out of reach.
	if status := eval[string](p, `document.getElementById("status").textContent`); !strings.Contains(status, "The server cannot follow the conversation right now") {
		t.Fatalf("with the transcript out of reach the status reads %q, want the server's answer", status)
	}
	pg.Up()
	p.waitStatus("online")
	p.say("my mother hates me")
	p.waitLog("reply", 2)
	checkOnce(t, p.entries())
}

// A conversation the server no longer has (expired, or forgotten as here) cannot be resumed:
// the page says so under what it showed, which stays (across a reload too), and the next
// sentence starts a new conversation in the same log.
func TestPage_KeepsItsLogWhenItsConversationIsGone(t *testing.T) {
	p, s, first := chatting(t, stack.Require(t, stack.Postgres, stack.Kafka))
	s.Forget(first)
	s.FrontDoor.Signal(t, syscall.SIGKILL) // the page's watch reopens, and finds it gone
	s.FrontDoor.Wait(t, 10*time.Second)
	s.StartFrontDoor()
	p.waitLog("note", 1)
	kinds := func() []string {
		var out []string
		for _, e := range p.entries() {
			out = append(out, e.Kind)
		}
		return out
	}
	if got, want := kinds(), []string{"enqueued", "reply", "note"}; !slices.Equal(got, want) {
		t.Fatalf("the log shows %v, want %v: what was shown before the note stays", got, want)
	}
	p.open("http://" + s.RPC + "/") // a reload keeps the log, the note too
	if got, want := kinds(), []string{"enqueued", "reply", "note"}; !slices.Equal(got, want) {
		t.Fatalf("after a reload the log shows %v, want %v", got, want)
	}

	p.say("my mother hates me")
	p.waitLog("reply", 2)
	second := p.conversation(s)
	if second == first || second == "" {
		t.Fatalf("the sentence after the note went to conversation %q, want a new one (not %s)", second, first)
	}
	if got, want := kinds(), []string{"enqueued", "reply", "note", "enqueued", "reply"}; !slices.Equal(got, want) {
		t.Fatalf("the log shows %v, want %v: the note between the two conversations", got, want)
	}
	p.open("http://" + s.RPC + "/")
	if got, want := kinds(), []string{"enqueued", "reply", "note", "enqueued", "reply"}; !slices.Equal(got, want) {
		t.Fatalf("after another reload the log shows %v, want %v", got, want)
	}
}

// An empty sentence is not sent (the server would refuse it), nor one of only invisible
// characters (a zero-width space, which JavaScript's trim keeps), and one the server refuses
// for what it says (too long) stays in its field to be mended, the refusal in the log.
func TestPage_KeepsASentenceRefusedForWhatItSaysAndSendsNoEmptyOne(t *testing.T) {
	p := browser(t)
	p.open("http://" + standalone(t) + "/")
	p.say("   ")
	eval[bool](p, `(() => { document.getElementById("sentence").value = "\u200b\u200e "; return true; })()`)
	p.run(chromedp.SendKeys(chromedp.ID("sentence"), kb.Enter))
	long := strings.Repeat("a", 1100)
	eval[bool](p, `(() => { document.getElementById("sentence").value = "`+long+`"; return true; })()`)
	p.run(chromedp.SendKeys(chromedp.ID("sentence"), kb.Enter))
	p.waitLog("refused", 1)
	if es := p.entries(); len(es) != 1 || !strings.Contains(es[0].Text, "1100 bytes long") {
		t.Fatalf("the log shows %+v, want only the long sentence's refusal (the blank one not sent)", es)
	}
	if kept := eval[string](p, `document.getElementById("sentence").value`); kept != long {
		t.Fatalf("the field holds %d bytes after the refusal, want the 1100 of the sentence kept", len(kept))
	}
}

// A sentence sent while the server cannot be reached stays in its field, and the log says the
// server could not be reached (not that it was not sent: a Send whose answer was lost on the
// way back may have been queued). The status line is left to the conversation's watch: before the first
// sentence there is none, and a status saying the server is out of reach would stay so after
// it is back.
func TestPage_ASentenceThatCannotReachTheServerIsKeptAndSaidSo(t *testing.T) {
	p := browser(t)
	proxy := proctest.NewProxy(t, standalone(t))
	p.open("http://" + proxy.Addr() + "/")

	proxy.Down()
	p.say("I feel sad")
	p.waitLog("refused", 1)
	if es := p.entries(); !strings.HasPrefix(es[0].Text, "the server could not be reached") {
		t.Fatalf("the log shows %+v, want that the sentence was not sent", es)
	}
	if kept := eval[string](p, `document.getElementById("sentence").value`); kept != "I feel sad" {
		t.Fatalf("the field holds %q, want the sentence kept", kept)
	}
	if state := eval[string](p, `document.getElementById("status").dataset.state`); state != "idle" {
		t.Errorf("the status is %q with no conversation to watch, want it left idle", state)
	}

	proxy.Up()
	p.run(chromedp.SendKeys(chromedp.ID("sentence"), kb.Enter))
	p.waitLog("reply", 1)
	p.waitStatus("online")
}

// A sentence sent to a conversation that expired while the page's watch had nothing to say is
// refused (NotFound): the page says the conversation cannot be continued, keeps the sentence
// in its field, and sending it again starts a new conversation.
func TestPage_KeepsASentenceSentToAnExpiredConversation(t *testing.T) {
	ep := stack.Require(t, stack.Postgres, stack.Kafka)
	p, s, first := chatting(t, ep)
	// Idle for longer than CONVERSATION_TTL (24h), and not swept yet: the row is held (FOR KEY
	// SHARE, which the sweep's FOR UPDATE SKIP LOCKED passes by and the Send's reads do not
	// wait for), or the sweep of any front door on the stack could take it meanwhile (that
	// case is TestPage_ASentenceToAConversationSweptAwayStartsANewOne's).
	pool := stack.Pool(t, ep.DatabaseURL)
	held, err := pool.Begin(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = held.Rollback(context.Background()) }()
	if _, err := held.Exec(t.Context(), `SELECT FROM transcript.conversation WHERE id = $1 FOR KEY SHARE`, first); err != nil {
		t.Fatal(err)
	}
	if _, err := pool.Exec(t.Context(),
		`UPDATE transcript.conversation SET active_at = now() - interval '48 hours' WHERE id = $1`, first); err != nil {
		t.Fatal(err)
	}

	p.sayToAConversationGone(s, first, 2)
}

// sayToAConversationGone says a sentence to conversation first, which the server no longer
// has: the page says so (a note), keeps the sentence in its field, and sent again (Enter) it
// starts a new conversation, whose answer is the log's replies-th.
func (p *page) sayToAConversationGone(s *proctest.Conversations, first string, replies int) {
	p.t.Helper()
	p.say("my mother hates me")
	p.waitLog("note", 1)
	if kept := eval[string](p, `document.getElementById("sentence").value`); kept != "my mother hates me" {
		p.t.Fatalf("the field holds %q after the refusal, want the sentence kept", kept)
	}
	p.run(chromedp.SendKeys(chromedp.ID("sentence"), kb.Enter))
	p.waitLog("reply", replies)
	if second := p.conversation(s); second == first || second == "" {
		p.t.Fatalf("the sentence sent again went to conversation %q, want a new one (not %s)", second, first)
	}
}

// A conversation swept away after CONVERSATION_TTL and forgotten a TTL later (its row deleted,
// as here), while the page's watch had nothing to say: the page's next sentence names the last
// serial it has seen (afterSerial), so the server does not start the conversation again under
// the same id (it takes any id it does not know) and a job no one will see answered; the
// sentence is refused, kept, and sent again starts a new one. The old conversation's id holds
// nothing afterwards.
func TestPage_ASentenceToAConversationSweptAwayStartsANewOne(t *testing.T) {
	ep := stack.Require(t, stack.Postgres, stack.Kafka)
	p, s, first := chatting(t, ep)
	p.say("and again")
	p.waitLog("reply", 2)
	pool := stack.Pool(t, ep.DatabaseURL)
	if _, err := pool.Exec(t.Context(), `DELETE FROM transcript.conversation WHERE id = $1`, first); err != nil {
		t.Fatal(err)
	}
	p.sayToAConversationGone(s, first, 3)
	shown := p.entries()
	if last := shown[len(shown)-1]; last.Kind != "reply" || last.Serial != "2" {
		t.Fatalf("the log ends with %+v, want the new conversation's reply at serial 2; the log: %+v", last, shown)
	}
	var n int
	if err := pool.QueryRow(t.Context(), `SELECT count(*) FROM transcript.conversation WHERE id = $1`, first).Scan(&n); err != nil || n != 0 {
		t.Fatalf("the swept conversation's id: %d rows (%v), want it not started again", n, err)
	}
}

// A page on another origin uses the service as the Connect ELIZA demo's front end does
// (createConnectTransport / createGrpcWebTransport with baseUrl set to the server), over both
// protocols: an allowed origin reads answers and the server's own error messages, another
// origin is refused by the browser.
func TestPage_FromAnotherOriginCallsSayOverConnectAndGRPCWeb(t *testing.T) {
	p := browser(t)
	allowed := httptest.NewServer(webui.Handler())
	defer allowed.Close()
	other := httptest.NewServer(webui.Handler())
	defer other.Close()
	rpc := standalone(t, "CORS_ALLOWED_ORIGINS="+allowed.URL)

	for _, protocol := range []string{"connect", "grpc-web"} {
		t.Run(protocol, func(t *testing.T) {
			p.open(allowed.URL + "/?server=http://" + rpc + "&protocol=" + protocol)
			if got := p.sayForm("I feel sad"); got.bad || got.text == "" {
				t.Fatalf("Say from an allowed origin: %+v, want an answer", got)
			}
			if got := p.sayForm(""); !got.bad || got.text != "sentence is empty: say something" {
				t.Fatalf("Say of nothing from an allowed origin: %+v, want the server's InvalidArgument message", got)
			}
			p.open(other.URL + "/?server=http://" + rpc + "&protocol=" + protocol)
			if got := p.sayForm("I feel sad"); !got.bad || !strings.Contains(got.text, "cannot reach the server") {
				t.Fatalf("Say from an origin not allowed: %+v, want the browser to refuse it", got)
			}
			// A server given without its scheme is http: it was taken as a path of the page's.
			p.open(allowed.URL + "/?server=" + rpc + "&protocol=" + protocol)
			if got := p.sayForm("I feel sad"); got.bad || got.text == "" {
				t.Fatalf("Say with ?server= host:port alone: %+v, want an answer", got)
			}
		})
	}
}

// The page gives up on a call the server does not answer, as `eliza chat` does: each call
// carries its deadline (a Send 2 minutes, Say 30 s), so that the server ends it too, and past
// it the page says the server did not answer, keeping the sentence. The server here answers at
// once as a front door does when a deadline passes; the page's own timer is connect-web's.
func TestPage_GivesUpOnACallTheServerDoesNotAnswer(t *testing.T) {
	p := browser(t)
	var mu sync.Mutex
	deadlines := map[string]string{}
	mux := http.NewServeMux()
	mux.Handle("/", webui.Handler())
	mux.HandleFunc("POST /connectrpc.eliza.v1.ElizaService/{method}", func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		deadlines[r.PathValue("method")] = r.Header.Get("Connect-Timeout-Ms")
		mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusGatewayTimeout)
		fmt.Fprint(w, `{"code":"deadline_exceeded","message":"the deadline passed"}`)
	})
	srv := httptest.NewServer(mux)
	defer srv.Close()
	p.open(srv.URL + "/")

	p.say("I feel sad")
	p.waitLog("refused", 1)
	if es := p.entries(); es[0].Text != "the server did not answer within 2 minutes; unless it shows as enqueued, send it again" {
		t.Errorf("the log shows %+v, want that the server did not answer", es)
	}
	if kept := eval[string](p, `document.getElementById("sentence").value`); kept != "I feel sad" {
		t.Errorf("the field holds %q, want the sentence kept", kept)
	}
	if got := p.sayForm("I feel sad"); !got.bad || got.text != "the server did not answer within 30 s" {
		t.Errorf("Say shows %+v, want that the server did not answer", got)
	}
	mu.Lock()
	defer mu.Unlock()
	if want := map[string]string{"Send": "120000", "Say": "30000"}; !maps.Equal(deadlines, want) {
		t.Errorf("the calls' Connect-Timeout-Ms: %v, want %v", deadlines, want)
	}
}

// A token saved while a Send is on its way is the page's at once for what belongs to no
// conversation: it says so, and Say carries it; the conversation's calls take it once the
// Send has its answer. A token refused by the form meanwhile stays said so: the switch, when
// it comes, does not write the saved token's state over it.
func TestPage_ATokenSavedWhileASendWaitsIsSaidAndUsedBySayAtOnce(t *testing.T) {
	p := browser(t)
	var mu sync.Mutex
	var sends, says []string // the Authorization of each call
	sendSeen, release := make(chan struct{}, 4), make(chan struct{})
	mux := http.NewServeMux()
	mux.Handle("/", webui.Handler())
	mux.HandleFunc("POST /connectrpc.eliza.v1.ElizaService/Send", func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		sends = append(sends, r.Header.Get("Authorization"))
		mu.Unlock()
		sendSeen <- struct{}{}
		<-release
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusServiceUnavailable)
		fmt.Fprint(w, `{"code":"unavailable","message":"held, then not queued"}`)
	})
	mux.HandleFunc("POST /connectrpc.eliza.v1.ElizaService/Say", func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		says = append(says, r.Header.Get("Authorization"))
		mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, `{"sentence":"answered"}`)
	})
	srv := httptest.NewServer(mux)
	defer srv.Close()
	defer close(release)
	p.open(srv.URL + "/")

	p.say("I feel sad")
	<-sendSeen
	p.say("my mother hates me") // waits behind the first, and goes before the token's switch
	p.saveToken("eliza_new")    // waits until the page says the token is saved
	if got := p.sayForm("hello"); got.text != "answered" {
		t.Fatalf("Say shows %+v, want the server's answer", got)
	}
	p.run(chromedp.SendKeys(chromedp.ID("token"), "eliza_new…"+kb.Enter))
	notSaved := func() bool {
		return strings.HasPrefix(eval[string](p, `document.getElementById("token-state").textContent`), "Not saved")
	}
	kafkatest.Eventually(t, 5*time.Second, notSaved, func() string { return "the form did not refuse the token" })

	// Not queued, the first sentence comes back to its field; the second goes with the token
	// it was sent under. Then the page shows the new token's conversation (none yet), and the
	// sentence sent again goes with the new token.
	release <- struct{}{}
	<-sendSeen
	release <- struct{}{}
	p.waitField("I feel sad")
	p.run(chromedp.SendKeys(chromedp.ID("sentence"), kb.Enter))
	<-sendSeen
	release <- struct{}{}
	p.waitLog("refused", 1)
	if !notSaved() {
		t.Errorf("the token's state says %q, want the form's refusal still", eval[string](p, `document.getElementById("token-state").textContent`))
	}
	mu.Lock()
	defer mu.Unlock()
	if want := []string{"", "", "Bearer eliza_new"}; !slices.Equal(sends, want) {
		t.Errorf("the Sends carried %q, want %q: two sent before the token was saved, the third after", sends, want)
	}
	if want := []string{"Bearer eliza_new"}; !slices.Equal(says, want) {
		t.Errorf("Say carried %q, want %q while the Send waited", says, want)
	}
}

type sayResult struct {
	text string
	bad  bool
}

// sayForm types sentence into the page's Say form, presses Enter and returns what it shows.
func (p *page) sayForm(sentence string) sayResult {
	p.t.Helper()
	eval[string](p, `document.getElementById("say-sentence").value = document.getElementById("say-answer").textContent = ""`)
	p.run(chromedp.SendKeys(chromedp.ID("say-sentence"), sentence+kb.Enter))
	var r sayResult
	kafkatest.Eventually(p.t, 20*time.Second, func() bool {
		r.text = eval[string](p, `document.getElementById("say-answer").textContent`)
		r.bad = eval[bool](p, `document.getElementById("say-answer").classList.contains("bad")`)
		return r.text != "" && r.text != "…"
	}, func() string { return "Say shows no answer" })
	return r
}

// On a phone-width screen the page fits without sideways scrolling, every field has a label,
// and it works from the keyboard alone: Tab reaches the sentence, Enter sends it.
func TestPage_FitsAPhoneAndWorksFromTheKeyboard(t *testing.T) {
	p := browser(t)
	rpc := standalone(t)
	p.run(chromedp.EmulateViewport(360, 740, chromedp.EmulateScale(2)))
	p.open("http://" + rpc + "/")

	unlabelled := eval[[]string](p, `[...document.querySelectorAll("input, button")]
		.filter(el => el.tagName === "INPUT" ? el.labels.length === 0 : el.textContent.trim() === "")
		.map(el => el.id || el.outerHTML)`)
	if len(unlabelled) > 0 {
		t.Fatalf("controls without a label or text: %v", unlabelled)
	}

	p.run(chromedp.KeyEvent(kb.Tab))
	if focused := eval[string](p, `document.activeElement.id`); focused != "sentence" {
		t.Fatalf("the first Tab focuses %q, want the sentence field", focused)
	}
	p.run(chromedp.KeyEvent("I feel sad" + kb.Enter))
	p.waitLog("reply", 1)

	if eval[bool](p, `document.documentElement.scrollWidth > window.innerWidth`) {
		t.Fatal("the page is wider than a 360 px screen")
	}

	p.run(chromedp.SetValue(chromedp.ID("introduce-name"), "Ada"), chromedp.Click(chromedp.CSS(`#introduce-form button`)))
	kafkatest.Eventually(t, 20*time.Second, func() bool {
		return eval[int](p, `document.querySelectorAll("#introduce-answer li").length`) > 1
	}, func() string { return "Introduce shows no introduction" })
}

// Where the server requires a token (AUTH=required), the page says so, and once the token is
// saved in it, sends it with every call: the conversation, and Say from another origin (the
// token's header passes the CORS preflight).
func TestPage_SendsItsTokenWhereTheServerRequiresOne(t *testing.T) {
	p := browser(t)
	ep := stack.Require(t, stack.Postgres, stack.Kafka)
	other := httptest.NewServer(webui.Handler())
	defer other.Close()
	s := proctest.StartConversations(t, &builds, ep, "webui-auth", nil, []string{"AUTH=required", "CORS_ALLOWED_ORIGINS=" + other.URL})
	token := freeToken(t, ep)

	p.open("http://" + s.RPC + "/")
	p.say("I feel sad")
	p.waitLog("refused", 1)
	if es := p.entries(); !strings.Contains(es[0].Text, "needs a token") {
		t.Fatalf("without a token the page shows %+v, want the server's refusal", es)
	}
	// The sentence stays in its field, to be sent again once the token is set.
	if kept := eval[string](p, `document.getElementById("sentence").value`); kept != "I feel sad" {
		t.Fatalf("the field holds %q after the refusal for want of a token, want the sentence kept", kept)
	}
	p.saveToken(token)
	p.run(chromedp.SendKeys(chromedp.ID("sentence"), kb.Enter))
	p.waitLog("reply", 1)
	p.conversation(s)

	p.open(other.URL + "/?server=http://" + s.RPC + "&protocol=grpc-web")
	if got := p.sayForm("I feel sad"); !got.bad || !strings.Contains(got.text, "needs a token") {
		t.Fatalf("Say from another origin without a token: %+v, want the server's refusal", got)
	}
	p.saveToken(token)
	if got := p.sayForm("I feel sad"); got.bad || got.text == "" {
		t.Fatalf("Say from another origin with the token: %+v, want an answer", got)
	}
}

// Each token has a conversation of its own on the page: one started with a token is its
// client's alone, which another caller cannot follow. Saving a token shows that token's
// conversation (none yet), and clearing it shows the anonymous one again, log and all, as does
// saving the token again for its own. Before, the page followed one conversation whatever the
// token, and a conversation started with a token was lost to the page once the token changed.
func TestPage_KeepsAConversationPerToken(t *testing.T) {
	p := browser(t)
	ep := stack.Require(t, stack.Postgres, stack.Kafka)
	s := proctest.StartConversations(t, &builds, ep, "webui-tokens", nil, []string{"AUTH=optional", "ANONYMOUS_TIER=free"})
	token := freeToken(t, ep)
	label := func() string { return eval[string](p, `document.getElementById("conversation").textContent`) }
	shows := func(what, want string, log []entry) {
		t.Helper()
		kafkatest.Eventually(t, 10*time.Second, func() bool {
			return label() == want && slices.Equal(p.entries(), log)
		}, func() string {
			return fmt.Sprintf("%s: the page shows %q with %+v, want %q with %+v", what, label(), p.entries(), want, log)
		})
	}

	p.open("http://" + s.RPC + "/")
	p.say("I feel sad")
	p.waitLog("reply", 1)
	anonymous, anonymousLog := p.conversation(s), p.entries()

	p.saveToken(token)
	shows("with a token saved", "No conversation yet.", nil)
	p.say("my mother hates me")
	p.waitLog("reply", 1)
	owned, ownedLog := p.conversation(s), p.entries()
	if owned == anonymous {
		t.Fatalf("the token's sentence went to the anonymous conversation %s", anonymous)
	}

	p.saveToken("")
	shows("with the token cleared", "Conversation "+anonymous, anonymousLog)
	p.saveToken(token)
	shows("with the token saved again", "Conversation "+owned, ownedLog)
}

// freeToken adds a free client to the stack's database for the test, and returns its token;
// the client and its usage are deleted when the test ends.
func freeToken(t *testing.T, ep stack.Endpoints) string {
	t.Helper()
	_, token, _ := freeClient(t, ep)
	return token
}

// freeClient is freeToken, with the client's id and the store it is in.
func freeClient(t *testing.T, ep stack.Endpoints) (uuid.UUID, string, *access.Store) {
	t.Helper()
	pool := stack.Pool(t, ep.DatabaseURL)
	store := access.NewStore(pool)
	client, token, _, err := store.AddClient(t.Context(), "test "+t.Name(), access.Free, false)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		for _, q := range []string{`DELETE FROM access.usage WHERE client = $1`, `DELETE FROM access.client WHERE id = $1`} {
			_, _ = pool.Exec(context.Background(), q, client.ID)
		}
	})
	return client.ID, token, store
}

// A client disabled while the page follows its conversation is told so (not to set a token:
// its token is fine); once it is enabled again, a sentence that gets through follows the
// conversation again. The watch refused stayed stopped, and the sentence's events never
// showed until a reload.
func TestPage_FollowsItsConversationAgainOnceItsClientIsEnabled(t *testing.T) {
	p := browser(t)
	ep := stack.Require(t, stack.Postgres, stack.Kafka)
	s := proctest.StartConversations(t, &builds, ep, "webui-disabled", nil, []string{"AUTH=required"})
	id, token, store := freeClient(t, ep)
	p.open("http://" + s.RPC + "/")
	p.saveToken(token)
	p.say("I feel sad")
	p.waitLog("reply", 1)
	p.conversation(s)

	if err := store.SetDisabled(t.Context(), id, true); err != nil {
		t.Fatal(err)
	}
	p.waitStatus("offline")
	if status := eval[string](p, `document.getElementById("status").textContent`); !strings.Contains(status, "disabled") ||
		strings.Contains(status, "token") {
		t.Errorf("disabled, the status says %q, want the refusal without advice on tokens", status)
	}
	if err := store.SetDisabled(t.Context(), id, false); err != nil {
		t.Fatal(err)
	}
	p.say("my mother hates me")
	p.waitLog("reply", 2)
	p.waitStatus("online")
	checkOnce(t, p.entries())
}

// A token a header cannot carry (one pasted with a typographic "…") is not saved: the browser
// refused every call with it, and the page blamed the server.
func TestPage_RefusesATokenAHeaderCannotCarry(t *testing.T) {
	p := browser(t)
	p.open("http://" + standalone(t) + "/")
	eval[bool](p, `document.getElementById("token-section").open = true`)
	p.run(chromedp.SendKeys(chromedp.ID("token"), "eliza_abc…"+kb.Enter))
	if state := eval[string](p, `document.getElementById("token-state").textContent`); !strings.HasPrefix(state, "Not saved: a token is letters, digits and punctuation of ASCII") {
		t.Fatalf("the token form says %q, want it not saved", state)
	}
	if n := eval[int](p, `Object.keys(localStorage).filter((k) => k.startsWith("eliza.token:")).length`); n != 0 {
		t.Fatalf("%d tokens kept", n)
	}
	p.say("I feel sad")
	p.waitLog("reply", 1)
}

// Tabs of one browser share what the page keeps (its token, and each token's conversation),
// and each follows what another changes: a tab whose token another cleared went on sending
// with no token to the token's conversation, which lost it ("another client's"), and a tab
// that went on sending to its conversation after another started a new one wrote the old one
// back over it.
func TestPage_TabsFollowTheTokenAndTheConversationAnotherTabChanges(t *testing.T) {
	a := browser(t)
	ep := stack.Require(t, stack.Postgres, stack.Kafka)
	s := proctest.StartConversations(t, &builds, ep, "webui-tabs", nil, []string{"AUTH=optional", "ANONYMOUS_TIER=free"})
	token := freeToken(t, ep)
	url := "http://" + s.RPC + "/"

	a.open(url)
	a.say("I feel sad")
	a.waitLog("reply", 1)
	anonymous := a.conversation(s)
	a.saveToken(token)
	a.say("my mother hates me")
	a.waitLog("reply", 1)
	owned := a.conversation(s)

	b := a.tab()
	b.open(url)
	b.waitShows("Conversation " + owned)
	b.saveToken("")
	b.waitShows("Conversation " + anonymous)
	a.waitShows("Conversation " + anonymous)
	a.say("I dream of trains")
	a.waitLog("reply", 2) // the anonymous conversation's first answer, and this one
	if notes := count(a.entries(), "note"); notes != 0 {
		t.Fatalf("the first tab's log has %d notes, want none: %+v", notes, a.entries())
	}

	eval[bool](b, `(() => { document.getElementById("new-conversation").click(); return true; })()`)
	b.say("and my father")
	b.waitLog("reply", 1)
	started := b.conversation(s)
	a.waitShows("Conversation " + started)
	a.say("I am tired")
	a.waitLog("reply", 2)
	b.run(chromedp.Reload(), ready)
	b.waitShows("Conversation " + started)
	b.waitLog("reply", 2)
	checkOnce(t, b.entries())
}

// What one tab shows and no other does (a refusal, here) is kept after another tab of the
// conversation saves its log: each tab keeps the log whole, and before, the other tab's wrote
// over the refusal, gone after a reload. It is kept where it was shown, between the events.
func TestPage_KeepsWhatAnotherTabOfTheConversationShowed(t *testing.T) {
	a := browser(t)
	url := "http://" + standalone(t) + "/"
	a.open(url)
	a.say("I feel sad")
	a.waitLog("reply", 1)
	b := a.tab()
	b.open(url)
	b.waitShows(a.label())
	b.waitLog("reply", 1)

	eval[bool](a, `(() => { document.getElementById("sentence").value = "a".repeat(1500); return true; })()`)
	a.run(chromedp.Click(chromedp.CSS(`#send-form button`)))
	a.waitLog("refused", 1)
	a.run(chromedp.Navigate("about:blank")) // its log saved last by the other tab
	b.say("my mother hates me")
	b.waitLog("reply", 2)

	b.run(chromedp.Reload(), ready)
	b.waitLog("reply", 2)
	es := b.entries()
	checkOnce(t, es)
	var kinds []string
	for _, e := range es {
		kinds = append(kinds, e.Kind)
	}
	if want := []string{"enqueued", "reply", "refused", "enqueued", "reply"}; !slices.Equal(kinds, want) {
		t.Fatalf("after a reload the log shows %+v, want %v: the other tab's refusal where it was shown", es, want)
	}
}

// A log saved before its entries had ids is shown after a reload, and kept when the page
// saves it again.
func TestPage_ShowsALogSavedBeforeItsEntriesHadIds(t *testing.T) {
	p := browser(t)
	addr := standalone(t)
	p.open("http://" + addr + "/")
	eval[bool](p, fmt.Sprintf(`(() => {
		localStorage.setItem("eliza.conversation:http://%s", JSON.stringify({id: "", serial: "0", entries: [
			{kind: "enqueued", text: "I feel sad", serial: "1"},
			{kind: "note", text: "That conversation cannot be continued."}]}));
		return true; })()`, addr))
	p.run(chromedp.Reload(), ready)
	p.waitLog("note", 1)
	p.say("my mother hates me")
	p.waitLog("reply", 1)
	p.run(chromedp.Reload(), ready)
	p.waitLog("reply", 1)
	var texts []string
	for _, e := range p.entries() {
		texts = append(texts, e.Kind+": "+e.Text)
	}
	if len(texts) != 4 || texts[0] != "enqueued: I feel sad" || texts[1] != "note: That conversation cannot be continued." || texts[2] != "enqueued: my mother hates me" {
		t.Fatalf("after a reload the log shows %q, want the old log and the new conversation after it", texts)
	}
}

// tab opens another tab of p's browser, which shares its storage; it is closed with the
// browser.
func (p *page) tab() *page {
	p.t.Helper()
	ctx, cancel := chromedp.NewContext(p.ctx)
	p.t.Cleanup(cancel)
	if err := chromedp.Do(ctx); err != nil {
		p.t.Fatalf("open a tab: %v", err)
	}
	return &page{t: p.t, ctx: ctx}
}

// waitShows waits until the page names the conversation it shows as label.
func (p *page) waitShows(label string) {
	p.t.Helper()
	p.waitFor(`document.getElementById("conversation").textContent`, label)
}

// waitField waits until the conversation's field holds text.
func (p *page) waitField(text string) {
	p.t.Helper()
	p.waitFor(`document.getElementById("sentence").value`, text)
}

// waitFor waits until a JavaScript expression's value on the page is want.
func (p *page) waitFor(expression, want string) {
	p.t.Helper()
	var got string
	kafkatest.Eventually(p.t, 10*time.Second, func() bool {
		got = eval[string](p, expression)
		return got == want
	}, func() string { return fmt.Sprintf("%s is %q, want %q", expression, got, want) })
}

// saveToken types token into the page's token form and saves it; "" clears the token.
func (p *page) saveToken(token string) {
	p.t.Helper()
	eval[bool](p, `document.getElementById("token-section").open = true`)
	p.run(chromedp.SendKeys(chromedp.ID("token"), token+kb.Enter))
	want := "saved"
	if token == "" {
		want = "anonymous"
	}
	kafkatest.Eventually(p.t, 5*time.Second, func() bool {
		return strings.Contains(eval[string](p, `document.getElementById("token-state").textContent`), want)
	}, func() string { return "the page did not save the token" })
}
