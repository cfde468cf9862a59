package frontdoor

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"connectrpc.com/connect"
	"github.com/google/uuid"

	"github.com/beacon/eventdispatch/internal/access"
	usagev1 "github.com/beacon/eventdispatch/internal/gen/eventdispatch/usage/v1"
	"github.com/beacon/eventdispatch/internal/gen/eventdispatch/usage/v1/usagev1connect"
)

// UsageReader reads a client's usage per day (access.Store), or says access.ErrNotFound for a
// client that does not exist.
type UsageReader interface {
	UsageBetween(ctx context.Context, client uuid.UUID, from, to time.Time) ([]access.DayUsage, error)
}

// UsageService serves eventdispatch.usage.v1.UsageService. Its calls must come through the
// access interceptor, which says who is calling. Without a Store (a front door with no
// database: standalone mode) it says that usage is not kept, rather than leave the method
// unknown.
type UsageService struct {
	Store UsageReader
	// AuthOff says that the server does not tell callers apart (AUTH=off): everyone is the
	// anonymous client, whatever token they send, so nobody has usage of their own to read.
	AuthOff bool
}

var _ usagev1connect.UsageServiceHandler = (*UsageService)(nil)

// maxUsageDays is the longest range GetUsage answers.
const maxUsageDays = 366

const dayLayout = "2006-01-02"

// GetUsage returns the caller's usage, or an admin caller's choice of client's, per UTC day.
func (u *UsageService) GetUsage(ctx context.Context, req *connect.Request[usagev1.GetUsageRequest]) (*connect.Response[usagev1.GetUsageResponse], error) {
	if u.Store == nil {
		return nil, connect.NewError(connect.CodeFailedPrecondition,
			errors.New("usage is kept in Postgres, and this server has no database (DATABASE_URL is not set)"))
	}
	if u.AuthOff {
		return nil, connect.NewError(connect.CodeFailedPrecondition,
			errors.New("usage is kept per client, and this server does not tell clients apart (AUTH=off): a token is not read"))
	}
	caller, ok := access.ClientFrom(ctx)
	if !ok || caller.Anonymous() {
		return nil, connect.NewError(connect.CodePermissionDenied,
			errors.New(`usage is kept per client: call with your token ("Authorization: Bearer TOKEN" or "X-Token: TOKEN")`))
	}
	client := caller.ID
	if id := req.Msg.GetClientId(); id != "" {
		parsed, err := uuid.Parse(id)
		if err != nil {
			return nil, connect.NewError(connect.CodeInvalidArgument, fmt.Errorf("client_id %s is not a UUID", quoteCut(id)))
		}
		if parsed != caller.ID && !caller.Admin {
			return nil, connect.NewError(connect.CodePermissionDenied, errors.New("only an admin client may read another client's usage"))
		}
		client = parsed
	}
	from, to, err := usageRange(req.Msg.GetFrom(), req.Msg.GetTo(), time.Now())
	if err != nil {
		return nil, err
	}
	days, err := u.Store.UsageBetween(ctx, client, from, to)
	switch {
	case errors.Is(err, access.ErrNotFound):
		return nil, connect.NewError(connect.CodeNotFound, fmt.Errorf("client %s: no such client", client))
	case err != nil:
		return nil, connect.NewError(connect.CodeUnavailable, errors.New("usage cannot be read right now, please try again"))
	}
	res := &usagev1.GetUsageResponse{ClientId: client.String()}
	for _, d := range days {
		day := &usagev1.DayUsage{
			Day: d.Day.Format(dayLayout), SentencesQueued: d.Queued, ModelCalls: d.ModelCalls,
			PromptTokens: d.PromptTokens, CompletionTokens: d.CompletionTokens, QuotaRefusals: d.Refused,
		}
		for key, n := range d.RPCs {
			method, code, _ := strings.Cut(key, "/")
			day.Rpcs = append(day.Rpcs, &usagev1.RPCCount{Method: method, Code: code, Count: n})
		}
		sort.Slice(day.Rpcs, func(i, j int) bool {
			a, b := day.Rpcs[i], day.Rpcs[j]
			return a.GetMethod() < b.GetMethod() || (a.GetMethod() == b.GetMethod() && a.GetCode() < b.GetCode())
		})
		res.Days = append(res.Days, day)
	}
	return connect.NewResponse(res), nil
}

// usageRange reads a request's days: from (default today, UTC) to to (default from).
func usageRange(fromText, toText string, now time.Time) (time.Time, time.Time, error) {
	now = now.UTC()
	from := time.Date(now.Year(), now.Month(), now.Day(), 0, 0, 0, 0, time.UTC)
	if fromText != "" {
		var err error
		if from, err = time.Parse(dayLayout, fromText); err != nil {
			return time.Time{}, time.Time{}, connect.NewError(connect.CodeInvalidArgument, fmt.Errorf("from %s is not a day (YYYY-MM-DD)", quoteCut(fromText)))
		}
	}
	to := from
	if toText != "" {
		var err error
		if to, err = time.Parse(dayLayout, toText); err != nil {
			return time.Time{}, time.Time{}, connect.NewError(connect.CodeInvalidArgument, fmt.Errorf("to %s is not a day (YYYY-MM-DD)", quoteCut(toText)))
		}
	}
	switch {
	case to.Before(from):
		fromSaid := from.Format(dayLayout)
		if fromText == "" {
			fromSaid = "today, UTC, when not given: " + fromSaid
		}
		return time.Time{}, time.Time{}, connect.NewError(connect.CodeInvalidArgument, fmt.Errorf("to (%s) is before from (%s)", toText, fromSaid))
	case to.Sub(from) >= maxUsageDays*24*time.Hour:
		return time.Time{}, time.Time{}, connect.NewError(connect.CodeInvalidArgument, fmt.Errorf("at most %d days at once", maxUsageDays))
	}
	return from, to, nil
}
