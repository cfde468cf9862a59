package main

import (
	"errors"
	"fmt"
	"net"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/beacon/eventdispatch/internal/logging"
	"github.com/beacon/eventdispatch/internal/worker"
)

// Topics of the embedded broker: the names the binaries use by default.
const (
	signalTopic  = "postgres.datastore.signal"
	jobsTopic    = "eliza.jobs"
	repliesTopic = "eliza.replies"
)

// settings are standalone mode's environment variables. Those it shares with the other
// binaries keep their names; defaults favour seeing things happen quickly.
type settings struct {
	Addr      string `env:"ADDR" envDefault:":8080"`
	AdminAddr string `env:"ADMIN_ADDR" envDefault:":9090"`
	// KafkaAddr is where the embedded broker listens: a loopback address; port 0 picks a free one.
	KafkaAddr string `env:"STANDALONE_KAFKA_ADDR" envDefault:"127.0.0.1:0"`
	// DatabaseURL, when set, keeps processed recordings in Postgres (pgstore) instead of memory.
	DatabaseURL      string        `env:"DATABASE_URL"`
	QueueLimit       int           `env:"QUEUE_LIMIT" envDefault:"3"`
	Workers          int           `env:"WORKERS" envDefault:"8"`
	ContextTurns     int           `env:"CONTEXT_TURNS" envDefault:"10"`
	HeadbandInterval time.Duration `env:"HEADBAND_INTERVAL" envDefault:"1s"`
	HeadbandMaxPause time.Duration `env:"HEADBAND_MAX_PAUSE" envDefault:"500ms"`
	// HeadbandSeed is nil when HEADBAND_SEED is unset: a random seed is drawn and logged.
	HeadbandSeed    *uint64       `env:"HEADBAND_SEED"`
	IncompleteAfter time.Duration `env:"INCOMPLETE_AFTER" envDefault:"1m"`
	ShutdownGrace   time.Duration `env:"SHUTDOWN_GRACE" envDefault:"5s"`
	Model           worker.ModelSettings
	Log             logging.Config
}

// Validate checks the values, naming the variable that is wrong.
func (s settings) Validate() error {
	var errs []error
	if host, _, err := net.SplitHostPort(s.KafkaAddr); err != nil {
		errs = append(errs, fmt.Errorf("STANDALONE_KAFKA_ADDR: %w", err))
	} else if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
		errs = append(errs, fmt.Errorf("STANDALONE_KAFKA_ADDR: %q is not a loopback address; the embedded broker only listens on this machine", s.KafkaAddr))
	}
	if s.DatabaseURL != "" {
		if _, err := pgxpool.ParseConfig(s.DatabaseURL); err != nil {
			errs = append(errs, fmt.Errorf("DATABASE_URL: %w", err))
		}
	}
	for name, d := range map[string]time.Duration{"HEADBAND_INTERVAL": s.HeadbandInterval,
		"INCOMPLETE_AFTER": s.IncompleteAfter, "SHUTDOWN_GRACE": s.ShutdownGrace} {
		if d <= 0 {
			errs = append(errs, fmt.Errorf("%s: must be positive, got %s", name, d))
		}
	}
	if s.HeadbandMaxPause < 0 {
		errs = append(errs, fmt.Errorf("HEADBAND_MAX_PAUSE: must not be negative, got %s", s.HeadbandMaxPause))
	}
	if s.QueueLimit < 1 {
		errs = append(errs, fmt.Errorf("QUEUE_LIMIT: must be at least 1, got %d", s.QueueLimit))
	}
	if s.Workers < 1 || s.Workers > 4096 {
		errs = append(errs, fmt.Errorf("WORKERS: %d is not between 1 and 4096", s.Workers))
	}
	if s.ContextTurns < 0 {
		errs = append(errs, fmt.Errorf("CONTEXT_TURNS: must not be negative, got %d", s.ContextTurns))
	}
	errs = append(errs, s.Model.Validate())
	return errors.Join(errs...)
}

// kafkaListenAddr is KafkaAddr with "localhost" made an IP, so the broker advertises the
// address it really listens on.
func (s settings) kafkaListenAddr() string {
	host, port, _ := net.SplitHostPort(s.KafkaAddr)
	if host == "localhost" {
		host = "127.0.0.1"
	}
	return net.JoinHostPort(host, port)
}
