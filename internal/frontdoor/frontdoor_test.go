package frontdoor_test

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect"
	"connectrpc.com/grpchealth"
	"connectrpc.com/grpcreflect"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/beacon/eventdispatch/internal/eliza"
	"github.com/beacon/eventdispatch/internal/frontdoor"
	elizav1 "github.com/beacon/eventdispatch/internal/gen/connectrpc/eliza/v1"
	"github.com/beacon/eventdispatch/internal/gen/connectrpc/eliza/v1/elizav1connect"
	"github.com/beacon/eventdispatch/internal/kafkatest"
	"github.com/beacon/eventdispatch/internal/proctest"
)

const seed = 42

type harness struct {
	server  *http.Server
	url     string
	h2c     *http.Client // HTTP/2 without TLS, as gRPC clients use
	http1   *http.Client
	metrics *prometheus.Registry
}

// postRaw posts body as contentType to the procedure's path over HTTP/2, as a client that
// writes its requests by hand does, with headers (name, value, …) besides, and reads the
// answer to its end.
func (h *harness) postRaw(t *testing.T, procedure, contentType, body string, headers ...string) {
	t.Helper()
	h.post(t, h.h2c, procedure, contentType, body, headers...)
}

// post is postRaw through client (h.http1 or h.h2c), returning the response, whose body it
// has read to its end (and closed), and that body.
func (h *harness) post(t *testing.T, client *http.Client, procedure, contentType, body string, headers ...string) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx(t), http.MethodPost, h.url+procedure, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", contentType)
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	res, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(res.Body)
	_ = res.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	return res, got
}

