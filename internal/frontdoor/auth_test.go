package frontdoor_test

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"testing"
	"time"

	"connectrpc.com/connect"

	"github.com/beacon/eventdispatch/internal/access"
	"github.com/beacon/eventdispatch/internal/eliza"
	"github.com/beacon/eventdispatch/internal/frontdoor"
	elizav1 "github.com/beacon/eventdispatch/internal/gen/connectrpc/eliza/v1"
	"github.com/beacon/eventdispatch/internal/gen/connectrpc/eliza/v1/elizav1connect"
	"github.com/beacon/eventdispatch/internal/stack"
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

func TestAuth_RefusesBadTokensOnEveryRPCAndProtocol(t *testing.T) {
	ep := stack.Require(t, stack.Postgres)
	pool := stack.Pool(t, ep.DatabaseURL)
	store := access.NewStore(pool)
	add := func(tier access.Tier) (access.Client, string, access.Token) {
		c, secret, tok, err := store.AddClient(t.Context(), "test "+t.Name(), tier, false)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			_, _ = pool.Exec(context.Background(), `DELETE FROM access.usage WHERE client = $1`, c.ID)
			_, _ = pool.Exec(context.Background(), `DELETE FROM access.client WHERE id = $1`, c.ID)
		})
		return c, secret, tok
	}
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
