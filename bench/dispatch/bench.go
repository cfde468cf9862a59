package main

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/beacon/eventdispatch/bench/internal/benchkit"
	"github.com/beacon/eventdispatch/internal/headband/pgwriter"
)

// applicationName marks the harness's own connections in pg_stat_activity.
const applicationName = "bench-dispatch"

// bench holds what the phases of a run share, and what the run must clean up.
type bench struct {
	cfg    config
	log    *slog.Logger
	runID  string // unique per run: names groups and topics
	seed   uint64
	dir    string // the dispatcher binary and logs
	bin    string
	pgAddr string // host:port of Postgres, for the counting proxies
	pool   *pgxpool.Pool
	writer *pgwriter.Writer
	kafka  *benchkit.Kafka

	// Left behind by the phases, removed by cleanup.
	sourceRecordings []uuid.UUID // rows in datastore.signal, and state in dispatcher.*
	dispatcherOnly   []uuid.UUID // state in dispatcher.* only (the backlog's)
	groups, topics   []string
}

func newBench(ctx context.Context, cfg config, log *slog.Logger, seed uint64) (*bench, error) {
	now := time.Now().UTC()
	b := &bench{cfg: cfg, log: log, seed: seed, runID: "bench-" + strings.ToLower(now.Format("20060102T150405Z")), kafka: benchkit.NewKafka(cfg.Endpoints.KafkaBrokers)}
	dbURL, err := withParams(cfg.Endpoints.DatabaseURL, "", applicationName)
	if err != nil {
		return nil, err
	}
	pgCfg, err := pgx.ParseConfig(dbURL)
	if err != nil {
		return nil, fmt.Errorf("DATABASE_URL: %w", err)
	}
	b.pgAddr = net.JoinHostPort(pgCfg.Host, strconv.Itoa(int(pgCfg.Port)))
	if b.pool, err = pgxpool.New(ctx, dbURL); err != nil {
		return nil, fmt.Errorf("DATABASE_URL: %w", err)
	}
	if b.writer, err = pgwriter.Open(ctx, dbURL); err != nil {
		b.pool.Close()
		return nil, fmt.Errorf("DATABASE_URL: %w", err)
	}
	if b.dir, err = os.MkdirTemp("", "bench-dispatch-"); err != nil {
		b.close()
		return nil, fmt.Errorf("temporary directory: %w", err)
	}
	return b, nil
}

// close releases the harness's connections.
func (b *bench) close() {
	if b.writer != nil {
		b.writer.Close()
	}
	b.pool.Close()
}

// withParams returns DATABASE_URL with application_name app (unless it names one) and, if
// addr is set, pointed at addr with TLS off (a counting proxy reads the protocol in the clear).
func withParams(databaseURL, addr, app string) (string, error) {
	u, err := url.Parse(databaseURL)
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
		return "", fmt.Errorf("DATABASE_URL must be a postgres:// URL for the benchmark, got %q", redact(databaseURL))
	}
	q := u.Query()
	if q.Get("application_name") == "" {
		q.Set("application_name", app)
	}
	if addr != "" {
		u.Host = addr
		q.Set("sslmode", "disable")
	}
	u.RawQuery = q.Encode()
	return u.String(), nil
}

func redact(databaseURL string) string {
	if u, err := url.Parse(databaseURL); err == nil {
		return u.Redacted()
	}
	return "(unparsable)"
}
