package webui_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"connectrpc.com/connect"
	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	elizav1 "github.com/beacon/eventdispatch/internal/gen/connectrpc/eliza/v1"
	"github.com/beacon/eventdispatch/internal/gen/connectrpc/eliza/v1/elizav1connect"
	"github.com/beacon/eventdispatch/internal/kafkatest"
	"github.com/beacon/eventdispatch/internal/webui"
)

// fate is what becomes of the page's first Send, held by firstSendHeld.
type fate int

const (
	answerLost fate = iota // it gets to the server at once; only its answer is lost on the way back
	neverThere             // it never gets to the server
	// It gets to the server once the page has been left and a Watch answered since: the
	// server was still at it when the page came back.
	lateThere
)

// firstSendHeld serves the page and the service of the standalone at rpc, but for the page's
// first Send, whose answer never comes: the page is left (reloaded) with it on its way, and
// what becomes of it is f. Each Watch waits slow before it goes on (a slow server, or a slow
// network). It returns the proxy's address and the first Send's conversation id, as the page
// sent it.
func firstSendHeld(t *testing.T, rpc string, f fate, slow time.Duration) (addr string, firstID <-chan string) {
	t.Helper()
	target, err := url.Parse("http://" + rpc)
	if err != nil {
		t.Fatal(err)
	}
	rp := httputil.NewSingleHostReverseProxy(target)
	ids, ended, watched := make(chan string, 1), make(chan struct{}), make(chan struct{}, 1)
	var held atomic.Bool
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, "/Watch") {
			select {
			case <-time.After(slow):
			case <-r.Context().Done():
				return
			}
			rp.ServeHTTP(w, r)
			select {
			case watched <- struct{}{}:
			default:
			}
			return
		}
		if !strings.HasSuffix(r.URL.Path, "/Send") || held.Swap(true) {
			rp.ServeHTTP(w, r)
			return
		}
		body, _ := io.ReadAll(r.Body)
		forward := func() {
			req, _ := http.NewRequestWithContext(context.WithoutCancel(r.Context()), r.Method, target.String()+r.URL.Path, bytes.NewReader(body))
			req.Header = r.Header.Clone()
			if res, err := http.DefaultClient.Do(req); err == nil {
				_, _ = io.Copy(io.Discard, res.Body)
				_ = res.Body.Close()
			}
		}
		if f == answerLost {
			forward()
		}
		var sent struct {
			ConversationID string `json:"conversationId"`
		}
		_ = json.Unmarshal(body, &sent)
		ids <- sent.ConversationID
		select {
		case <-r.Context().Done(): // the page has gone
		case <-ended:
			return
		}
		if f == lateThere {
			select {
			case <-watched:
				forward()
			case <-ended:
			}
		}
	}))
	t.Cleanup(srv.Close)
	t.Cleanup(func() { close(ended) }) // first: a test that failed before the page left ends
	return srv.Listener.Addr().String(), ids
}

func receive(t *testing.T, ids <-chan string) string {
	t.Helper()
	select {
	case id := <-ids:
		if id == "" {
			t.Fatal("the page's first Send named no conversation: the id is the server's, and a page left before its answer cannot know it")
		}
		return id
	case <-time.After(20 * time.Second):
		t.Fatal("the page sent no Send")
		return ""
	}
}

// rewind ages the conversation being started that the page keeps (one whose first Send is on
// its way) past the Send's timeout of 2 minutes: as if the page were left, and came back,
// that long after the Send went. Until then the Send may yet get there, and the page waits
// for it.
func (p *page) rewind() {
	p.t.Helper()
	n := eval[int](p, `Object.keys(localStorage).filter(k => k.startsWith("eliza.conversation:")).reduce((n, k) => {
		const saved = JSON.parse(localStorage.getItem(k));
		if (saved.starting === undefined) {
			return n;
		}
		saved.starting.startedAt -= 10 * 60_000;
		localStorage.setItem(k, JSON.stringify(saved));
		return n + 1;
	}, 0)`)
	if n != 1 {
		p.t.Fatalf("the page keeps %d conversations being started, want the one whose first Send is on its way", n)
	}
}

