package app

import (
	"testing"

	"github.com/beacon/eventdispatch/internal/transcript/pgtranscript"
)

// A process's pool keeps defaultPoolMinConns connections open and opens up to
// defaultPoolConns, unless DATABASE_URL gives its own sizes.
func TestPoolConfig_DefaultsOnlyTheSizesTheURLDoesNotGive(t *testing.T) {
	const base = "postgres://u:p@127.0.0.1:5432/db?sslmode=disable"
	for _, c := range []struct {
		url      string
		min, max int32
	}{
		{base, defaultPoolMinConns, defaultPoolConns},
		{base + "&pool_min_conns=0", 0, defaultPoolConns},
		{base + "&pool_min_conns=10&pool_max_conns=20", 10, 20},
		{base + "&pool_max_conns=2", 2, 2},
	} {
		cfg, err := poolConfig(c.url, "")
		if err != nil {
			t.Fatalf("%s: %v", c.url, err)
		}
		if cfg.MinConns != c.min || cfg.MaxConns != c.max {
			t.Errorf("%s: min %d, max %d; want %d and %d", c.url, cfg.MinConns, cfg.MaxConns, c.min, c.max)
		}
		if cfg.AfterConnect == nil {
			t.Errorf("%s: no AfterConnect; want pguuid's", c.url)
		}
	}
	if _, err := poolConfig("postgres://u:p@127.0.0.1:5432/db?pool_max_conns=many", ""); err == nil {
		t.Error("a pool_max_conns that is not a number: no error")
	}
}

// The connections of a binary that queues or answers jobs name its JOBS_TOPIC, which every job
// they add records and by which its sweep of lost jobs lists them (pgtranscript.SetQueue); the
// others' name none.
func TestPoolConfig_NamesTheJobsTopicOfTheBinariesThatHaveOne(t *testing.T) {
	for name, settings := range Binaries() {
		q, ok := settings.(queued)
		if want := name == "frontdoor" || name == "dispatcher" || name == "standalone"; ok != want {
			t.Errorf("%s names a jobs topic: %t, want %t", name, ok, want)
			continue
		}
		if !ok {
			continue
		}
		cfg, err := poolConfig("postgres://u:p@127.0.0.1:5432/db", q.jobsTopic())
		if err != nil {
			t.Fatal(err)
		}
		if got := cfg.ConnConfig.RuntimeParams[pgtranscript.QueueSetting]; got != "eliza.jobs" {
			t.Errorf("%s's connections name queue %q, want its JOBS_TOPIC, eliza.jobs", name, got)
		}
	}
	cfg, err := poolConfig("postgres://u:p@127.0.0.1:5432/db", "")
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := cfg.ConnConfig.RuntimeParams[pgtranscript.QueueSetting]; ok {
		t.Error("a binary without a jobs topic names a queue")
	}
}
