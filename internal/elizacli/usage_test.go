package elizacli

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect"

	usagev1 "github.com/beacon/eventdispatch/internal/gen/eventdispatch/usage/v1"
	"github.com/beacon/eventdispatch/internal/gen/eventdispatch/usage/v1/usagev1connect"
)

// fakeUsage answers GetUsage with days, for any range.
type fakeUsage struct {
	usagev1connect.UnimplementedUsageServiceHandler
	days []*usagev1.DayUsage
}

func (f fakeUsage) GetUsage(context.Context, *connect.Request[usagev1.GetUsageRequest]) (*connect.Response[usagev1.GetUsageResponse], error) {
	return connect.NewResponse(&usagev1.GetUsageResponse{ClientId: "c1", Days: f.days}), nil
}

// A client that did nothing in the range is told so, rather than shown a header over no rows.
func TestUsage_SaysThereIsNoneRatherThanAnEmptyTable(t *testing.T) {
	mux := http.NewServeMux()
	mux.Handle(usagev1connect.NewUsageServiceHandler(fakeUsage{}))
	srv := httptest.NewServer(mux)
	defer srv.Close()
	addr := strings.TrimPrefix(srv.URL, "http://")
	today := time.Now().UTC().Format(time.DateOnly)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{nil, "client c1\nno usage on " + today + "\n"},
		{[]string{"--from", "2026-12-01"}, "client c1\nno usage on 2026-12-01\n"},
		{[]string{"--from", "2026-12-01", "--to", "2026-12-03"}, "client c1\nno usage between 2026-12-01 and 2026-12-03\n"},
	} {
		var out, errs strings.Builder
		code := Main(append([]string{"--addr", addr, "usage"}, tc.args...), strings.NewReader(""), &out, &errs)
		if code != 0 || out.String() != tc.want || errs.Len() != 0 {
			t.Errorf("usage %s: exit status %d, %q, %q; want 0 and %q", strings.Join(tc.args, " "), code, out.String(), errs.String(), tc.want)
		}
	}
}

// A day that is not one is said before the server is asked: a caller without a token was
// told it may not read usage, about a mistyped day.
func TestUsage_ADayThatIsNotOneIsSaidAsSuch(t *testing.T) {
	for _, args := range [][]string{{"--from", "yesterday"}, {"--from", "2026-12-01", "--to", "2026-13-01"}} {
		var out, errs strings.Builder
		code := Main(append([]string{"--addr", "127.0.0.1:1", "usage"}, args...), strings.NewReader(""), &out, &errs)
		want := fmt.Sprintf("eliza: %s %q is not a day (YYYY-MM-DD)\n", args[len(args)-2], args[len(args)-1])
		if code != 1 || errs.String() != want {
			t.Errorf("usage %s: exit status %d, %q on stderr; want 1 and %q", strings.Join(args, " "), code, errs.String(), want)
		}
	}
}

// A range that ends before it begins is said by the flags' names, before the server is asked
// (whose refusal names its request's fields, "to" and "from").
func TestUsage_ARangeBackwardsIsSaidByItsFlags(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--from", "2026-12-02", "--to", "2026-12-01"}, "eliza: --to (2026-12-01) is before --from (2026-12-02)\n"},
		{[]string{"--to", "2000-01-01"}, "eliza: --to (2000-01-01) is before --from (today, UTC, when not given: "},
	} {
		var out, errs strings.Builder
		code := Main(append([]string{"--addr", "127.0.0.1:1", "usage"}, tc.args...), strings.NewReader(""), &out, &errs)
		if code != 1 || !strings.HasPrefix(errs.String(), tc.want) {
			t.Errorf("usage %s: exit status %d, %q on stderr; want 1 and %q", strings.Join(tc.args, " "), code, errs.String(), tc.want)
		}
	}
}