// field returns what the conversation's field holds.
func (p *page) field() string {
	p.t.Helper()
	return eval[string](p, `document.getElementById("sentence").value`)
}

// label returns how the page names the conversation it shows.
func (p *page) label() string {
	p.t.Helper()
	return eval[string](p, `document.getElementById("conversation").textContent`)
}

// notes returns the text of the log's notes.
func (p *page) notes() []string {
	p.t.Helper()
	var notes []string
	for _, e := range p.entries() {
		if e.Kind == "note" {
			notes = append(notes, e.Text)
		}
	}
	return notes
}

// A page left (reloaded) while the first Send of a conversation was on its way shows, once
// back, the conversation that Send started: the page chose its id before sending, and kept it.
// Before, the id came with the Send's answer, and a page left before it never found the
// conversation, nor its answers.
func TestPage_ReloadedBeforeItsFirstSendCameBackShowsTheConversationItStarted(t *testing.T) {
	p := browser(t)
	addr, ids := firstSendHeld(t, standalone(t), answerLost, 0)
	p.open("http://" + addr + "/")
	p.say("I feel sad")
	id := receive(t, ids)

	p.open("http://" + addr + "/")
	p.showsTheConversationStarted(t, id, "I feel sad")
}

// A page left before its first Send got to the server at all finds, once back (past the
// Send's timeout), no such conversation: it says so and puts the sentence back in its field,
// once: reloaded again, it neither says so again nor fills the field. Before, every reload
// said so again.
func TestPage_ReloadedBeforeItsFirstSendGotThereOffersTheSentenceAgain(t *testing.T) {
	p := browser(t)
	addr, ids := firstSendHeld(t, standalone(t), neverThere, 0)
	p.open("http://" + addr + "/")
	p.say("I feel sad")
	receive(t, ids)
	p.rewind()

	p.open("http://" + addr + "/")
	p.waitLog("note", 1)
	if notes := p.notes(); len(notes) != 1 || !strings.Contains(notes[0], "did not reach the server before the page was left: it is back in its field") {
		t.Fatalf("the log shows %+v, want a note that the sentence did not get there", p.entries())
	}
	p.waitField("I feel sad")

	p.open("http://" + addr + "/")
	time.Sleep(time.Second) // for the note to be said again, were it to be
	if notes := p.notes(); len(notes) != 1 {
		t.Fatalf("reloaded again, the log shows %d notes, want the one: %+v", len(notes), p.entries())
	}
	if field := p.field(); field != "" {
		t.Errorf("reloaded again, the field holds %q, want it empty: the sentence was offered once", field)
	}
	if label := p.label(); label != "No conversation yet." {
		t.Errorf("reloaded again, the page shows %q, want no conversation", label)
	}
	p.say("I feel sad")
	p.waitLog("reply", 1)
	if notes := p.notes(); len(notes) != 1 {
		t.Errorf("the log shows %d notes, want the one: %+v", len(notes), p.entries())
	}
}

// A server slow to answer the Watch (a reload on a slow network) answers NotFound for the
// conversation whose first Send never got there only after the page took the Watch for
// connected (a second open): that is no sign that the server has the conversation, and the
// page offers the sentence again. Before, it took the conversation for one the server had,
// said it "cannot be continued" and dropped the sentence.
func TestPage_ASlowWatchIsNoSignThatTheServerHasTheConversation(t *testing.T) {
	p := browser(t)
	addr, ids := firstSendHeld(t, standalone(t), neverThere, 2*time.Second)
	p.open("http://" + addr + "/")
	p.say("I feel sad")
	receive(t, ids)
	p.rewind()

	p.open("http://" + addr + "/")
	p.waitLog("note", 1)
	if notes := p.notes(); len(notes) != 1 || !strings.Contains(notes[0], "did not reach the server before the page was left") {
		t.Fatalf("the log shows %+v, want a note that the sentence did not get there", p.entries())
	}
	p.waitField("I feel sad")
}

