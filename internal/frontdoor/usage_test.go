package frontdoor_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect"
	"github.com/google/uuid"

	"github.com/beacon/eventdispatch/internal/access"
	"github.com/beacon/eventdispatch/internal/eliza"
	"github.com/beacon/eventdispatch/internal/frontdoor"
	usagev1 "github.com/beacon/eventdispatch/internal/gen/eventdispatch/usage/v1"
	"github.com/beacon/eventdispatch/internal/gen/eventdispatch/usage/v1/usagev1connect"
)

// usageRecords answers UsageBetween with one day of usage, and remembers what it was asked.
type usageRecords struct {
	client   uuid.UUID
	from, to time.Time
	missing  uuid.UUID // a client that does not exist
}

func (u *usageRecords) UsageBetween(_ context.Context, client uuid.UUID, from, to time.Time) ([]access.DayUsage, error) {
	if client == u.missing {
		return nil, fmt.Errorf("client %s: %w", client, access.ErrNotFound)
	}
	u.client, u.from, u.to = client, from, to
	return []access.DayUsage{{Day: from, RPCs: map[string]int64{"Say/ok": 2, "Converse/ok": 1}, Queued: 3, ModelCalls: 3, PromptTokens: 30}}, nil
}

// as is an interceptor that makes every call come from c, as access's would.
func as(c access.Client) connect.Interceptor {
	return connect.UnaryInterceptorFunc(func(next connect.UnaryFunc) connect.UnaryFunc {
		return func(ctx context.Context, req connect.AnyRequest) (connect.AnyResponse, error) {
			if c.Name != "" {
				ctx = access.WithClient(ctx, c)
			}
			return next(ctx, req)
		}
	})
}

func TestGetUsage_AnswersTheCallerAndAdminsAboutOthers(t *testing.T) {
	records := &usageRecords{missing: uuid.New()}
	usage := func(c access.Client) usagev1connect.UsageServiceClient {
		h := startService(t, frontdoor.NewService(func() frontdoor.Responder { return eliza.New(seed) }), func(o *frontdoor.Options) {
			o.Usage, o.Auth = &frontdoor.UsageService{Store: records}, as(c)
		})
		return usagev1connect.NewUsageServiceClient(h.http1, h.url)
	}
	me := access.Client{ID: uuid.New(), Name: "me", Tier: access.Premium}
	other := uuid.New()

	res, err := usage(me).GetUsage(ctx(t), connect.NewRequest(&usagev1.GetUsageRequest{}))
	today := time.Now().UTC().Truncate(24 * time.Hour)
	if err != nil || records.client != me.ID || !records.from.Equal(today) || !records.to.Equal(today) {
		t.Fatalf("an empty request: %v, asked for %s %s..%s; want the caller today", err, records.client, records.from, records.to)
	}
	d := res.Msg.GetDays()[0]
	if res.Msg.GetClientId() != me.ID.String() || d.GetSentencesQueued() != 3 || len(d.GetRpcs()) != 2 || d.GetRpcs()[0].GetMethod() != "Converse" {
		t.Fatalf("response %v", res.Msg)
	}

	for name, tc := range map[string]struct {
		caller access.Client
		req    *usagev1.GetUsageRequest
		want   connect.Code
	}{
		"anonymous":              {access.AnonymousClient(access.Premium), &usagev1.GetUsageRequest{}, connect.CodePermissionDenied},
		"another client":         {me, &usagev1.GetUsageRequest{ClientId: other.String()}, connect.CodePermissionDenied},
		"a malformed client":     {me, &usagev1.GetUsageRequest{ClientId: "nobody"}, connect.CodeInvalidArgument},
		"a malformed day":        {me, &usagev1.GetUsageRequest{From: "12/03/2026"}, connect.CodeInvalidArgument},
		"a range backwards":      {me, &usagev1.GetUsageRequest{From: "2026-12-03", To: "2026-12-01"}, connect.CodeInvalidArgument},
		"more than a year":       {me, &usagev1.GetUsageRequest{From: "2025-01-01", To: "2026-12-01"}, connect.CodeInvalidArgument},
		"an admin about nobody":  {access.Client{ID: uuid.New(), Name: "admin", Admin: true}, &usagev1.GetUsageRequest{ClientId: records.missing.String()}, connect.CodeNotFound},
		"an admin about another": {access.Client{ID: uuid.New(), Name: "admin", Admin: true}, &usagev1.GetUsageRequest{ClientId: other.String(), From: "2026-11-01", To: "2026-11-30"}, 0},
	} {
		_, err := usage(tc.caller).GetUsage(ctx(t), connect.NewRequest(tc.req))
		if got := connect.CodeOf(err); (tc.want == 0 && err != nil) || (tc.want != 0 && got != tc.want) {
			t.Errorf("%s: %v, want %v", name, err, tc.want)
		}
	}
	if records.client != other || records.from.Format("2006-01-02") != "2026-11-01" || records.to.Format("2006-01-02") != "2026-11-30" {
		t.Fatalf("the admin's request read %s %s..%s", records.client, records.from, records.to)
	}
	// Long malformed values are not sent back whole.
	long := strings.Repeat("x", 2000)
	for _, req := range []*usagev1.GetUsageRequest{{ClientId: long}, {From: long}, {To: long}} {
		_, err := usage(me).GetUsage(ctx(t), connect.NewRequest(req))
		if connect.CodeOf(err) != connect.CodeInvalidArgument || len(err.Error()) > 200 || !strings.Contains(err.Error(), "(2000 bytes)") {
			t.Errorf("%v: %v, want InvalidArgument saying the value's length and not all of it", req, err)
		}
	}
}

