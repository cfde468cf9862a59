package frontdoor_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect"

	"github.com/beacon/eventdispatch/internal/eliza"
	"github.com/beacon/eventdispatch/internal/frontdoor"
	elizav1 "github.com/beacon/eventdispatch/internal/gen/connectrpc/eliza/v1"
	"github.com/beacon/eventdispatch/internal/gen/connectrpc/eliza/v1/elizav1connect"
	"github.com/beacon/eventdispatch/internal/kafkatest"
	"github.com/beacon/eventdispatch/internal/proctest"
)

// grpcFrame is a gRPC (and gRPC-Web) message frame around a protobuf body.
func grpcFrame(body []byte) []byte {
	frame := make([]byte, 5, 5+len(body))
	binary.BigEndian.PutUint32(frame[1:], uint32(len(body)))
	return append(frame, body...)
}

// A call that arrives with its deadline already passed, or that its client cancels, is the
// caller's doing: it is counted as deadline_exceeded or canceled, not as a server fault, on
// all three protocols. A passed deadline is logged at info; a cancel, how clients end their
// streams, at debug.
func TestObserver_CountsExpiredAndCanceledCallsAsTheCallersOwn(t *testing.T) {
	var logs proctest.Buffer
	h := startService(t, frontdoor.NewService(func() frontdoor.Responder { return eliza.New(seed) }), func(o *frontdoor.Options) {
		o.Log = slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	})
	say := h.url + "/connectrpc.eliza.v1.ElizaService/Say"
	body := []byte{0x0a, 0x02, 'h', 'i'} // SayRequest{sentence: "hi"}
	for _, req := range []struct {
		name, contentType string
		header            [2]string
		body              []byte
	}{
		{"connect", "application/proto", [2]string{"Connect-Timeout-Ms", "0"}, body},
		{"grpc", "application/grpc", [2]string{"Grpc-Timeout", "1n"}, grpcFrame(body)},
		{"grpc-web", "application/grpc-web", [2]string{"Grpc-Timeout", "1n"}, grpcFrame(body)},
	} {
		r, err := http.NewRequestWithContext(ctx(t), http.MethodPost, say, bytes.NewReader(req.body))
		if err != nil {
			t.Fatal(err)
		}
		r.Header.Set("Content-Type", req.contentType)
		r.Header.Set(req.header[0], req.header[1])
		if req.name == "connect" {
			r.Header.Set("Connect-Protocol-Version", "1")
		}
		res, err := h.h2c.Do(r)
		if err != nil {
			t.Fatalf("%s: %v", req.name, err)
		}
		_, _ = io.Copy(io.Discard, res.Body)
		_ = res.Body.Close()
	}

	for _, opt := range []connect.ClientOption{connect.WithProtoJSON(), connect.WithGRPC(), connect.WithGRPCWeb()} {
		client := elizav1connect.NewElizaServiceClient(h.h2c, h.url, opt)
		cctx, cancel := context.WithCancel(ctx(t))
		s := client.Converse(cctx)
		if err := s.Send(&elizav1.ConverseRequest{Sentence: "hello"}); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Receive(); err != nil {
			t.Fatal(err)
		}
		cancel()
		_ = s.CloseResponse()
	}

	want := `
frontdoor_rpc_requests_total{code="canceled",procedure="/connectrpc.eliza.v1.ElizaService/Converse"} 3
frontdoor_rpc_requests_total{code="deadline_exceeded",procedure="/connectrpc.eliza.v1.ElizaService/Say"} 3
`
	kafkatest.Eventually(t, 5*time.Second, func() bool { return requestsCounted(h.metrics, want) == nil },
		func() string { return requestsCounted(h.metrics, want).Error() })
	if strings.Contains(logs.String(), "level=WARN") || strings.Count(logs.String(), "level=INFO msg=rpc") != 3 ||
		strings.Count(logs.String(), "level=DEBUG msg=rpc procedure=/connectrpc.eliza.v1.ElizaService/Converse code=canceled") != 3 {
		t.Fatalf("want the three expired calls logged at info, the three canceled at debug, and no warning; the log:\n%s", logs.String())
	}
}

// refuse refuses every call with code.
type refuse connect.Code

