package frontdoor_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/beacon/eventdispatch/internal/access"
	"github.com/beacon/eventdispatch/internal/eliza"
	"github.com/beacon/eventdispatch/internal/frontdoor"
	elizav1 "github.com/beacon/eventdispatch/internal/gen/connectrpc/eliza/v1"
	"github.com/beacon/eventdispatch/internal/gen/connectrpc/eliza/v1/elizav1connect"
	"github.com/beacon/eventdispatch/internal/kafkatest"
	"github.com/beacon/eventdispatch/internal/proctest"
	"github.com/beacon/eventdispatch/internal/stack"
	"github.com/beacon/eventdispatch/internal/transcript"
)

// calls makes each ElizaService RPC once and returns its error.
func calls(c elizav1connect.ElizaServiceClient) map[string]func(context.Context) error {
	return map[string]func(context.Context) error{
		"Say": func(ctx context.Context) error {
			_, err := c.Say(ctx, connect.NewRequest(&elizav1.SayRequest{Sentence: "hello"}))
			return err
		},
		"Send": func(ctx context.Context) error {
			_, err := c.Send(ctx, connect.NewRequest(&elizav1.SendRequest{Sentence: "hello"}))
			return err
		},
		"Introduce": func(ctx context.Context) error {
			s, err := c.Introduce(ctx, connect.NewRequest(&elizav1.IntroduceRequest{Name: "Ada"}))
			if err != nil {
				return err
			}
			for s.Receive() {
			}
			return s.Err()
		},
		"Watch": func(ctx context.Context) error {
			s, err := c.Watch(ctx, connect.NewRequest(&elizav1.WatchRequest{ConversationId: "7c1e5a3e-3f5e-4b5a-9a57-3a3c0c8b1d10"}))
			if err != nil {
				return err
			}
			for s.Receive() {
			}
			return s.Err()
		},
		"Converse": func(ctx context.Context) error {
			s := c.Converse(ctx)
			_ = s.Send(&elizav1.ConverseRequest{Sentence: "hello"})
			_, err := s.Receive()
			_ = s.CloseRequest()
			_ = s.CloseResponse()
			return err
		},
		"QueueConversation": func(ctx context.Context) error {
			s := c.QueueConversation(ctx)
			_ = s.Send(&elizav1.QueueConversationRequest{Sentence: "hello"})
			_, err := s.Receive()
			_ = s.CloseRequest()
			_ = s.CloseResponse()
			return err
		},
	}
}

// clients is the access store of the local stack's Postgres, for tests that add clients.
type clients struct {
	t     *testing.T
	pool  *pgxpool.Pool
	store *access.Store
}

func openClients(t *testing.T) clients {
	t.Helper()
	pool := stack.Pool(t, stack.Require(t, stack.Postgres).DatabaseURL)
	return clients{t: t, pool: pool, store: access.NewStore(pool)}
}

// add adds a client of the test's own, deleted (with its usage) at the end, and returns it
// with its token.
func (cs clients) add(tier access.Tier) (access.Client, string, access.Token) {
	cs.t.Helper()
	c, secret, tok, err := cs.store.AddClient(cs.t.Context(), "test "+cs.t.Name(), tier, false)
	if err != nil {
		cs.t.Fatal(err)
	}
	cs.t.Cleanup(func() {
		_, _ = cs.pool.Exec(context.Background(), `DELETE FROM access.usage WHERE client = $1`, c.ID)
		_, _ = cs.pool.Exec(context.Background(), `DELETE FROM access.client WHERE id = $1`, c.ID)
	})
	return c, secret, tok
}

// listening returns an authenticator on the clients' store whose listener runs until the
// test ends, as a front door's does.
func (cs clients) listening(mode access.Mode, anonymous access.Tier) *access.Authenticator {
	cs.t.Helper()
	return cs.listeningLogged(mode, anonymous, slog.New(slog.DiscardHandler))
}

// listeningLogged is listening with the authenticator logging to log.
func (cs clients) listeningLogged(mode access.Mode, anonymous access.Tier, log *slog.Logger) *access.Authenticator {
	cs.t.Helper()
	auth := access.NewAuthenticator(mode, anonymous, cs.store, log)
	listening, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- auth.Listen(listening) }()
	cs.t.Cleanup(func() {
		stop()
		if err := <-done; err != nil {
			cs.t.Errorf("Listen: %v", err)
		}
	})
	return auth
}