func TestGetUsage_WithAuthOffSaysTokensAreNotRead(t *testing.T) {
	me := access.Client{ID: uuid.New(), Name: "me"} // what a token would say, were it read
	h := startService(t, frontdoor.NewService(func() frontdoor.Responder { return eliza.New(seed) }), func(o *frontdoor.Options) {
		o.Usage, o.Auth = &frontdoor.UsageService{Store: &usageRecords{}, AuthOff: true}, as(me)
	})
	_, err := usagev1connect.NewUsageServiceClient(h.http1, h.url).GetUsage(ctx(t), connect.NewRequest(&usagev1.GetUsageRequest{}))
	if connect.CodeOf(err) != connect.CodeFailedPrecondition || !strings.Contains(err.Error(), "AUTH=off") {
		t.Fatalf("GetUsage with AUTH=off: %v, want failed_precondition naming AUTH=off", err)
	}
}

func TestGetUsage_WithoutADatabaseSaysUsageIsNotKept(t *testing.T) {
	for _, caller := range []access.Client{{}, {ID: uuid.New(), Name: "me"}} { // anonymous, then a client
		h := startService(t, frontdoor.NewService(func() frontdoor.Responder { return eliza.New(seed) }), func(o *frontdoor.Options) {
			o.Usage, o.Auth = &frontdoor.UsageService{}, as(caller)
		})
		_, err := usagev1connect.NewUsageServiceClient(h.http1, h.url).GetUsage(ctx(t), connect.NewRequest(&usagev1.GetUsageRequest{}))
		if connect.CodeOf(err) != connect.CodeFailedPrecondition || !strings.Contains(err.Error(), "DATABASE_URL") {
			t.Errorf("caller %q: %v, want failed_precondition naming DATABASE_URL", caller.Name, err)
		}
	}
}

// busyYear answers UsageBetween with every day of the range, each with calls of many methods
// ending in many codes: the most a GetUsage can hold.
type busyYear struct{}

func (busyYear) UsageBetween(_ context.Context, _ uuid.UUID, from, to time.Time) ([]access.DayUsage, error) {
	var days []access.DayUsage
	for day := from; !day.After(to); day = day.AddDate(0, 0, 1) {
		rpcs := map[string]int64{}
		for _, method := range []string{"Say", "Converse", "Introduce", "QueueConversation", "Send", "Watch", "GetUsage"} {
			for _, code := range []string{"ok", "invalid_argument", "not_found", "resource_exhausted", "unavailable", "canceled"} {
				rpcs[method+"/"+code] = 1_000_000
			}
		}
		days = append(days, access.DayUsage{Day: day, RPCs: rpcs, Queued: 1_000_000, ModelCalls: 1_000_000, PromptTokens: 1 << 40, CompletionTokens: 1 << 40})
	}
	return days, nil
}

// A year of a busy client's usage is one answer, in either codec. Before, answers were held to
// the 64 KiB of a request, and a few months of an active client's usage failed with
// ResourceExhausted.
func TestGetUsage_AYearOfABusyClientsUsageIsOneAnswer(t *testing.T) {
	me := access.Client{ID: uuid.New(), Name: "me", Tier: access.Premium}
	h := startService(t, frontdoor.NewService(func() frontdoor.Responder { return eliza.New(seed) }), func(o *frontdoor.Options) {
		o.Usage, o.Auth = &frontdoor.UsageService{Store: busyYear{}}, as(me)
	})
	// Without compression, as browsers and grpcurl ask.
	plain := connect.WithAcceptCompression("gzip", nil, nil)
	for name, opts := range map[string][]connect.ClientOption{"binary": {plain}, "JSON": {connect.WithProtoJSON(), plain}} {
		client := usagev1connect.NewUsageServiceClient(h.http1, h.url, opts...)
		res, err := client.GetUsage(ctx(t), connect.NewRequest(&usagev1.GetUsageRequest{From: "2025-12-01", To: "2026-11-30"}))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if n := len(res.Msg.GetDays()); n != 365 {
			t.Fatalf("%s: %d days, want all 365", name, n)
		}
	}
}
