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
	"strings"
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

// firstSendHeld serves the page and the service of the standalone at rpc, but for the page's
// first Send, whose answer never comes: the page is left (reloaded) with it on its way. When
// reached, the Send gets to the server all the same, as one whose answer was lost on the way
// back; else it never gets there. It returns the proxy's address and the first Send's
// conversation id, as the page sent it.
func firstSendHeld(t *testing.T, rpc string, reached bool) (addr string, firstID <-chan string) {
	t.Helper()
	target, err := url.Parse("http://" + rpc)
	if err != nil {
		t.Fatal(err)
	}
	rp := httputil.NewSingleHostReverseProxy(target)
	ids, ended := make(chan string, 1), make(chan struct{})
	var held atomic.Bool
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !strings.HasSuffix(r.URL.Path, "/Send") || held.Swap(true) {
			rp.ServeHTTP(w, r)
			return
		}
		body, _ := io.ReadAll(r.Body)
		if reached {
			req, _ := http.NewRequestWithContext(context.WithoutCancel(r.Context()), r.Method, target.String()+r.URL.Path, bytes.NewReader(body))
			req.Header = r.Header.Clone()
			if res, err := http.DefaultClient.Do(req); err == nil {
				_, _ = io.Copy(io.Discard, res.Body)
				_ = res.Body.Close()
			}
		}
		var sent struct {
			ConversationID string `json:"conversationId"`
		}
		_ = json.Unmarshal(body, &sent)
		ids <- sent.ConversationID
		select {
		case <-r.Context().Done(): // the page has gone
		case <-ended:
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

// A page left (reloaded) while the first Send of a conversation was on its way shows, once
// back, the conversation that Send started: the page chose its id before sending, and kept it.
// Before, the id came with the Send's answer, and a page left before it never found the
// conversation, nor its answers.
func TestPage_ReloadedBeforeItsFirstSendCameBackShowsTheConversationItStarted(t *testing.T) {
	p := browser(t)
	addr, ids := firstSendHeld(t, standalone(t), true)
	p.open("http://" + addr + "/")
	p.say("I feel sad")
	id := receive(t, ids)

	p.open("http://" + addr + "/")
	p.waitLog("reply", 1)
	es := p.entries()
	checkOnce(t, es)
	if es[0].Kind != "enqueued" || es[0].Text != "I feel sad" {
		t.Errorf("the log shows %+v, want the sentence's enqueued first", es)
	}
	if label := eval[string](p, `document.getElementById("conversation").textContent`); label != "Conversation "+id {
		t.Errorf("the page shows %q, want the conversation its first Send started (%s)", label, id)
	}
	if field := eval[string](p, `document.getElementById("sentence").value`); field != "" {
		t.Errorf("the field holds %q: the sentence was queued, and is not to be sent again", field)
	}
}

// A page left before its first Send got to the server at all finds, once back, no such
// conversation: it says so and puts the sentence back in its field, and sending it starts the
// conversation under the id kept.
func TestPage_ReloadedBeforeItsFirstSendGotThereOffersTheSentenceAgain(t *testing.T) {
	p := browser(t)
	addr, ids := firstSendHeld(t, standalone(t), false)
	p.open("http://" + addr + "/")
	p.say("I feel sad")
	id := receive(t, ids)

	p.open("http://" + addr + "/")
	p.waitLog("note", 1)
	if es := p.entries(); len(es) != 1 || !strings.Contains(es[0].Text, "did not reach the server before the page was left") {
		t.Fatalf("the log shows %+v, want a note that the sentence did not get there", es)
	}
	p.waitField("I feel sad")
	p.run(chromedp.SendKeys(chromedp.ID("sentence"), kb.Enter))
	p.waitLog("reply", 1)
	if label := eval[string](p, `document.getElementById("conversation").textContent`); label != "Conversation "+id {
		t.Errorf("the page shows %q, want the conversation started under the id kept (%s)", label, id)
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
// answer neither takes the place of the new one's (Say) nor goes into its list (Introduce).
func TestPage_ASayOrIntroduceSubmittedAgainEndsTheOneBefore(t *testing.T) {
	p := browser(t)
	h := heldIntroductions{left: make(chan string, 2)}
	mux := http.NewServeMux()
	mux.Handle("/", webui.Handler())
	mux.Handle(elizav1connect.NewElizaServiceHandler(h))
	srv := httptest.NewServer(mux)
	defer srv.Close()
	p.open(srv.URL + "/")

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