// A page reloaded while the server was still at its first Send finds no conversation at
// first: the Send may still get there until its timeout, and the page looks again until
// then, and shows the conversation once the Send has started it. Before, the first NotFound
// said the sentence never got there, and the page left the conversation the Send started.
func TestPage_ReloadedWhileItsFirstSendWasStillOnItsWayWaitsForIt(t *testing.T) {
	p := browser(t)
	addr, ids := firstSendHeld(t, standalone(t), lateThere, 0)
	p.open("http://" + addr + "/")
	p.say("I feel sad")
	id := receive(t, ids)

	p.open("http://" + addr + "/")
	p.showsTheConversationStarted(t, id, "I feel sad")
}

// The sentence of a first Send that did not get there is not put over what the field holds
// by then, and the note does not say it is back in the field; sent again, it starts the
// conversation under the id the page kept.
func TestPage_ASentenceThatDidNotGetThereLeavesWhatTheFieldHolds(t *testing.T) {
	p := browser(t)
	addr, ids := firstSendHeld(t, standalone(t), neverThere, 2*time.Second) // time to type
	p.open("http://" + addr + "/")
	p.say("I feel sad")
	id := receive(t, ids)
	p.rewind()

	p.open("http://" + addr + "/")
	p.run(chromedp.SetValue(chromedp.ID("sentence"), "my mother hates me"))
	p.waitLog("note", 1)
	if notes := p.notes(); len(notes) != 1 || !strings.HasSuffix(notes[0], "did not reach the server before the page was left: send it again.") {
		t.Fatalf("the log shows %+v, want a note that the sentence did not get there, to send again", p.entries())
	}
	if field := p.field(); field != "my mother hates me" {
		t.Fatalf("the field holds %q, want what was typed there", field)
	}
	p.run(chromedp.SetValue(chromedp.ID("sentence"), "I feel sad"), chromedp.SendKeys(chromedp.ID("sentence"), kb.Enter))
	p.waitLog("reply", 1)
	if label := p.label(); label != "Conversation "+id {
		t.Errorf("the page shows %q, want the conversation started under the id kept (%s)", label, id)
	}
}

// A first sentence the server refused (too long, here) did not start the conversation, and
// is not on its way: a reload says nothing of it. Before, the page kept it as on its way,
// and a reload said it did not reach the server and put it back in the field.
func TestPage_AFirstSentenceRefusedIsNotOfferedAgainAfterAReload(t *testing.T) {
	p := browser(t)
	p.open("http://" + standalone(t) + "/")
	eval[bool](p, `(() => { document.getElementById("sentence").value = "a".repeat(1500); return true; })()`)
	p.run(chromedp.Click(chromedp.CSS(`#send-form button`)))
	p.waitLog("refused", 1)

	p.run(chromedp.Reload(), ready)
	time.Sleep(time.Second) // for a note to come, were it to
	if notes := p.notes(); len(notes) != 0 {
		t.Fatalf("after the reload the log shows %d notes, the first %.100q, want none", len(notes), notes[0])
	}
	if label := p.label(); label != "No conversation yet." {
		t.Errorf("after the reload the page shows %q, want no conversation", label)
	}
	if field := p.field(); field != "" {
		t.Errorf("after the reload the field holds %d characters, want it empty", len(field))
	}
}