func TestAuth_RefusesBadTokensOnEveryRPCAndProtocol(t *testing.T) {
	cs := openClients(t)
	store, add := cs.store, cs.add
	_, valid, _ := add(access.Premium)
	_, revoked, tok := add(access.Premium)
	if err := store.RevokeToken(t.Context(), tok.ID); err != nil {
		t.Fatal(err)
	}
	off, disabled, _ := add(access.Free)
	if err := store.SetDisabled(t.Context(), off.ID, true); err != nil {
		t.Fatal(err)
	}
	unknown, _ := access.NewToken()

	usage := access.NewUsage(store, slog.New(slog.DiscardHandler))
	auth := access.NewAuthenticator(access.Optional, access.Free, store, slog.New(slog.DiscardHandler)).WithUsage(usage)
	// No queue: the queued RPCs answer Unimplemented once let in.
	h := startService(t, frontdoor.NewService(func() frontdoor.Responder { return eliza.New(seed) }),
		func(o *frontdoor.Options) { o.Auth = auth.Interceptor() })

	admitted := map[string]connect.Code{"Send": connect.CodeUnimplemented, "Watch": connect.CodeUnimplemented, "QueueConversation": connect.CodeUnimplemented}
	for _, protocol := range []struct {
		name string
		opt  connect.ClientOption
	}{{"connect", connect.WithProtoJSON()}, {"grpc", connect.WithGRPC()}, {"grpc-web", connect.WithGRPCWeb()}} {
		for _, caller := range []struct {
			name, header, value string
			want                connect.Code // 0: let in
		}{
			{"anonymous", "", "", 0},
			{"valid bearer", "Authorization", "Bearer " + valid, 0},
			{"valid x-token", "X-Token", valid, 0},
			{"unknown", "Authorization", "Bearer " + unknown, connect.CodeUnauthenticated},
			{"revoked", "X-Token", revoked, connect.CodeUnauthenticated},
			{"malformed", "Authorization", "Bearer " + valid[:12], connect.CodeUnauthenticated},
			{"disabled", "Authorization", "Bearer " + disabled, connect.CodePermissionDenied},
		} {
			transport := h.h2c.Transport
			if caller.header != "" {
				transport = access.WithHeader(transport, caller.header, caller.value)
			}
			client := elizav1connect.NewElizaServiceClient(&http.Client{Transport: transport}, h.url, protocol.opt)
			for rpc, call := range calls(client) {
				err := call(ctx(t))
				want := caller.want
				if want == 0 {
					want = admitted[rpc]
				}
				var ce *connect.Error
				switch {
				case want == 0 && err != nil:
					t.Errorf("%s, %s, %s: %v, want it let in", protocol.name, caller.name, rpc, err)
				case want != 0 && (!errors.As(err, &ce) || ce.Code() != want):
					t.Errorf("%s, %s, %s: %v, want %s", protocol.name, caller.name, rpc, err, want)
				}
			}
		}
	}
	// A disabled client's refused calls count in its usage, as its other calls do.
	flushed, flush := context.WithCancel(t.Context())
	flush()
	if err := usage.Run(flushed); err != nil { // an ended context: one last flush
		t.Fatal(err)
	}
	today := time.Now().UTC().Truncate(24 * time.Hour)
	days, err := store.UsageBetween(t.Context(), off.ID, today, today)
	if err != nil || len(days) != 1 || days[0].RPCs["Say/permission_denied"] != 3 {
		t.Fatalf("the disabled client's usage today: %+v (%v), want its 3 refused Says, one per protocol", days, err)
	}
}

