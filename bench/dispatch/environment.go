package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"runtime"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/beacon/eventdispatch/bench/internal/benchkit"
)

// connectorName is the Debezium connector the local stack registers (deploy/local).
const connectorName = "datastore-signal"

// machine describes where and against what a run happened, for the report.
type machine struct {
	Date             time.Time
	CPUs             int
	CPUModel, Memory string
	Go               string
	Postgres         string
	Kafka, Debezium  string
}

// preflight checks that Postgres, Kafka and the connector are up, and describes the machine.
func preflight(ctx context.Context, cfg config, pool *pgxpool.Pool) (machine, error) {
	m := machine{Date: time.Now().UTC(), CPUs: runtime.NumCPU(), Go: runtime.Version()}
	hint := "; start the stack with `make stack-up`"
	if err := pool.QueryRow(ctx, `SHOW server_version`).Scan(&m.Postgres); err != nil {
		return m, fmt.Errorf("postgres at DATABASE_URL: %w%s", err, hint)
	}
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", cfg.Endpoints.KafkaBrokers[0])
	if err != nil {
		return m, fmt.Errorf("kafka at KAFKA_BROKERS: %w%s", err, hint)
	}
	_ = conn.Close()

	client := &http.Client{Timeout: 5 * time.Second}
	var status struct {
		Connector struct {
			State string `json:"state"`
		} `json:"connector"`
		Tasks []struct {
			State string `json:"state"`
		} `json:"tasks"`
	}
	if err := getJSON(ctx, client, cfg.Endpoints.ConnectURL+"/connectors/"+connectorName+"/status", &status); err != nil {
		return m, fmt.Errorf("kafka connect at CONNECT_URL: %w%s", err, hint)
	}
	if status.Connector.State != "RUNNING" || len(status.Tasks) == 0 || status.Tasks[0].State != "RUNNING" {
		return m, fmt.Errorf("connector %s is not running (%+v)%s", connectorName, status, hint)
	}
	var root struct {
		Version string `json:"version"`
	}
	if err := getJSON(ctx, client, cfg.Endpoints.ConnectURL+"/", &root); err == nil {
		m.Kafka = root.Version
	}
	var plugins []struct {
		Class, Version string
	}
	if err := getJSON(ctx, client, cfg.Endpoints.ConnectURL+"/connector-plugins", &plugins); err == nil {
		for _, p := range plugins {
			if strings.HasSuffix(p.Class, "PostgresConnector") {
				m.Debezium = p.Version
			}
		}
	}
	m.CPUModel = benchkit.CPUModel()
	m.Memory = benchkit.MemTotal()
	return m, nil
}

func getJSON(ctx context.Context, client *http.Client, url string, v any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	res, err := client.Do(req)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s", url, res.Status)
	}
	return json.NewDecoder(res.Body).Decode(v)
}
