package main

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/beacon/eventdispatch/bench/internal/benchkit"
)

// machine describes where and against what a run happened, for the report.
type machine struct {
	benchkit.Machine
	Kafka string
}

// preflight checks that Kafka and Postgres (which the dispatcher's readiness pings) answer,
// and describes the machine.
func preflight(ctx context.Context, cfg config) (machine, error) {
	m := machine{Machine: benchkit.ThisMachine(), Kafka: "unknown"}
	if err := benchkit.KafkaReachable(ctx, cfg.Endpoints.KafkaBrokers); err != nil {
		return m, err
	}
	pg, err := pgx.Connect(ctx, cfg.Endpoints.DatabaseURL)
	if err != nil {
		return m, fmt.Errorf("postgres at DATABASE_URL: %w%s", err, benchkit.StackHint)
	}
	_ = pg.Close(ctx)

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