// A first sentence of megabytes on its way is kept without its text: whole, it made every
// save fail, and a page left before the Send came back knew nothing of the conversation. Once
// back, the page says the sentence did not get there, without it.
func TestPage_AHugeFirstSentenceOnItsWayIsKeptWithoutItsText(t *testing.T) {
	p := browser(t)
	addr, ids := firstSendHeld(t, standalone(t), neverThere, 0)
	p.open("http://" + addr + "/")
	eval[bool](p, `(() => { document.getElementById("sentence").value = "a".repeat(6_000_000); return true; })()`)
	p.run(chromedp.Click(chromedp.CSS(`#send-form button`)))
	receive(t, ids)
	stored := eval[int](p, `Object.keys(localStorage).filter(k => k.startsWith("eliza.conversation:")).reduce((n, k) => n + localStorage.getItem(k).length, 0)`)
	if stored > 10_000 {
		t.Errorf("the page keeps %d characters in its storage, want the sentence left out", stored)
	}
	p.rewind()

	p.open("http://" + addr + "/")
	p.waitLog("note", 1)
	if notes := p.notes(); len(notes) != 1 || !strings.HasPrefix(notes[0], "Your sentence did not reach the server before the page was left") {
		t.Fatalf("the log shows %+v, want a note that the sentence did not get there", p.entries())
	}
	if field := p.field(); field != "" {
		t.Errorf("the field holds %d characters, want it empty: the sentence was not kept", len(field))
	}
}

// A page that moved on (New conversation, here) while a Send was on its way to the
// conversation being started, which the server did not have, leaves that conversation alone:
// no note in the new log, and no Watch of no conversation. Before, the NotFound, kept until the
// Send came back, then followed the conversation "" and noted in the new log that it "cannot
// be continued".
func TestPage_ANotFoundForAConversationLeftMeanwhileIsLeftAlone(t *testing.T) {
	p := browser(t)
	target, err := url.Parse("http://" + standalone(t))
	if err != nil {
		t.Fatal(err)
	}
	rp := httputil.NewSingleHostReverseProxy(target)
	var sends atomic.Int32
	var mu sync.Mutex
	var watches []string // the conversation of each Watch
	first, sendSeen, release := make(chan string, 1), make(chan struct{}, 2), make(chan struct{})
	watchSeen, watchGo, watchDone := make(chan struct{}, 4), make(chan struct{}), make(chan struct{}, 4)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case strings.HasSuffix(r.URL.Path, "/Send") && sends.Add(1) == 1: // never gets there
			var sent struct {
				ConversationID string `json:"conversationId"`
			}
			body, _ := io.ReadAll(r.Body)
			_ = json.Unmarshal(body, &sent)
			first <- sent.ConversationID
			<-r.Context().Done()
		case strings.HasSuffix(r.URL.Path, "/Send"): // held, then not queued
			sendSeen <- struct{}{}
			<-release
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusServiceUnavailable)
			_, _ = io.WriteString(w, `{"code":"unavailable","message":"held, then not queued"}`)
		case strings.HasSuffix(r.URL.Path, "/Watch"): // held until watchGo
			body, _ := io.ReadAll(r.Body)
			var watch struct {
				ConversationID string `json:"conversationId"`
			}
			if len(body) > 5 {
				_ = json.Unmarshal(body[5:], &watch) // after the stream's envelope
			}
			mu.Lock()
			watches = append(watches, watch.ConversationID)
			mu.Unlock()
			watchSeen <- struct{}{}
			<-watchGo
			r.Body = io.NopCloser(bytes.NewReader(body))
			rp.ServeHTTP(w, r)
			watchDone <- struct{}{}
		default:
			rp.ServeHTTP(w, r)
		}
	}))
	defer srv.Close()
	defer close(release)
	wait := func(c <-chan struct{}, what string) {
		t.Helper()
		select {
		case <-c:
		case <-time.After(20 * time.Second):
			t.Fatal(what)
		}
	}

	p.open(srv.URL + "/")
	p.say("I feel sad")
	id := receive(t, first)
	p.rewind()
	p.open(srv.URL + "/") // follows the conversation being started
	wait(watchSeen, "the page did not watch the conversation being started")
	p.say("my mother hates me") // to it: the NotFound waits for its answer
	wait(sendSeen, "the page did not send its second sentence")
	close(watchGo)
	wait(watchDone, "the Watch did not end")
	time.Sleep(300 * time.Millisecond) // for the page to take the NotFound
	eval[bool](p, `(() => { document.getElementById("new-conversation").click(); return true; })()`)
	release <- struct{}{}
	p.waitLog("refused", 1)
	time.Sleep(time.Second) // for a Watch and a note to come, were they to

	mu.Lock()
	defer mu.Unlock()
	if len(watches) == 0 || slices.ContainsFunc(watches, func(w string) bool { return w != id }) {
		t.Errorf("the page watched %q, want only the conversation being started (%s)", watches, id)
	}
	if notes := p.notes(); len(notes) != 0 {
		t.Errorf("the new conversation's log shows %+v, want no note", p.entries())
	}
	if label := p.label(); label != "No conversation yet." {
		t.Errorf("the page shows %q, want no conversation", label)
	}
}