func (r refuse) WrapUnary(connect.UnaryFunc) connect.UnaryFunc {
	return func(context.Context, connect.AnyRequest) (connect.AnyResponse, error) {
		return nil, connect.NewError(connect.Code(r), errors.New("refused"))
	}
}
func (refuse) WrapStreamingClient(next connect.StreamingClientFunc) connect.StreamingClientFunc {
	return next
}
func (r refuse) WrapStreamingHandler(connect.StreamingHandlerFunc) connect.StreamingHandlerFunc {
	return func(context.Context, connect.StreamingHandlerConn) error {
		return connect.NewError(connect.Code(r), errors.New("refused"))
	}
}

// Refused credentials are logged at info, a trail for whoever looks into a leaked or guessed
// token; other refusals of what the caller sent (a sentence too long, say) at debug.
func TestObserver_LogsRefusedCredentialsAtInfo(t *testing.T) {
	for code, level := range map[connect.Code]string{
		connect.CodeUnauthenticated: "INFO", connect.CodePermissionDenied: "INFO", connect.CodeInvalidArgument: "DEBUG",
	} {
		var logs proctest.Buffer
		h := startService(t, frontdoor.NewService(func() frontdoor.Responder { return eliza.New(seed) }), func(o *frontdoor.Options) {
			o.Log = slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
			o.Auth = refuse(code)
		})
		client := elizav1connect.NewElizaServiceClient(h.h2c, h.url)
		if _, err := client.Say(ctx(t), connect.NewRequest(&elizav1.SayRequest{Sentence: "hi"})); connect.CodeOf(err) != code {
			t.Fatalf("Say: %v, want %s", err, code)
		}
		want := "level=" + level + " msg=rpc procedure=/connectrpc.eliza.v1.ElizaService/Say code=" + code.String()
		kafkatest.Eventually(t, 5*time.Second, func() bool { return strings.Contains(logs.String(), want) },
			func() string { return "want " + want + " in the log:\n" + logs.String() })
	}
}

// A client refused again and again gets an info line a second (RefusedLogEvery), with where
// it called from; its refusals between go to debug, and its next info line counts them.
func TestObserver_BoundsTheLinesOfRefusedCredentials(t *testing.T) {
	var logs proctest.Buffer
	h := startService(t, frontdoor.NewService(func() frontdoor.Responder { return eliza.New(seed) }), func(o *frontdoor.Options) {
		o.Log = slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
		o.Auth = refuse(connect.CodeUnauthenticated)
	})
	client := elizav1connect.NewElizaServiceClient(h.h2c, h.url)
	say := func() {
		t.Helper()
		if _, err := client.Say(ctx(t), connect.NewRequest(&elizav1.SayRequest{Sentence: "hi"})); connect.CodeOf(err) != connect.CodeUnauthenticated {
			t.Fatalf("Say: %v, want unauthenticated", err)
		}
	}
	const line = "msg=rpc procedure=/connectrpc.eliza.v1.ElizaService/Say code=unauthenticated"
	count := func(level string) int { return strings.Count(logs.String(), "level="+level+" "+line) }
	start := time.Now()
	say()
	first := time.Now() // after the server logged the first: RefusedLogEvery from here is past its line
	for range 4 {
		say()
	}
	if took := time.Since(start); took >= frontdoor.RefusedLogEvery {
		t.Fatalf("five refused calls took %s, RefusedLogEvery or more: the test cannot tell the lines apart", took)
	}
	kafkatest.Eventually(t, 5*time.Second, func() bool { return count("INFO")+count("DEBUG") == 5 },
		func() string { return "want five lines in the log:\n" + logs.String() })
	if count("INFO") != 1 || !strings.Contains(logs.String(), "peer=127.0.0.1:") {
		t.Fatalf("want one of the five at info, naming the peer; the log:\n%s", logs.String())
	}
	time.Sleep(frontdoor.RefusedLogEvery - time.Since(first))
	say()
	kafkatest.Eventually(t, 5*time.Second, func() bool { return count("INFO") == 2 },
		func() string { return "want a second line at info once a second has passed:\n" + logs.String() })
	if !strings.Contains(logs.String(), "refused_at_debug_since=4") {
		t.Fatalf("want the second info line to count the four at debug; the log:\n%s", logs.String())
	}
}
