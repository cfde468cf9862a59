package main_test

import (
	"fmt"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/beacon/eventdispatch/internal/proctest"
	"github.com/beacon/eventdispatch/internal/stack"
	"github.com/beacon/eventdispatch/migrations"
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
	if code := p.Wait(t, 10*time.Second); code != 2 || !strings.Contains(p.Output(), `migrate: takes no arguments, got ["down"]`) {
		t.Fatalf("down: exit code %d, printed:\n%s\nwant 2, refused", code, p.Output())
	}
	p = proctest.StartArgs(t, bin, []string{"-h"}, nowhere)
	if code := p.Wait(t, 10*time.Second); code != 0 || !strings.Contains(p.Output(), "MIGRATE_TIMEOUT") {
		t.Fatalf("-h: exit code %d, printed:\n%s\nwant 0 and the variables", code, p.Output())
	}
}

// A database a newer release has migrated is left as it is, and said to be newer than this
// build, not "current": exit 0, as an older pod's init container runs during a rolling
// upgrade.
func TestMigrate_ASchemaNewerThanTheBuildIsSaidSo(t *testing.T) {
	url := stack.FreshDatabase(t)
	latest, err := migrations.Latest()
	if err != nil {
		t.Fatal(err)
	}
	db := stack.Pool(t, url)
	if _, err := db.Exec(t.Context(), "INSERT INTO "+migrations.VersionTable+" (version_id, is_applied) VALUES ($1, true)", latest+1); err != nil {
		t.Fatal(err)
	}
	p := proctest.Start(t, builds.Build(t, "./cmd/migrate"), "DATABASE_URL="+url)
	want := fmt.Sprintf("database schema is newer than this migrate knows: nothing applied\" version=%d known=%d", latest+1, latest)
	if code := p.Wait(t, 30*time.Second); code != 0 || !strings.Contains(p.Output(), want) || strings.Contains(p.Output(), "is current") {
		t.Fatalf("exit code %d, printed:\n%s\nwant 0 and %q", code, p.Output(), want)
	}
}

// A migrate stopped while it waits for the database says it was stopped, not only why its
// last try failed.
func TestMigrate_AnInterruptedRunSaysSo(t *testing.T) {
	p := proctest.Start(t, builds.Build(t, "./cmd/migrate"),
		"DATABASE_URL=postgres://postgres:demo@"+proctest.SilentAddr(t)+"/beacon?sslmode=disable&connect_timeout=1")
	for deadline := time.Now().Add(20 * time.Second); !strings.Contains(p.Output(), "waiting for the database"); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) || p.Exited() {
			t.Fatalf("not waiting for the database; printed:\n%s", p.Output())
		}
	}
	p.Signal(t, syscall.SIGTERM)
	if code := p.Wait(t, 10*time.Second); code != 1 || !strings.Contains(p.Output(), "migrate: interrupted (SIGTERM or SIGINT) before done") {
		t.Fatalf("exit code %d, printed:\n%s\nwant 1, saying it was interrupted", code, p.Output())
	}
}
