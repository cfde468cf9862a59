package elizacli

import (
	"cmp"
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	"connectrpc.com/connect"
	"github.com/spf13/cobra"

	usagev1 "github.com/beacon/eventdispatch/internal/gen/eventdispatch/usage/v1"
	"github.com/beacon/eventdispatch/internal/gen/eventdispatch/usage/v1/usagev1connect"
)

// usageClient returns a UsageService client on the same server, token and scheme as client.
func (s *server) usageClient() (usagev1connect.UsageServiceClient, error) {
	base, httpClient, err := s.base()
	if err != nil {
		return nil, err
	}
	return usagev1connect.NewUsageServiceClient(httpClient, base), nil
}

func newUsage(srv *server) *cobra.Command {
	var from, to, client string
	cmd := &cobra.Command{
		Use:   "usage [--from YYYY-MM-DD] [--to YYYY-MM-DD] [--client ID]",
		Short: "Print your usage per day (today by default), as the front door counted it",
		Long: "usage asks the front door (GetUsage) for the caller's usage per UTC day: calls by method and code, " +
			"sentences queued, model calls and tokens, quota refusals. It needs a token (--token or ELIZA_TOKEN); " +
			"an admin client may ask for another client's with --client.",
		Args: withUsage(noArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			// Said before the server is asked: it would first say whether the caller may ask.
			for _, day := range []struct{ flag, value string }{{"--from", from}, {"--to", to}} {
				if _, err := time.Parse(time.DateOnly, day.value); day.value != "" && err != nil {
					return fmt.Errorf("%s %q is not a day (YYYY-MM-DD)", day.flag, day.value)
				}
			}
			// Days as YYYY-MM-DD compare as text. (The server's own refusal names its fields.)
			if first := cmp.Or(from, time.Now().UTC().Format(time.DateOnly)); to != "" && to < first {
				if from == "" {
					first = "today, UTC, when not given: " + first
				}
				return fmt.Errorf("--to (%s) is before --from (%s)", to, first)
			}
			c, err := srv.usageClient()
			if err != nil {
				return err
			}
			res, err := c.GetUsage(cmd.Context(), connect.NewRequest(&usagev1.GetUsageRequest{ClientId: client, From: from, To: to}))
			if err != nil {
				return describe(err, srv)
			}
			w := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
			fmt.Fprintf(w, "client %s\n", res.Msg.GetClientId())
			if len(res.Msg.GetDays()) == 0 {
				// A header over no rows reads like a failure; the range is the server's
				// defaults' (today, in UTC; --to: --from).
				first, last := from, to
				if first == "" {
					first = time.Now().UTC().Format(time.DateOnly)
				}
				if last == "" {
					last = first
				}
				if first == last {
					fmt.Fprintf(w, "no usage on %s\n", first)
				} else {
					fmt.Fprintf(w, "no usage between %s and %s\n", first, last)
				}
				return w.Flush()
			}
			fmt.Fprintln(w, "DAY\tQUEUED\tMODEL CALLS\tPROMPT TOKENS\tCOMPLETION TOKENS\tQUOTA REFUSALS\tCALLS")
			for _, d := range res.Msg.GetDays() {
				var calls []string
				for _, r := range d.GetRpcs() {
					calls = append(calls, fmt.Sprintf("%s/%s=%d", r.GetMethod(), r.GetCode(), r.GetCount()))
				}
				fmt.Fprintf(w, "%s\t%d\t%d\t%d\t%d\t%d\t%s\n", d.GetDay(), d.GetSentencesQueued(), d.GetModelCalls(),
					d.GetPromptTokens(), d.GetCompletionTokens(), d.GetQuotaRefusals(), strings.Join(calls, " "))
			}
			return w.Flush()
		},
	}
	cmd.Flags().StringVar(&from, "from", "", "first day, UTC (default today)")
	cmd.Flags().StringVar(&to, "to", "", "last day, UTC (default --from)")
	cmd.Flags().StringVar(&client, "client", "", "another client's id (admin clients only)")
	return cmd
}
