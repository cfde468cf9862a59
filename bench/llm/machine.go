package main

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/beacon/eventdispatch/bench/internal/benchkit"
)

// machine describes where and against what a run happened, for the report.
type machine struct {
	benchkit.Machine
	Kafka, Postgres string
}

// preflight checks that Kafka and Postgres (the conversations' transcript) answer, and
// describes the machine.
func preflight(ctx context.Context, cfg config) (machine, error) {
	m := machine{Machine: benchkit.ThisMachine(), Kafka: "unknown"}
	if err := benchkit.KafkaReachable(ctx, cfg.Endpoints.KafkaBrokers); err != nil {
		return m, err
	}
	// A pool, not a connection: it reads the pool settings DATABASE_URL may carry.
	pg, err := pgxpool.New(ctx, cfg.Endpoints.DatabaseURL)
	if err != nil {
		return m, fmt.Errorf("postgres at DATABASE_URL: %w", err)
	}
	defer pg.Close()
	if err := pg.QueryRow(ctx, `SELECT version()`).Scan(&m.Postgres); err != nil {
		return m, fmt.Errorf("postgres at DATABASE_URL: %w%s", err, benchkit.StackHint)
	}
	// "PostgreSQL 15.18 (Debian 15.18-0+deb12u1) on x86_64-pc-linux-gnu, compiled by ...": the
	// part before " on ".
	m.Postgres, _, _ = strings.Cut(m.Postgres, " on ")
	var schema bool
	if err := pg.QueryRow(ctx, `SELECT EXISTS (SELECT FROM pg_namespace WHERE nspname = 'transcript')`).Scan(&schema); err != nil {
		return m, fmt.Errorf("postgres at DATABASE_URL: %w", err)
	}
	if !schema {
		return m, errors.New("postgres at DATABASE_URL has no transcript schema: apply the migrations (`make stack-up` does)")
	}

	// Kafka Connect reports the Kafka version it runs; the broker's own protocol does not.
	var root struct {
		Version string `json:"version"`
	}
	client := &http.Client{Timeout: 5 * time.Second}
	if err := benchkit.GetJSON(ctx, client, cfg.Endpoints.ConnectURL+"/", &root); err == nil && root.Version != "" {
		m.Kafka = root.Version
	}
	return m, nil
}