// requestsCounted compares frontdoor_rpc_requests_total in reg with series, its lines in the
// text format without their HELP and TYPE, and returns the difference (nil when none).
func requestsCounted(reg prometheus.Gatherer, series string) error {
	got, err := callsCounted(reg)
	if err != nil {
		return err
	}
	var want []string
	for line := range strings.Lines(strings.TrimSpace(series)) {
		want = append(want, strings.TrimSpace(line))
	}
	slices.Sort(want)
	if !slices.Equal(got, want) {
		return fmt.Errorf("frontdoor_rpc_requests_total counted\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	return nil
}

// callsCounted returns the series of frontdoor_rpc_requests_total above zero, sorted, in the
// text format's lines (the calls' codes at zero are there from the start).
func callsCounted(reg prometheus.Gatherer) ([]string, error) {
	families, err := reg.Gather()
	if err != nil {
		return nil, err
	}
	var got []string
	for _, f := range families {
		if f.GetName() != "frontdoor_rpc_requests_total" {
			continue
		}
		for _, m := range f.GetMetric() {
			if m.GetCounter().GetValue() == 0 {
				continue
			}
			labels := map[string]string{}
			for _, l := range m.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			got = append(got, fmt.Sprintf("frontdoor_rpc_requests_total{code=%q,procedure=%q} %v", labels["code"], labels["procedure"], m.GetCounter().GetValue()))
		}
	}
	slices.Sort(got)
	return got, nil
}

func start(t *testing.T) *harness {
	t.Helper()
	return startService(t, frontdoor.NewService(func() frontdoor.Responder { return eliza.New(seed) }))
}

// startService serves service as the front door does, on a local port, with the options
// changed by each of with.
func startService(t *testing.T, service *frontdoor.Service, with ...func(*frontdoor.Options)) *harness {
	t.Helper()
	reg := prometheus.NewRegistry()
	opts := frontdoor.Options{
		Service: service,
		Health:  grpchealth.NewStaticChecker(elizav1connect.ElizaServiceName),
		Metrics: frontdoor.NewMetrics(reg),
		Log:     slog.New(slog.DiscardHandler),
	}
	for _, w := range with {
		w(&opts)
	}
	handler := frontdoor.NewHandler(opts)
	srv := httptest.NewUnstartedServer(handler)
	srv.Config = frontdoor.NewServer("", handler)
	srv.Listener = frontdoor.CutStuckConns(srv.Listener, opts.Drain, cmp.Or(opts.StuckWriteWait, frontdoor.StuckWriteWait), opts.Log)
	srv.Start()
	t.Cleanup(srv.Close)

	var h2c http.Protocols
	h2c.SetUnencryptedHTTP2(true)
	return &harness{
		server:  srv.Config,
		url:     srv.URL,
		h2c:     &http.Client{Transport: &http.Transport{Protocols: &h2c}},
		http1:   &http.Client{},
		metrics: reg,
	}
}

func ctx(t *testing.T) context.Context {
	t.Helper()
	c, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	t.Cleanup(cancel)
	return c
}

func TestSay_AnswersPlainJSONOverHTTP1(t *testing.T) {
	h := start(t)
	res, body := h.post(t, h.http1, elizav1connect.ElizaServiceSayProcedure, "application/json", `{"sentence": "I feel happy."}`)
	if res.StatusCode != http.StatusOK || res.ProtoMajor != 1 {
		t.Fatalf("got %s over HTTP/%d: %s", res.Status, res.ProtoMajor, body)
	}
	if !strings.HasPrefix(string(body), `{"sentence":"`) || len(body) < len(`{"sentence":"x"}`) {
		t.Fatalf("want a non-empty sentence, got %s", body)
	}
}

func TestSay_AnswersHTTPGet(t *testing.T) {
	h := start(t)
	q := url.Values{"connect": {"v1"}, "encoding": {"json"}, "message": {`{"sentence":"I feel happy."}`}}
	res, err := h.http1.Get(h.url + "/connectrpc.eliza.v1.ElizaService/Say?" + q.Encode())
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	if res.StatusCode != http.StatusOK || !strings.Contains(string(body), `"sentence":"`) {
		t.Fatalf("got %s: %s", res.Status, body)
	}

	client := elizav1connect.NewElizaServiceClient(h.http1, h.url, connect.WithHTTPGet())
	reply, err := client.Say(ctx(t), connect.NewRequest(&elizav1.SayRequest{Sentence: "I feel happy."}))
	if err != nil || reply.Msg.GetSentence() == "" {
		t.Fatalf("Say via the Connect client's GET: %v %q", err, reply.Msg.GetSentence())
	}
}

// A GET whose message says it is base64 and is not is the client's error: InvalidArgument,
// HTTP 400, as a body that cannot be read is. connect answered it with unknown, HTTP 500.
func TestSay_AnHTTPGetWhoseMessageIsNotBase64IsInvalid(t *testing.T) {
	h := start(t)
	for _, msg := range []string{"!!!", "aGk=x"} {
		q := url.Values{"connect": {"v1"}, "encoding": {"proto"}, "base64": {"1"}, "message": {msg}}
		res, err := h.http1.Get(h.url + elizav1connect.ElizaServiceSayProcedure + "?" + q.Encode())
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(res.Body)
		_ = res.Body.Close()
		if res.StatusCode != http.StatusBadRequest || !strings.Contains(string(body), `"code":"invalid_argument"`) {
			t.Errorf("message %q: got %s: %s, want 400 and invalid_argument", msg, res.Status, body)
		}
	}
}

func TestConverse_OverGRPCAnswersInTurnAndEndsAfterGoodbye(t *testing.T) {
	h := start(t)
	client := elizav1connect.NewElizaServiceClient(h.h2c, h.url, connect.WithGRPC())
	stream := client.Converse(ctx(t))
	want := eliza.New(seed) // the stream's engine, replayed: same seed, same sentences

	for i, sentence := range []string{"test", "test", "bye"} {
		if err := stream.Send(&elizav1.ConverseRequest{Sentence: sentence}); err != nil {
			t.Fatalf("send %d: %v", i, err)
		}
		res, err := stream.Receive()
		if err != nil {
			t.Fatalf("receive %d: %v", i, err)
		}
		wantReply, end := want.Reply(sentence)
		if res.GetSentence() != wantReply {
			t.Errorf("reply %d = %q, want %q", i, res.GetSentence(), wantReply)
		}
		if end != (sentence == "bye") {
			t.Errorf("engine says end=%v after %q", end, sentence)
		}
	}
	// The server ends the stream after the goodbye without the client closing its side.
	if _, err := stream.Receive(); !errors.Is(err, io.EOF) {
		t.Fatalf("after goodbye: want the stream to end cleanly, got %v", err)
	}
	if err := stream.CloseResponse(); err != nil {
		t.Fatalf("close: %v", err)
	}
}

func TestConverse_StreamsDoNotShareConversationState(t *testing.T) {
	h := start(t)
	client := elizav1connect.NewElizaServiceClient(h.h2c, h.url, connect.WithGRPC())
	other, mine := client.Converse(ctx(t)), client.Converse(ctx(t))
	defer other.CloseResponse() //nolint:errcheck // the test is over; nothing to report
	defer mine.CloseResponse()  //nolint:errcheck
	want := eliza.New(seed)     // what a conversation of its own answers

	for i, sentence := range []string{"my dog is sick", "I remember my mother", "hmm", "why?", "nothing"} {
		// Someone else talks in between; it must not change what this stream hears.
		if err := other.Send(&elizav1.ConverseRequest{Sentence: "my brother took my job"}); err != nil {
			t.Fatal(err)
		}
		if _, err := other.Receive(); err != nil {
			t.Fatal(err)
		}
		if err := mine.Send(&elizav1.ConverseRequest{Sentence: sentence}); err != nil {
			t.Fatal(err)
		}
		res, err := mine.Receive()
		if err != nil {
			t.Fatal(err)
		}
		if wantReply, _ := want.Reply(sentence); res.GetSentence() != wantReply {
			t.Fatalf("reply %d = %q, want %q: conversations leak into each other", i, res.GetSentence(), wantReply)
		}
	}
}

func TestConverse_EndsCleanlyWhenClientHalfCloses(t *testing.T) {
	h := start(t)
	client := elizav1connect.NewElizaServiceClient(h.h2c, h.url, connect.WithGRPC())
	stream := client.Converse(ctx(t))
	if err := stream.Send(&elizav1.ConverseRequest{Sentence: "hello there"}); err != nil {
		t.Fatal(err)
	}
	if err := stream.CloseRequest(); err != nil {
		t.Fatal(err)
	}
	if res, err := stream.Receive(); err != nil || res.GetSentence() == "" {
		t.Fatalf("want a reply, got %q %v", res.GetSentence(), err)
	}
	if _, err := stream.Receive(); !errors.Is(err, io.EOF) {
		t.Fatalf("want a clean end, got %v", err)
	}
}

func TestIntroduce_StreamsSeveralSentences(t *testing.T) {
	h := start(t)
	for _, protocol := range []connect.ClientOption{connect.WithGRPC(), connect.WithGRPCWeb(), connect.WithProtoJSON()} {
		client := elizav1connect.NewElizaServiceClient(h.h2c, h.url, protocol)
		stream, err := client.Introduce(ctx(t), connect.NewRequest(&elizav1.IntroduceRequest{Name: "Ada"}))
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for stream.Receive() {
			got = append(got, stream.Msg().GetSentence())
		}
		if err := stream.Err(); err != nil {
			t.Fatal(err)
		}
		if len(got) < 2 || !strings.Contains(strings.Join(got, " "), "Ada") {
			t.Fatalf("want several sentences addressed to Ada, got %q", got)
		}
	}
}

func TestReflection_ListsElizaService(t *testing.T) {
	h := start(t)
	stream := grpcreflect.NewClient(h.h2c, h.url).NewStream(ctx(t))
	defer stream.Close()
	names, err := stream.ListServices()
	if err != nil {
		t.Fatal(err)
	}
	var found bool
	for _, n := range names {
		found = found || string(n) == elizav1connect.ElizaServiceName
	}
	if !found {
		t.Fatalf("reflection lists %v, want %s among them", names, elizav1connect.ElizaServiceName)
	}
	files, err := stream.FileContainingSymbol(elizav1connect.ElizaServiceName)
	if err != nil || len(files) == 0 {
		t.Fatalf("reflection cannot describe the service: %v", err)
	}
}

// grpcurl holds a reflection stream open for the whole of its call: a draining server ends it
// rather than wait out its grace.
func TestReflection_AStreamHeldOpenEndsWhenTheServerDrains(t *testing.T) {
	drain := make(chan struct{})
	h := startService(t, frontdoor.NewService(func() frontdoor.Responder { return eliza.New(seed) }), func(o *frontdoor.Options) {
		o.Drain, o.ReflectionLinger = drain, 50*time.Millisecond
	})
	stream := grpcreflect.NewClient(h.h2c, h.url, connect.WithGRPC()).NewStream(ctx(t))
	defer stream.Close()
	if _, err := stream.ListServices(); err != nil {
		t.Fatal(err)
	}
	close(drain)
	// A request already on its way when the drain began may still be answered; the stream
	// ends at the next.
	kafkatest.Eventually(t, 5*time.Second, func() bool { _, err := stream.ListServices(); return err != nil },
		func() string { return "the reflection stream still answers after the server began to drain" })
}

// grpcurl looks up the types of an error's details (the drain's ErrorInfo) on its reflection
// stream once its call has ended: a draining server keeps the reflection streams until every
// other call has ended, and for a while after.
func TestReflection_AStreamOutlastsTheCallsOfADrain(t *testing.T) {
	const linger = 500 * time.Millisecond
	drain := make(chan struct{})
	h := startService(t, frontdoor.NewService(func() frontdoor.Responder { return eliza.New(seed) }), func(o *frontdoor.Options) {
		o.Drain, o.ReflectionLinger = drain, linger
	})
	stream := grpcreflect.NewClient(h.h2c, h.url, connect.WithGRPC()).NewStream(ctx(t))
	defer stream.Close()
	// A Converse is left to finish within the grace: the drain does not end it.
	conversation := elizav1connect.NewElizaServiceClient(h.h2c, h.url, connect.WithGRPC()).Converse(ctx(t))
	if err := conversation.Send(&elizav1.ConverseRequest{Sentence: "hello"}); err != nil {
		t.Fatal(err)
	}
	if _, err := conversation.Receive(); err != nil {
		t.Fatal(err)
	}

	close(drain)
	time.Sleep(2 * linger)
	if _, err := stream.ListServices(); err != nil {
		t.Fatalf("the reflection stream ended while a call was still open: %v", err)
	}
	if err := conversation.CloseRequest(); err != nil {
		t.Fatal(err)
	}
	if _, err := conversation.Receive(); !errors.Is(err, io.EOF) {
		t.Fatalf("the Converse ended with %v, want its end", err)
	}
	time.Sleep(linger / 4) // grpcurl asks once it has printed the call's end
	if _, err := stream.FileContainingSymbol("google.rpc.ErrorInfo"); err != nil {
		t.Fatalf("the reflection stream ended with the last call: %v", err)
	}
	kafkatest.Eventually(t, 5*time.Second, func() bool { _, err := stream.ListServices(); return err != nil },
		func() string { return "the reflection stream still answers once every call has ended" })
}

// httpVersions are the harness's clients over each version of HTTP.
var httpVersions = []struct {
	name   string
	client func(h *harness) *http.Client
}{
	{"HTTP/1.1", func(h *harness) *http.Client { return h.http1 }},
	{"HTTP/2", func(h *harness) *http.Client { return h.h2c }},
}

// slowSay starts a Say in JSON through client whose body is what the test writes to sending,
// with headers (name, value, …; a Content-Type replaces JSON's) besides; answered gets its
// response (nil, the test failed, when none came).
func slowSay(t *testing.T, client *http.Client, url string, headers ...string) (sending *io.PipeWriter, answered <-chan *http.Response) {
	t.Helper()
	body, sending := io.Pipe()
	t.Cleanup(func() { _ = sending.Close() })
	req, err := http.NewRequestWithContext(ctx(t), http.MethodPost, url+elizav1connect.ElizaServiceSayProcedure, body)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	res := make(chan *http.Response, 1)
	go func() {
		r, err := client.Do(req)
		if err != nil {
			t.Errorf("the slow Say: %v, want an answer", err)
		}
		res <- r
	}()
	return sending, res
}

// A request whose body has not all come soon after the server began to drain is given up as
// Unavailable, the code on which clients send a call again elsewhere, over HTTP/1.1 and
// HTTP/2 alike: it was deadline_exceeded (a client that retries only on Unavailable gave
// up), with a message naming the server's socket addresses.
func TestDrain_ASaySentTooSlowlyIsUnavailable(t *testing.T) {
	const wait = 100 * time.Millisecond
	for _, tc := range httpVersions {
		t.Run(tc.name, func(t *testing.T) {
			drain := make(chan struct{})
			var logged proctest.Buffer
			h := startService(t, frontdoor.NewService(func() frontdoor.Responder { return eliza.New(seed) }), func(o *frontdoor.Options) {
				o.Drain, o.StuckWriteWait = drain, wait
				o.Log = slog.New(slog.NewTextHandler(&logged, nil))
			})
			sending, answered := slowSay(t, tc.client(h), h.url)
			if _, err := io.WriteString(sending, `{"sentence": "I feel`); err != nil { // and no more, for now
				t.Fatal(err)
			}
			close(drain)
			var res *http.Response
			select {
			case res = <-answered:
			case <-time.After(5 * time.Second):
				t.Fatalf("a Say whose body has not all come was still unanswered 5s after the drain, want it given up after %v", wait)
			}
			if res == nil {
				return
			}
			defer res.Body.Close()
			got, _ := io.ReadAll(res.Body)
			if res.StatusCode != http.StatusServiceUnavailable || !strings.Contains(string(got), `"code":"unavailable"`) ||
				!strings.Contains(string(got), "shutting down") {
				t.Fatalf("a Say whose body had not all come: %s %s, want 503 unavailable saying the server is shutting down", res.Status, got)
			}
			// Its call failed before the interceptors ran: it is counted and logged all the same,
			// as the drain's doing, not a fault.
			kafkatest.Eventually(t, 2*time.Second, func() bool {
				return strings.Contains(logged.String(), "level=INFO msg=rpc procedure="+elizav1connect.ElizaServiceSayProcedure+" code=unavailable")
			}, func() string {
				return fmt.Sprintf("logged %q, want the Say's call logged as unavailable, at info", logged.String())
			})
			want := `
frontdoor_rpc_requests_total{code="unavailable",procedure="/connectrpc.eliza.v1.ElizaService/Say"} 1
`
			if err := requestsCounted(h.metrics, want); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// A request whose body has not all come within BodyWait of its start is given up, drain or
// not, over HTTP/1.1 and HTTP/2 alike: a client sending a byte a minute, or its message
// without ending its request, held the call for as long as it liked.
func TestSay_ABodyThatDoesNotAllComeInTimeIsGivenUp(t *testing.T) {
	const bodyWait = 200 * time.Millisecond
	for _, tc := range httpVersions {
		t.Run(tc.name, func(t *testing.T) {
			h := startService(t, frontdoor.NewService(func() frontdoor.Responder { return eliza.New(seed) }), func(o *frontdoor.Options) {
				o.Drain, o.BodyWait = make(chan struct{}), bodyWait
			})
			began := time.Now()
			sending, answered := slowSay(t, tc.client(h), h.url)
			// A byte well within each wait, but not the whole body within all of it.
			for _, b := range `{"sentence": "I feel` {
				if _, err := io.WriteString(sending, string(b)); err != nil {
					break
				}
				time.Sleep(bodyWait / 8)
			}
			var res *http.Response
			select {
			case res = <-answered:
			case <-time.After(5 * time.Second):
				t.Fatalf("a Say whose body has not all come was still unanswered after %v, want it given up after %v", time.Since(began), bodyWait)
			}
			if res == nil {
				return
			}
			defer res.Body.Close()
			got, _ := io.ReadAll(res.Body)
			if !strings.Contains(string(got), `"code":"deadline_exceeded"`) || !strings.Contains(string(got), "had not all come in time") {
				t.Fatalf("a Say whose body had not all come: %s %s, want deadline_exceeded saying so", res.Status, got)
			}
			// Counted as what its client was told, also over HTTP/1.1, where the read given up
			// ends the call's context, which otherwise reads as the caller gone (canceled).
			want := `
frontdoor_rpc_requests_total{code="deadline_exceeded",procedure="/connectrpc.eliza.v1.ElizaService/Say"} 1
`
			kafkatest.Eventually(t, 2*time.Second, func() bool {
				return requestsCounted(h.metrics, want) == nil
			}, func() string {
				err := requestsCounted(h.metrics, want)
				return fmt.Sprintf("the Say given up is not counted as deadline_exceeded: %v", err)
			})
		})
	}
}

func TestHealth_ReportsServing(t *testing.T) {
	h := start(t)
	client := grpchealth.NewClient(h.h2c, h.url, connect.WithGRPC())
	for _, service := range []string{"", elizav1connect.ElizaServiceName} {
		res, err := client.Check(ctx(t), &grpchealth.CheckRequest{Service: service})
		if err != nil {
			t.Fatal(err)
		}
		if res.Status != grpchealth.StatusServing {
			t.Errorf("service %q: status %v, want SERVING", service, res.Status)
		}
	}
}

func TestBadInput_GetsInvalidArgument(t *testing.T) {
	h := start(t)
	oversized := strings.Repeat("a", frontdoor.MaxSentenceBytes+1)
	protocols := map[string]connect.ClientOption{"connect": connect.WithProtoJSON(), "grpc": connect.WithGRPC(), "grpc-web": connect.WithGRPCWeb()}
	for name, protocol := range protocols {
		client := elizav1connect.NewElizaServiceClient(h.h2c, h.url, protocol)
		for _, sentence := range []string{"", "   ", oversized, "bad\x00x", "\u200b\a", "\ufeff\u00a0\u200e"} {
			_, err := client.Say(ctx(t), connect.NewRequest(&elizav1.SayRequest{Sentence: sentence}))
			if connect.CodeOf(err) != connect.CodeInvalidArgument {
				t.Errorf("%s: Say(%.10q...) = %v, want InvalidArgument", name, sentence, err)
			}
		}
		stream := client.Converse(ctx(t))
		_ = stream.Send(&elizav1.ConverseRequest{Sentence: ""})
		if _, err := stream.Receive(); connect.CodeOf(err) != connect.CodeInvalidArgument {
			t.Errorf("%s: Converse with an empty sentence = %v, want InvalidArgument", name, err)
		}
	}
}

// A JSON field the message does not have is refused, naming it: dropped, a misspelt
// "conversationID" would start a new conversation. Half of a surrogate pair is said to be
// that: protojson's own error was "proto: unexpected EOF". Both over POST and GET.
func TestBadJSON_IsRefusedSayingWhy(t *testing.T) {
	h := start(t)
	for body, want := range map[string]string{
		`{"sentense": "I feel happy."}`:                       `unknown field \"sentense\"`,
		`{"sentence": "I feel \ud83d happy."}`:                "the JSON text's escape at byte 21 is half of a UTF-16 surrogate pair",
		`{"sentence": "I feel happy.", "conversationID": ""}`: `unknown field \"conversationID\"`,
		`{"sentense": "x", "sentence": "\ud800"}`:             `unknown field \"sentense\"`,
	} {
		post := func() (*http.Response, []byte) {
			return h.post(t, h.http1, elizav1connect.ElizaServiceSayProcedure, "application/json", body)
		}
		get := func() (*http.Response, []byte) {
			q := url.Values{"connect": {"v1"}, "encoding": {"json"}, "message": {body}}
			res, err := h.http1.Get(h.url + elizav1connect.ElizaServiceSayProcedure + "?" + q.Encode())
			if err != nil {
				t.Fatal(err)
			}
			got, _ := io.ReadAll(res.Body)
			res.Body.Close()
			return res, got
		}
		for name, call := range map[string]func() (*http.Response, []byte){"POST": post, "GET": get} {
			res, got := call()
			if res.StatusCode != http.StatusBadRequest || !strings.Contains(string(got), `"code":"invalid_argument"`) || !strings.Contains(string(got), want) {
				t.Errorf("%s %s: %s %s; want 400, invalid_argument, %s", name, body, res.Status, got, want)
			}
		}
	}
	// The pair itself, and the fields the message has, still pass.
	client := elizav1connect.NewElizaServiceClient(h.http1, h.url, connect.WithProtoJSON())
	if _, err := client.Say(ctx(t), connect.NewRequest(&elizav1.SayRequest{Sentence: "I feel \U0001F600 happy."})); err != nil {
		t.Fatal(err)
	}
}

// A message that is not protobuf's binary form is refused naming the message it is not, as
// the protos name it: it named a Go type of the server's ("*elizav1.SayRequest"). Over the
// Connect protocol and gRPC alike; what can be read is still answered.
func TestBadProtobuf_IsRefusedNamingTheMessage(t *testing.T) {
	h := start(t)
	const want = "not a connectrpc.eliza.v1.SayRequest in protobuf's binary form"
	res, got := h.post(t, h.http1, elizav1connect.ElizaServiceSayProcedure, "application/proto", "\xff\xff")
	if res.StatusCode != http.StatusBadRequest || !strings.Contains(string(got), want) || strings.Contains(string(got), "elizav1") {
		t.Errorf("Connect: %s %s; want 400 and %q", res.Status, got, want)
	}
	res, _ = h.post(t, h.h2c, elizav1connect.ElizaServiceSayProcedure, "application/grpc", "\x00\x00\x00\x00\x02\xff\xff")
	if msg, _ := url.PathUnescape(res.Header.Get("Grpc-Message") + res.Trailer.Get("Grpc-Message")); !strings.Contains(msg, want) {
		t.Errorf("gRPC: grpc-message %q; want %q", msg, want)
	}
	for _, c := range []elizav1connect.ElizaServiceClient{elizav1connect.NewElizaServiceClient(h.http1, h.url),
		elizav1connect.NewElizaServiceClient(h.h2c, h.url, connect.WithGRPC())} {
		if _, err := c.Say(ctx(t), connect.NewRequest(&elizav1.SayRequest{Sentence: "I feel happy."})); err != nil {
			t.Fatal(err)
		}
	}
}

// A sentence of one character that Go's Unicode tables do not know yet (an emoji of Unicode
// 16) or of the private use area is a sentence: only spaces, control and format characters
// make one empty.
func TestSay_ACharacterNewerThanTheUnicodeTablesIsASentence(t *testing.T) {
	h := start(t)
	client := elizav1connect.NewElizaServiceClient(h.h2c, h.url, connect.WithGRPC())
	for _, sentence := range []string{"\U0001FAE9", "\uF8FF"} {
		if _, err := client.Say(ctx(t), connect.NewRequest(&elizav1.SayRequest{Sentence: sentence})); err != nil {
			t.Errorf("Say(%+q): %v", sentence, err)
		}
	}
}

func TestHugeMessage_IsRefusedBeforeBeingRead(t *testing.T) {
	h := start(t)
	client := elizav1connect.NewElizaServiceClient(h.h2c, h.url, connect.WithGRPC())
	huge := strings.Repeat("a", frontdoor.MaxMessageBytes+1)
	_, err := client.Say(ctx(t), connect.NewRequest(&elizav1.SayRequest{Sentence: huge}))
	if connect.CodeOf(err) != connect.CodeResourceExhausted {
		t.Fatalf("want ResourceExhausted for a message over the limit, got %v", err)
	}
}

func TestMetrics_CountCallsByProcedureAndCode(t *testing.T) {
	var logged proctest.Buffer
	h := startService(t, frontdoor.NewService(func() frontdoor.Responder { return eliza.New(seed) }), func(o *frontdoor.Options) {
		o.Log = slog.New(slog.NewTextHandler(&logged, &slog.HandlerOptions{Level: slog.LevelDebug}))
	})
	client := elizav1connect.NewElizaServiceClient(h.h2c, h.url, connect.WithGRPC())
	if _, err := client.Say(ctx(t), connect.NewRequest(&elizav1.SayRequest{Sentence: "hi"})); err != nil {
		t.Fatal(err)
	}
	_, _ = client.Say(ctx(t), connect.NewRequest(&elizav1.SayRequest{}))
	// Requests that cannot be read fail before the interceptors run, over each protocol: their
	// calls are counted by the error their responses carry.
	for _, bad := range []struct{ contentType, body string }{
		{"application/json", `{"sentence": `},                          // Connect: a JSON error body
		{"application/grpc-web+proto", "\x00\x00\x00\x00\x02\xff\xff"}, // gRPC-Web: status headers
		{"application/grpc", "\x00\x00\x00\x00\x02\xff\xff"},           // gRPC: a trailers-only answer
		{"application/grpc", "\x00\x00\x00\x00\x05ab"},                 // an envelope cut short: internal
	} {
		h.postRaw(t, elizav1connect.ElizaServiceSayProcedure, bad.contentType, bad.body)
	}
	// A path that is no procedure is no call.
	if res, err := h.http1.Post(h.url+"/connectrpc.eliza.v1.ElizaService/Nothing", "application/json", strings.NewReader("{}")); err == nil {
		_ = res.Body.Close()
	}

	want := `
frontdoor_rpc_requests_total{code="internal",procedure="/connectrpc.eliza.v1.ElizaService/Say"} 1
frontdoor_rpc_requests_total{code="invalid_argument",procedure="/connectrpc.eliza.v1.ElizaService/Say"} 4
frontdoor_rpc_requests_total{code="ok",procedure="/connectrpc.eliza.v1.ElizaService/Say"} 1
`
	if err := requestsCounted(h.metrics, want); err != nil {
		t.Fatal(err)
	}
	// Every procedure's successful calls are there from the start, at zero.
	want = `
# HELP frontdoor_rpc_requests_total RPCs handled, by procedure and Connect code (ok when there was no error).
# TYPE frontdoor_rpc_requests_total counter
frontdoor_rpc_requests_total{code="internal",procedure="/connectrpc.eliza.v1.ElizaService/Say"} 1
frontdoor_rpc_requests_total{code="invalid_argument",procedure="/connectrpc.eliza.v1.ElizaService/Say"} 4
frontdoor_rpc_requests_total{code="ok",procedure="/connectrpc.eliza.v1.ElizaService/Converse"} 0
frontdoor_rpc_requests_total{code="ok",procedure="/connectrpc.eliza.v1.ElizaService/Introduce"} 0
frontdoor_rpc_requests_total{code="ok",procedure="/connectrpc.eliza.v1.ElizaService/QueueConversation"} 0
frontdoor_rpc_requests_total{code="ok",procedure="/connectrpc.eliza.v1.ElizaService/Say"} 1
frontdoor_rpc_requests_total{code="ok",procedure="/connectrpc.eliza.v1.ElizaService/Send"} 0
frontdoor_rpc_requests_total{code="ok",procedure="/connectrpc.eliza.v1.ElizaService/Watch"} 0
`
	if err := testutil.GatherAndCompare(h.metrics, strings.NewReader(want), "frontdoor_rpc_requests_total"); err != nil {
		t.Fatal(err)
	}
	// The service's streams are listed at zero before any opens.
	want = `
# HELP frontdoor_rpc_open_streams Streaming RPCs currently open, by procedure.
# TYPE frontdoor_rpc_open_streams gauge
frontdoor_rpc_open_streams{procedure="/connectrpc.eliza.v1.ElizaService/Converse"} 0
frontdoor_rpc_open_streams{procedure="/connectrpc.eliza.v1.ElizaService/Introduce"} 0
frontdoor_rpc_open_streams{procedure="/connectrpc.eliza.v1.ElizaService/QueueConversation"} 0
frontdoor_rpc_open_streams{procedure="/connectrpc.eliza.v1.ElizaService/Watch"} 0
`
	if err := testutil.GatherAndCompare(h.metrics, strings.NewReader(want), "frontdoor_rpc_open_streams"); err != nil {
		t.Fatal(err)
	}
	// What a client sends wrong is not the server's fault, whatever its code: anyone could
	// fill the log with warnings.
	if strings.Contains(logged.String(), "level=WARN") || !strings.Contains(logged.String(), "code=internal") {
		t.Fatalf("logged %q, want each call logged, none of them as a warning", logged.String())
	}
	// Those calls' time is their clients', sending: they are not timed. The two Says that
	// were read are.
	families, err := h.metrics.Gather()
	if err != nil {
		t.Fatal(err)
	}
	timed := map[string]uint64{}
	for _, f := range families {
		if f.GetName() == "frontdoor_rpc_duration_seconds" {
			for _, m := range f.GetMetric() {
				timed[m.GetLabel()[0].GetValue()] = m.GetHistogram().GetSampleCount()
			}
		}
	}
	if n, ok := timed[elizav1connect.ElizaServiceSayProcedure]; n != 2 || len(timed) != 6 || !ok {
		t.Fatalf("timed %v, want Say's 2 calls whose requests were read, and each of the six procedures there from the start", timed)
	}
}