// heldIntroductions answers Introduce and Say for names and sentences but "held", which it
// answers only once its caller has gone, and then notes that it went.
type heldIntroductions struct {
	elizav1connect.UnimplementedElizaServiceHandler
	left chan string
}

func (h heldIntroductions) hold(ctx context.Context, what string) bool {
	if !strings.HasPrefix(what, "held") {
		return false
	}
	select {
	case <-ctx.Done():
		h.left <- what
	case <-time.After(20 * time.Second):
	}
	return true
}

func (h heldIntroductions) Introduce(ctx context.Context, req *connect.Request[elizav1.IntroduceRequest], stream *connect.ServerStream[elizav1.IntroduceResponse]) error {
	if h.hold(ctx, req.Msg.GetName()) {
		_ = stream.Send(&elizav1.IntroduceResponse{Sentence: "late, for " + req.Msg.GetName()})
		return nil
	}
	for _, s := range []string{"Hello, " + req.Msg.GetName(), "How are you?"} {
		if err := stream.Send(&elizav1.IntroduceResponse{Sentence: s}); err != nil {
			return err
		}
	}
	return nil
}

func (h heldIntroductions) Say(ctx context.Context, req *connect.Request[elizav1.SayRequest]) (*connect.Response[elizav1.SayResponse], error) {
	if h.hold(ctx, req.Msg.GetSentence()) {
		return connect.NewResponse(&elizav1.SayResponse{Sentence: "late, to " + req.Msg.GetSentence()}), nil
	}
	return connect.NewResponse(&elizav1.SayResponse{Sentence: "answer to " + req.Msg.GetSentence()}), nil
}

// Say and Introduce submitted again while their call before is on its way end it: its late
// answer neither takes the place of the new one's (Say) nor goes into its list (Introduce),
// and the error of the call ended is never shown, not even for a moment.
func TestPage_ASayOrIntroduceSubmittedAgainEndsTheOneBefore(t *testing.T) {
	p := browser(t)
	h := heldIntroductions{left: make(chan string, 2)}
	mux := http.NewServeMux()
	mux.Handle("/", webui.Handler())
	mux.Handle(elizav1connect.NewElizaServiceHandler(h))
	srv := httptest.NewServer(mux)
	defer srv.Close()
	p.open(srv.URL + "/")
	// Every text the answers are given, and every class, as each change comes: one shown
	// and replaced at once leaves no trace in what they show at the end.
	eval[bool](p, `(() => {
		window.shown = [];
		const seen = (records) => {
			for (const r of records) {
				if (r.type === "attributes") {
					window.shown.push(r.target.id + " class " + r.target.className);
				}
				for (const n of r.addedNodes) {
					window.shown.push(r.target.id + " " + n.textContent);
				}
			}
		};
		for (const id of ["say-answer", "introduce-answer"]) {
			new MutationObserver(seen).observe(document.getElementById(id), { childList: true, characterData: true, subtree: true, attributes: true });
		}
		return true;
	})()`)

	form := func(field, text, button string) {
		p.run(chromedp.SetValue(chromedp.ID(field), text), chromedp.Click(chromedp.CSS(button)))
	}
	form("introduce-name", "held Ann", `#introduce-form button`)
	form("introduce-name", "Bea", `#introduce-form button`)
	form("say-sentence", "held one", `#say-form button`)
	form("say-sentence", "two", `#say-form button`)
	for range 2 {
		select {
		case what := <-h.left:
			t.Logf("%q ended by the page", what)
		case <-time.After(10 * time.Second):
			t.Fatal("a call submitted again was not ended by the page")
		}
	}
	kafkatest.Eventually(t, 5*time.Second, func() bool {
		return eval[string](p, `document.getElementById("say-answer").textContent`) == "answer to two"
	}, func() string {
		return "Say shows " + eval[string](p, `document.getElementById("say-answer").textContent`)
	})
	time.Sleep(200 * time.Millisecond) // for anything late to be shown, were it to be
	if got := eval[[]string](p, `[...document.querySelectorAll("#introduce-answer li")].map(li => li.textContent)`); strings.Join(got, "|") != "Hello, Bea|How are you?" {
		t.Errorf("Introduce shows %q, want Bea's introduction alone", got)
	}
	if got := eval[string](p, `document.getElementById("say-answer").textContent`); got != "answer to two" {
		t.Errorf("Say shows %q, want the second's answer", got)
	}
	for _, s := range eval[[]string](p, `window.shown`) {
		switch s {
		case "introduce-answer Hello, Bea", "introduce-answer How are you?", "say-answer …", "say-answer answer to two",
			"say-answer class answer", "introduce-answer class answer":
		default:
			t.Errorf("the page showed %q: not the answer to a call, nor its wait", s)
		}
	}
}