// Streams already open end when their token is revoked or their client disabled, as new calls
// are refused: a Watch or a QueueConversation no longer delivers a conversation's events to a
// caller its operators have shut out, and a Converse whose client is silent ends too (it used
// to answer one more sentence first). Before, only calls that began after the change were
// refused. Other clients' streams and the anonymous caller's go on.
func TestAuth_ARevokedTokenOrADisabledClientEndsItsOpenStreams(t *testing.T) {
	cs := openClients(t)
	revokedClient, revokedSecret, revokedToken := cs.add(access.Premium)
	disabled, disabledSecret, _ := cs.add(access.Premium)
	_, keptSecret, _ := cs.add(access.Premium)
	var logged proctest.Buffer
	auth := cs.listeningLogged(access.Optional, access.Premium, slog.New(slog.NewTextHandler(&logged, nil)))
	m := transcript.NewMemory(time.Hour)
	c := startConversationsOn(t, m, m, func(o *frontdoor.Options) { o.Auth = auth.Interceptor() })

	type followed struct {
		name string
		conv string
		ends chan error // the Watch's end
		bidi *connect.BidiStreamForClient[elizav1.QueueConversationRequest, elizav1.QueueConversationResponse]
		talk *connect.BidiStreamForClient[elizav1.ConverseRequest, elizav1.ConverseResponse]
	}
	follow := func(name, secret string) *followed {
		transport := c.h.h2c.Transport
		if secret != "" {
			transport = access.WithHeader(transport, "Authorization", "Bearer "+secret)
		}
		client := elizav1connect.NewElizaServiceClient(&http.Client{Transport: transport}, c.h.url, connect.WithGRPC())
		sent, err := client.Send(ctx(t), connect.NewRequest(&elizav1.SendRequest{Sentence: "hello"}))
		if err != nil {
			t.Fatalf("%s: send: %v", name, err)
		}
		f := &followed{name: name, conv: sent.Msg.GetConversationId(), ends: make(chan error, 1)}
		w, err := client.Watch(ctx(t), connect.NewRequest(&elizav1.WatchRequest{ConversationId: f.conv, AfterSerial: sent.Msg.GetSerial()}))
		if err != nil {
			t.Fatalf("%s: watch: %v", name, err)
		}
		go func() {
			for w.Receive() {
			}
			f.ends <- w.Err()
		}()
		f.bidi = client.QueueConversation(ctx(t))
		t.Cleanup(func() { _ = f.bidi.CloseResponse() })
		if err := f.bidi.Send(&elizav1.QueueConversationRequest{ConversationId: f.conv, ResumeAfter: sent.Msg.GetSerial()}); err != nil {
			t.Fatalf("%s: attach: %v", name, err)
		}
		f.talk = client.Converse(ctx(t))
		t.Cleanup(func() { _ = f.talk.CloseResponse() })
		if err := f.talk.Send(&elizav1.ConverseRequest{Sentence: "hello"}); err != nil {
			t.Fatalf("%s: converse: %v", name, err)
		}
		if _, err := f.talk.Receive(); err != nil {
			t.Fatalf("%s: converse's first answer: %v", name, err)
		}
		return f
	}
	revoked, off, kept, anonymous := follow("revoked", revokedSecret), follow("disabled", disabledSecret),
		follow("kept", keptSecret), follow("anonymous", "")

	if err := cs.store.RevokeToken(t.Context(), revokedToken.ID); err != nil {
		t.Fatal(err)
	}
	if err := cs.store.SetDisabled(t.Context(), disabled.ID, true); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		f    *followed
		want connect.Code
	}{{revoked, connect.CodeUnauthenticated}, {off, connect.CodePermissionDenied}} {
		select {
		case err := <-tc.f.ends:
			if connect.CodeOf(err) != tc.want {
				t.Errorf("%s: the Watch ended with %v, want %s", tc.f.name, err, tc.want)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("%s: the Watch is still open 10 s after the change", tc.f.name)
		}
		_, err := tc.f.bidi.Receive()
		if connect.CodeOf(err) != tc.want {
			t.Errorf("%s: the QueueConversation stream ended with %v, want %s", tc.f.name, err, tc.want)
		}
		// Silent since its first answer: it ends without a further sentence.
		talked := make(chan error, 1)
		go func() { _, err := tc.f.talk.Receive(); talked <- err }()
		select {
		case err := <-talked:
			if connect.CodeOf(err) != tc.want {
				t.Errorf("%s: the Converse stream gave %v; want its end, %s", tc.f.name, err, tc.want)
			}
		case <-time.After(10 * time.Second):
			t.Errorf("%s: the Converse stream is still open 10 s after the change", tc.f.name)
		}
	}
	// The others still get their conversations' events.
	for i, f := range []*followed{kept, anonymous} {
		c.answer(2+i, "still here")
		if res, err := f.bidi.Receive(); err != nil || res.GetSentence() != "still here" {
			t.Errorf("%s: %v, %v; want the reply on the stream", f.name, res, err)
		}
		select {
		case err := <-f.ends:
			t.Errorf("%s: the Watch ended: %v", f.name, err)
		default:
		}
		if err := f.talk.Send(&elizav1.ConverseRequest{Sentence: "I feel sad"}); err != nil {
			t.Errorf("%s: converse: %v", f.name, err)
		} else if _, err := f.talk.Receive(); err != nil {
			t.Errorf("%s: converse's answer: %v", f.name, err)
		}
	}
	// The log names each ended stream's client, the revoked token's too, which the database
	// no longer knows: it named none. The line follows the streams' end.
	for _, want := range []string{`msg="streams ended: their token was revoked" streams=\d client=` + revokedClient.ID.String(),
		`msg="streams ended: their client was disabled" streams=\d client=` + disabled.ID.String()} {
		kafkatest.Eventually(t, 5*time.Second, func() bool { return regexp.MustCompile(want).MatchString(logged.String()) },
			func() string { return "logged " + logged.String() + "\nwant " + want })
	}
}

