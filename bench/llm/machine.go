package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"runtime"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/beacon/eventdispatch/bench/internal/benchkit"
)

// machine describes where and against what a run happened, for the report.
type machine struct {
	Date             time.Time
	CPUs             int
	CPUModel, Memory string
	Go               string
	Kafka            string
}

// preflight checks that Kafka and Postgres (which the dispatcher's readiness pings) answer,
// and describes the machine.
func preflight(ctx context.Context, cfg config) (machine, error) {
	m := machine{Date: time.Now().UTC(), CPUs: runtime.NumCPU(), Go: runtime.Version(), Kafka: "unknown"}
	hint := "; start the stack with `make stack-up`"
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", cfg.Endpoints.KafkaBrokers[0])
	if err != nil {
		return m, fmt.Errorf("kafka at KAFKA_BROKERS: %w%s", err, hint)
	}
	_ = conn.Close()
	pg, err := pgx.Connect(ctx, cfg.Endpoints.DatabaseURL)
	if err != nil {
		return m, fmt.Errorf("postgres at DATABASE_URL: %w%s", err, hint)
	}
	_ = pg.Close(ctx)

	// Kafka Connect reports the Kafka version it runs; the broker's own protocol does not.
	var root struct {
		Version string `json:"version"`
	}
	if err := getJSON(ctx, cfg.Endpoints.ConnectURL+"/", &root); err == nil && root.Version != "" {
		m.Kafka = root.Version
	}
	m.CPUModel = benchkit.CPUModel()
	m.Memory = benchkit.MemTotal()
	return m, nil
}

func getJSON(ctx context.Context, url string, v any) error {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return fmt.Errorf("GET %s: %w", url, err)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("GET %s: %w", url, err)
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s", url, res.Status)
	}
	if err := json.NewDecoder(res.Body).Decode(v); err != nil {
		return fmt.Errorf("GET %s: %w", url, err)
	}
	return nil
}