// Send clicked leaves the focus in the field, as Enter does: what is typed next goes there,
// and a space does not press Send again. A sentence pasted whole, megabytes long, is refused
// and kept in the field, and the log keeps only its start: whole, a few filled the browser's
// storage, after which the log was kept no more.
func TestPage_SendClickedKeepsTypingInTheFieldAndTheLogKeepsNoHugeSentence(t *testing.T) {
	p := browser(t)
	p.open("http://" + standalone(t) + "/")
	p.run(chromedp.SetValue(chromedp.ID("sentence"), "I feel sad"), chromedp.Click(chromedp.CSS(`#send-form button`)))
	p.waitLog("reply", 1)
	if focused := eval[string](p, `document.activeElement.id`); focused != "sentence" {
		t.Errorf("after a click on Send the focus is on %q, want the sentence field", focused)
	}

	huge := `"a".repeat(60000)`
	eval[bool](p, `(() => { document.getElementById("sentence").value = `+huge+`; return true; })()`)
	p.run(chromedp.Click(chromedp.CSS(`#send-form button`)))
	p.waitLog("refused", 1)
	if kept := eval[int](p, `document.getElementById("sentence").value.length`); kept != 60000 {
		t.Errorf("the field holds %d characters after the refusal, want the 60000 kept", kept)
	}
	stored := eval[int](p, `Object.keys(localStorage).filter(k => k.startsWith("eliza.conversation:")).reduce((n, k) => n + localStorage.getItem(k).length, 0)`)
	if stored > 10_000 {
		t.Errorf("the page keeps %d characters in its storage, want the refused sentence clipped", stored)
	}
}

// showsTheConversationStarted checks, once its reply has come, that the page reloaded follows
// the conversation id that its first Send of sentence started: the sentence's enqueued first,
// each event once, no note, and the field empty (the sentence was queued, not to be sent again).
func (p *page) showsTheConversationStarted(t *testing.T, id, sentence string) {
	t.Helper()
	p.waitLog("reply", 1)
	es := p.entries()
	checkOnce(t, es)
	if es[0].Kind != "enqueued" || es[0].Text != sentence || count(es, "note") != 0 {
		t.Errorf("the log shows %+v, want the sentence's enqueued first, and no note", es)
	}
	if label := p.label(); label != "Conversation "+id {
		t.Errorf("the page shows %q, want the conversation its first Send started (%s)", label, id)
	}
	if field := p.field(); field != "" {
		t.Errorf("the field holds %q: the sentence was queued, and is not to be sent again", field)
	}
}