// A QueueConversation stream's sentences are admitted as their client is when each is sent:
// a tier changed while the stream is open applies to its next sentence, as it does to the
// next Send. Before, a stream kept the client it opened with, premium after a downgrade.
func TestAuth_AStreamsSentencesAreAdmittedAsTheirClientIsNow(t *testing.T) {
	cs := openClients(t)
	client, secret, _ := cs.add(access.Premium)
	auth := cs.listening(access.Optional, access.Premium)
	m := transcript.NewMemory(time.Hour)
	c := startConversationsOn(t, m, m, func(o *frontdoor.Options) { o.Auth = auth.Interceptor() })
	transport := access.WithHeader(c.h.h2c.Transport, "Authorization", "Bearer "+secret)
	s := elizav1connect.NewElizaServiceClient(&http.Client{Transport: transport}, c.h.url, connect.WithGRPC()).QueueConversation(ctx(t))
	t.Cleanup(func() { _ = s.CloseResponse() })

	c.send(s, &elizav1.QueueConversationRequest{Sentence: "one"})
	if res := c.receive(s); res.GetKind() != elizav1.QueueConversationResponse_KIND_ENQUEUED {
		t.Fatalf("one: %v", res)
	}
	if err := cs.store.SetTier(t.Context(), client.ID, access.Free); err != nil {
		t.Fatal(err)
	}
	header := http.Header{"Authorization": {"Bearer " + secret}}
	kafkatest.Eventually(t, 5*time.Second, func() bool {
		now, err := auth.Authenticate(t.Context(), header)
		return err == nil && now.Tier == access.Free
	}, func() string { return "the authenticator never saw the new tier" })
	c.send(s, &elizav1.QueueConversationRequest{Sentence: "two"})
	if res := c.receive(s); res.GetKind() != elizav1.QueueConversationResponse_KIND_ENQUEUED {
		t.Fatalf("two: %v", res)
	}
	jobs := c.jobs.all()
	if len(jobs) != 2 || jobs[0].Tier != string(access.Premium) || jobs[1].Tier != string(access.Free) {
		t.Fatalf("jobs %+v, want the first premium and the second free", jobs)
	}
}

