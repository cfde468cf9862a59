package main_test

import (
	"strings"
	"testing"
	"time"

	"github.com/beacon/eventdispatch/internal/proctest"
)

// builds are the binaries these tests start, built once for all of them.
var builds proctest.Builds

func TestMain(m *testing.M) { builds.Main(m) }

// A database that does not answer within MIGRATE_TIMEOUT is said so, naming the variable,
// not only as the driver's "context deadline exceeded".
func TestMigrate_ADatabaseThatDoesNotAnswerInTimeNamesTheTimeout(t *testing.T) {
	p := proctest.Start(t, builds.Build(t, "./cmd/migrate"),
		"DATABASE_URL=postgres://postgres:demo@"+proctest.SilentAddr(t)+"/beacon?sslmode=disable", "MIGRATE_TIMEOUT=300ms")
	if code := p.Wait(t, 10*time.Second); code != 1 || !strings.Contains(p.Output(), "migrate: not done within MIGRATE_TIMEOUT (300ms)") {
		t.Fatalf("exit code %d, printed:\n%s\nwant 1, naming MIGRATE_TIMEOUT", code, p.Output())
	}
}

// migrate takes no arguments: `migrate down` applied every migration up before.
func TestMigrate_ArgumentsAreRefusedAndHelpListsTheVariables(t *testing.T) {
	bin := builds.Build(t, "./cmd/migrate")
	nowhere := "DATABASE_URL=postgres://nobody@127.0.0.1:1/none?connect_timeout=1"
	p := proctest.StartArgs(t, bin, []string{"down"}, nowhere)
	if code := p.Wait(t, 10*time.Second); code != 1 || !strings.Contains(p.Output(), `migrate: takes no arguments, got ["down"]`) {
		t.Fatalf("down: exit code %d, printed:\n%s\nwant 1, refused", code, p.Output())
	}
	p = proctest.StartArgs(t, bin, []string{"-h"}, nowhere)
	if code := p.Wait(t, 10*time.Second); code != 0 || !strings.Contains(p.Output(), "MIGRATE_TIMEOUT") {
		t.Fatalf("-h: exit code %d, printed:\n%s\nwant 0 and the variables", code, p.Output())
	}
}
