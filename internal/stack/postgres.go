package stack

import (
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/beacon/eventdispatch/internal/pguuid"
)

// Pool returns a connection pool to url set up as the binaries set theirs up (uuid.UUID
// through internal/pguuid), then by each of configure, closed when the test ends.
func Pool(t testing.TB, url string, configure ...func(*pgxpool.Config)) *pgxpool.Pool {
	t.Helper()
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		t.Fatal(err)
	}
	cfg.AfterConnect = pguuid.AfterConnect
	for _, c := range configure {
		c(cfg)
	}
	pool, err := pgxpool.NewWithConfig(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	return pool
}
