// Package stack tells integration tests where the local stack's Postgres, Kafka and Kafka
// Connect (with Debezium) are — DATABASE_URL, KAFKA_BROKERS and CONNECT_URL, defaulting to
// what `make stack-up` starts — and stops a test that needs a component that is not there
// (Require), or a program that `make stack-up` installs (Missing): a skip on a developer's
// machine, a failure when CI=true, so CI can never pass by skipping.
// With -short every such test is skipped: that is `make test-unit`, the suite that needs no
// stack.
//
// It also keeps tests independent of what earlier runs left on a long-lived stack's topics
// (EndOffsets, GroupAtEnd).
package stack

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// Endpoints are the addresses of the stack's components.
type Endpoints struct {
	DatabaseURL  string
	KafkaBrokers []string
	ConnectURL   string
}

// Defaults match deploy/local/stack.sh and the README's configuration table.
const (
	DefaultDatabaseURL  = "postgres://postgres:demo@localhost:5432/beacon?sslmode=disable"
	DefaultKafkaBrokers = "localhost:9092"
	DefaultConnectURL   = "http://localhost:8083"
)

// Get reads the endpoints from the environment.
func Get() Endpoints {
	return Endpoints{
		DatabaseURL:  getenv("DATABASE_URL", DefaultDatabaseURL),
		KafkaBrokers: strings.Split(getenv("KAFKA_BROKERS", DefaultKafkaBrokers), ","),
		ConnectURL:   strings.TrimRight(getenv("CONNECT_URL", DefaultConnectURL), "/"),
	}
}

func getenv(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

// Component is a part of the stack a test can require.
type Component int

// The stack's components.
const (
	Postgres Component = iota
	Kafka
	Debezium // Kafka Connect with every registered connector and task RUNNING
)

// Require returns the endpoints after checking that each component in needs answers. If one
// does not, the test is skipped with a hint to run `make stack-up`, or failed when CI=true.
//
// Under -short (`make test-unit`) such tests are skipped without looking: that run is the
// suite that needs no stack, by choice, even when CI=true.
func Require(t testing.TB, needs ...Component) Endpoints {
	t.Helper()
	if testing.Short() {
		t.Skip("needs the local stack: not run with -short (make test-unit); make test runs it")
	}
	ep := Get()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	for _, c := range needs {
		var err error
		switch c {
		case Postgres:
			err = checkPostgres(ctx, ep.DatabaseURL)
		case Kafka:
			err = checkKafka(ctx, ep.KafkaBrokers)
		case Debezium:
			err = checkConnect(ctx, ep.ConnectURL)
		}
		if err != nil {
			Missing(t, fmt.Sprintf("local stack not available (%v); start it with `make stack-up`", err))
		}
	}
	return ep
}

// Missing stops t for want of something the test needs (a stack component, or a program
// `make stack-up` installs, such as Chromium or LiteLLM), saying msg: a skip on a developer's
// machine, a failure when CI=true, so that CI can never pass by skipping.
func Missing(t testing.TB, msg string) {
	t.Helper()
	if os.Getenv("CI") == "true" {
		t.Fatal(msg)
	}
	t.Skip(msg)
}

func checkPostgres(ctx context.Context, url string) error {
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		return fmt.Errorf("postgres: %w", err)
	}
	defer conn.Close(ctx)
	if err := conn.Ping(ctx); err != nil {
		return fmt.Errorf("postgres: %w", err)
	}
	return nil
}

func checkKafka(ctx context.Context, brokers []string) error {
	var d net.Dialer
	for _, b := range brokers {
		conn, err := d.DialContext(ctx, "tcp", b)
		if err == nil {
			return conn.Close()
		}
	}
	return fmt.Errorf("kafka: no broker of %v accepts connections", brokers)
}

// checkConnect asks the Connect REST API for every connector's status and wants each
// connector and task RUNNING: a registered but failed Debezium connector emits nothing.
func checkConnect(ctx context.Context, base string) error {
	var status map[string]struct {
		Status struct {
			Connector struct {
				State string `json:"state"`
			} `json:"connector"`
			Tasks []struct {
				State string `json:"state"`
			} `json:"tasks"`
		} `json:"status"`
	}
	if err := getJSON(ctx, base+"/connectors?expand=status", &status); err != nil {
		return fmt.Errorf("kafka connect: %w", err)
	}
	if len(status) == 0 {
		return fmt.Errorf("kafka connect at %s has no connector registered", base)
	}
	for name, s := range status {
		if s.Status.Connector.State != "RUNNING" || len(s.Status.Tasks) == 0 {
			return fmt.Errorf("connector %s is %s with %d tasks", name, s.Status.Connector.State, len(s.Status.Tasks))
		}
		for i, task := range s.Status.Tasks {
			if task.State != "RUNNING" {
				return fmt.Errorf("connector %s task %d is %s", name, i, task.State)
			}
		}
	}
	return nil
}

func getJSON(ctx context.Context, url string, v any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s", url, res.Status)
	}
	return json.NewDecoder(res.Body).Decode(v)
}

// HandInsert is the README's insert by hand of one complete recording (an eeg and an
// accelerometer signal), with the span written as PostgreSQL 15 accepts it; $1 is the
// recording's id.
const HandInsert = `
	INSERT INTO datastore.signal (
	    id, data, recording, span, sensor_label, sensor_type, channels, sample_unit,
	    sample_resolution_in_unit, sample_offset_in_unit, sample_type, sample_rate
	) VALUES (
	    gen_random_uuid(), 'x'::bytea, $1::uuid, '[0,60000000000)'::datastore.time_span,
	    'eeg'::datastore.signal_label, 'eeg'::datastore.signal_label,
	    array['f7-o1', 'f8-o2', 'f8-f7', 'f8-o1', 'f7-o2'], 'microvolt'::datastore.signal_label,
	    1, 0, 'float32'::datastore.sample_type, 250
	), (
	    gen_random_uuid(), 'b'::bytea, $1::uuid, '[0,60000000000)'::datastore.time_span,
	    'accelerometer'::datastore.signal_label, 'accelerometer'::datastore.signal_label,
	    array['x', 'y', 'z'], 'gforce'::datastore.signal_label,
	    1, 0, 'float32'::datastore.sample_type, 50
	)`
