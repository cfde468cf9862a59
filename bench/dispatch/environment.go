package main

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/beacon/eventdispatch/bench/internal/benchkit"
)

// connectorName is the Debezium connector the local stack registers (deploy/local).
const connectorName = "datastore-signal"

// machine describes where and against what a run happened, for the report.
type machine struct {
	benchkit.Machine
	Postgres        string
	Kafka, Debezium string
}

// preflight checks that Postgres, Kafka and the connector are up, and describes the machine.
func preflight(ctx context.Context, cfg config, pool *pgxpool.Pool) (machine, error) {
	m := machine{Machine: benchkit.ThisMachine()}
	if err := pool.QueryRow(ctx, `SHOW server_version`).Scan(&m.Postgres); err != nil {
		return m, fmt.Errorf("postgres at DATABASE_URL: %w%s", err, benchkit.StackHint)
	}
	if err := benchkit.KafkaReachable(ctx, cfg.Endpoints.KafkaBrokers); err != nil {
		return m, err
	}

	client := &http.Client{Timeout: 5 * time.Second}
	var status struct {
		Connector struct {
			State string `json:"state"`
		} `json:"connector"`
		Tasks []struct {
			State string `json:"state"`
		} `json:"tasks"`
	}
	if err := benchkit.GetJSON(ctx, client, cfg.Endpoints.ConnectURL+"/connectors/"+connectorName+"/status", &status); err != nil {
		return m, fmt.Errorf("kafka connect at CONNECT_URL: %w%s", err, benchkit.StackHint)
	}
	if status.Connector.State != "RUNNING" || len(status.Tasks) == 0 || status.Tasks[0].State != "RUNNING" {
		return m, fmt.Errorf("connector %s is not running (%+v)%s", connectorName, status, benchkit.StackHint)
	}
	var root struct {
		Version string `json:"version"`
	}
	if err := benchkit.GetJSON(ctx, client, cfg.Endpoints.ConnectURL+"/", &root); err == nil {
		m.Kafka = root.Version
	}
	var plugins []struct {
		Class, Version string
	}
	if err := benchkit.GetJSON(ctx, client, cfg.Endpoints.ConnectURL+"/connector-plugins", &plugins); err == nil {
		for _, p := range plugins {
			if strings.HasSuffix(p.Class, "PostgresConnector") {
				m.Debezium = p.Version
			}
		}
	}
	return m, nil
}