// A unary call's token is checked before its request is read, as a stream's is: a caller
// without a valid token is refused while its body has not yet come (it had its message read
// first), and one whose message cannot be read is told of its token, not of its message
// (InvalidArgument, and uncounted in its client's usage). The refusal is counted as any call.
func TestAuth_RefusesAUnaryCallsTokenBeforeReadingItsRequest(t *testing.T) {
	cs := openClients(t)
	_, valid, _ := cs.add(access.Premium)
	unknown, _ := access.NewToken()
	auth := access.NewAuthenticator(access.Optional, access.Free, cs.store, slog.New(slog.DiscardHandler))
	var logged proctest.Buffer
	h := startService(t, frontdoor.NewService(func() frontdoor.Responder { return eliza.New(seed) }),
		func(o *frontdoor.Options) {
			o.Auth = auth.Interceptor()
			o.Log = slog.New(slog.NewTextHandler(&logged, nil))
		})

	for _, tc := range httpVersions {
		for _, contentType := range []string{"application/json", "application/grpc"} {
			sending, answered := slowSay(t, tc.client(h), h.url, "Content-Type", contentType, "Authorization", "Bearer "+unknown) // no body comes
			var res *http.Response
			select {
			case res = <-answered:
			case <-time.After(10 * time.Second):
				t.Fatalf("%s, %s: no answer while the body has not come, want the token refused at once", tc.name, contentType)
			}
			_ = sending.Close()
			if res == nil {
				continue
			}
			body, _ := io.ReadAll(res.Body)
			_ = res.Body.Close()
			code := res.Header.Get("Grpc-Status") + res.Trailer.Get("Grpc-Status") // trailers-only, or trailers
			if contentType == "application/json" {
				code = string(body)
			}
			if !strings.Contains(code, "unauthenticated") && code != "16" {
				t.Errorf("%s, %s: %d %q (grpc-status %q), want unauthenticated", tc.name, contentType, res.StatusCode, body, code)
			}
		}
	}
	for _, tc := range []struct {
		token string
		want  string
	}{{unknown, `"code":"unauthenticated"`}, {valid, `"code":"invalid_argument"`}} {
		res, body := h.post(t, h.h2c, elizav1connect.ElizaServiceSayProcedure, "application/json", `{"sentence": `, "Authorization", "Bearer "+tc.token)
		if !strings.Contains(string(body), tc.want) {
			t.Errorf("a message that cannot be read, with a token %s: %d %s, want %s", map[bool]string{true: "valid", false: "unknown"}[tc.token == valid], res.StatusCode, body, tc.want)
		}
	}
	if err := requestsCounted(h.metrics, `
		frontdoor_rpc_requests_total{code="invalid_argument",procedure="/connectrpc.eliza.v1.ElizaService/Say"} 1
		frontdoor_rpc_requests_total{code="unauthenticated",procedure="/connectrpc.eliza.v1.ElizaService/Say"} 5`); err != nil {
		t.Error(err)
	}
	// The refusals' trail: where they came from, one info line a second for each host.
	if !regexp.MustCompile(`level=INFO msg=rpc procedure=/connectrpc.eliza.v1.ElizaService/Say code=unauthenticated .* peer=127\.0\.0\.1:\d+`).MatchString(logged.String()) {
		t.Errorf("the log:\n%s\nwant the refusal at info, with its peer", logged.String())
	}
	// Timed, as the interceptor's refusals were: the 5 refused before their requests were
	// read; not the call whose message could not be read, which is counted only.
	if n := durationCount(t, h.metrics, elizav1connect.ElizaServiceSayProcedure); n != 5 {
		t.Errorf("frontdoor_rpc_duration_seconds counted %d Says, want the 5 refused for their tokens", n)
	}
}

// A unary call in a codec the front door does not serve is answered 415, as connect answers
// it, whatever its token: the gate answered 401 for a token it did not know, about a call that
// could never be served (grpcurl's gRPC-Web text, say). One in a codec served, written in
// another form of its content type, is still the gate's.
func TestAuth_ACallInACodecNotServedIsUnsupportedWhateverItsToken(t *testing.T) {
	cs := openClients(t)
	unknown, _ := access.NewToken()
	auth := access.NewAuthenticator(access.Optional, access.Free, cs.store, slog.New(slog.DiscardHandler))
	h := startService(t, frontdoor.NewService(func() frontdoor.Responder { return eliza.New(seed) }),
		func(o *frontdoor.Options) { o.Auth = auth.Interceptor() })
	for contentType, want := range map[string]int{
		"application/grpc-web-text":       http.StatusUnsupportedMediaType,
		"application/xml":                 http.StatusUnsupportedMediaType,
		"application/JSON;charset=UTF-8":  http.StatusUnauthorized,
		"application/json; charset=utf-8": http.StatusUnauthorized,
		"application/proto":               http.StatusUnauthorized,
	} {
		res, body := h.post(t, h.h2c, elizav1connect.ElizaServiceSayProcedure, contentType, `{"sentence": "hi"}`, "Authorization", "Bearer "+unknown)
		if res.StatusCode != want {
			t.Errorf("%s with a token not known: %d %s, want %d", contentType, res.StatusCode, body, want)
		}
	}
}

