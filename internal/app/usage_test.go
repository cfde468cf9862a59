package app_test

import (
	"strings"
	"testing"

	"github.com/beacon/eventdispatch/internal/app"
)

func TestUsage_HelpListsTheVariablesAndAnythingElseIsRefused(t *testing.T) {
	var out strings.Builder
	if done, err := app.Usage("migrate", app.DefaultMigrate(), nil, &out); done || err != nil || out.Len() > 0 {
		t.Fatalf("no arguments: done %t, err %v, printed %q; want the binary to run", done, err, out.String())
	}
	for _, help := range []string{"-h", "-help", "--help", "help"} {
		out.Reset()
		done, err := app.Usage("migrate", app.DefaultMigrate(), []string{help}, &out)
		if !done || err != nil || !strings.Contains(out.String(), "DATABASE_URL") || !strings.Contains(out.String(), "MIGRATE_TIMEOUT  2m") {
			t.Fatalf("%s: done %t, err %v, printed:\n%s\nwant the variables with their defaults, and no run", help, done, err, out.String())
		}
	}
	// `migrate down` or `migrate status` applied every migration before.
	for _, args := range [][]string{{"down"}, {"status"}, {"--grace", "5s"}} {
		out.Reset()
		done, err := app.Usage("migrate", app.DefaultMigrate(), args, &out)
		if done || err == nil || !strings.Contains(err.Error(), "takes no arguments") || app.ExitCode(err) != 2 {
			t.Fatalf("%q: done %t, err %v; want it refused, exit status 2", args, done, err)
		}
	}
}
