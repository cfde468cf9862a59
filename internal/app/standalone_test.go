package app_test

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/beacon/eventdispatch/internal/app"
)

// Standalone's broker directory for a database is named by the database, not by how its URL is
// written or its password, which a directory's name must not leak.
func TestEmbeddedKafkaDir_IsTheDatabasesWhateverItsPassword(t *testing.T) {
	state := t.TempDir()
	t.Setenv("XDG_STATE_HOME", state)
	dir := func(url string) string {
		t.Helper()
		d, err := app.EmbeddedKafkaDir(url)
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	base := dir("postgres://postgres:demo@localhost:5432/beacon?sslmode=disable")
	if !strings.HasPrefix(base, filepath.Join(state, "eventdispatch", "standalone-kafka-")) {
		t.Fatalf("%s, want it under %s/eventdispatch", base, state)
	}
	for _, same := range []string{
		"postgres://postgres:other@localhost:5432/beacon?sslmode=disable",
		"host=localhost port=5432 dbname=beacon user=postgres password=demo sslmode=disable",
		"postgres://postgres:demo@127.0.0.1:5432/beacon?sslmode=disable",
	} {
		if got := dir(same); got != base {
			t.Errorf("%s: %s, want %s", same, got, base)
		}
	}
	for _, other := range []string{
		"postgres://postgres:demo@localhost:5433/beacon?sslmode=disable",
		"postgres://postgres:demo@localhost:5432/other?sslmode=disable",
		"postgres://eliza:demo@localhost:5432/beacon?sslmode=disable",
	} {
		if got := dir(other); got == base {
			t.Errorf("%s: the same directory as another database's", other)
		}
	}
	if _, err := app.EmbeddedKafkaDir("postgres://[bad"); err == nil || !strings.Contains(err.Error(), "DATABASE_URL") {
		t.Errorf("a bad URL: %v, want an error naming DATABASE_URL", err)
	}
}