// durationCount is the count of frontdoor_rpc_duration_seconds for procedure.
func durationCount(t *testing.T, reg prometheus.Gatherer, procedure string) uint64 {
	t.Helper()
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() != "frontdoor_rpc_duration_seconds" {
			continue
		}
		for _, m := range f.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "procedure" && l.GetValue() == procedure {
					return m.GetHistogram().GetSampleCount()
				}
			}
		}
	}
	return 0
}

// A unary call's token is looked up within the call's own deadline, as connect would bound
// the call once it had read it: against a database that never answers, a Say whose headers
// give 300 ms is answered deadline_exceeded then, by the server, over HTTP/1.1 and HTTP/2, in
// Connect's protocol and gRPC's. (Once the lookup ran before connect read the deadline, it
// waited for the database as long as pgx would, minutes.)
func TestAuth_AUnaryCallsTokenIsLookedUpWithinItsDeadline(t *testing.T) {
	pool, err := pgxpool.New(t.Context(), "postgres://nobody@"+proctest.SilentAddr(t)+"/none?sslmode=disable")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	auth := access.NewAuthenticator(access.Required, access.Free, access.NewStore(pool), slog.New(slog.DiscardHandler))
	h := startService(t, frontdoor.NewService(func() frontdoor.Responder { return eliza.New(seed) }),
		func(o *frontdoor.Options) { o.Auth = auth.Interceptor() })
	token, _ := access.NewToken()
	for _, tc := range []struct {
		name                      string
		client                    *http.Client
		contentType, body, header string
		value                     string
	}{
		{"Connect, HTTP/1.1", h.http1, "application/json", `{"sentence":"hello"}`, "Connect-Timeout-Ms", "300"},
		{"Connect, HTTP/2", h.h2c, "application/json", `{"sentence":"hello"}`, "Connect-Timeout-Ms", "300"},
		{"gRPC", h.h2c, "application/grpc", "\x00\x00\x00\x00\x00", "Grpc-Timeout", "300m"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second) // the client's own, far later
			defer cancel()
			req, err := http.NewRequestWithContext(ctx, http.MethodPost, h.url+elizav1connect.ElizaServiceSayProcedure, strings.NewReader(tc.body))
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set("Content-Type", tc.contentType)
			req.Header.Set(tc.header, tc.value)
			req.Header.Set("Authorization", "Bearer "+token)
			began := time.Now()
			res, err := tc.client.Do(req)
			if err != nil {
				t.Fatalf("no answer: %v after %s, want deadline_exceeded from the server at 300 ms", err, time.Since(began))
			}
			body, _ := io.ReadAll(res.Body)
			_ = res.Body.Close()
			got := string(body) + res.Header.Get("Grpc-Status") + res.Trailer.Get("Grpc-Status")
			if !strings.Contains(got, "deadline_exceeded") && got != "4" {
				t.Errorf("answered %d %q (grpc-status %q) after %s, want deadline_exceeded", res.StatusCode, body, got, time.Since(began))
			}
		})
	}
}

// A unary call refused for its token over HTTP/1.1 has its connection closed after the
// answer, its body unread: net/http read up to 256 KiB of it first, waiting for a body that
// did not come.
func TestAuth_ARefusedCallsBodyIsNotReadOverHTTP1(t *testing.T) {
	auth := access.NewAuthenticator(access.Required, access.Free, nil, slog.New(slog.DiscardHandler))
	h := startService(t, frontdoor.NewService(func() frontdoor.Responder { return eliza.New(seed) }),
		func(o *frontdoor.Options) { o.Auth = auth.Interceptor() })
	conn, err := net.Dial("tcp", strings.TrimPrefix(h.url, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	// Headers that promise 200,000 bytes, and none of them.
	fmt.Fprintf(conn, "POST %s HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 200000\r\n\r\n", elizav1connect.ElizaServiceSayProcedure)
	_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	answer, err := io.ReadAll(conn) // to the connection's end
	if err != nil {
		t.Fatalf("read the answer: %v (after %q): want the connection closed after it", err, answer)
	}
	if !strings.Contains(string(answer), "401 Unauthorized") || !strings.Contains(string(answer), "unauthenticated") {
		t.Errorf("answer %q, want 401 unauthenticated", answer)
	}
}
