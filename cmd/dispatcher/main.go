// Command dispatcher runs two consumer groups. On SIGNAL_TOPIC (group GROUP_ID) it consumes
// Debezium change events for datastore.signal and runs process_record exactly once (in effect)
// for every recording whose signals are complete. On JOBS_TOPIC (group LLM_GROUP_ID) a pool of
// WORKERS answers queued conversation jobs with the model and publishes the replies to
// REPLIES_TOPIC. Run as many replicas as the topics have partitions.
// /metrics, /healthz and /readyz are on ADMIN_ADDR. On SIGTERM or SIGINT it stops fetching,
// finishes and commits the batches in hand, leaves the group and exits 0.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/segmentio/kafka-go"
	"golang.org/x/sync/errgroup"

	"github.com/beacon/eventdispatch/internal/admin"
	"github.com/beacon/eventdispatch/internal/config"
	"github.com/beacon/eventdispatch/internal/consumer"
	"github.com/beacon/eventdispatch/internal/dispatch"
	"github.com/beacon/eventdispatch/internal/httpserve"
	"github.com/beacon/eventdispatch/internal/logging"
	"github.com/beacon/eventdispatch/internal/pgstore"
	"github.com/beacon/eventdispatch/internal/recording"
	"github.com/beacon/eventdispatch/internal/worker"
)

type settings struct {
	AdminAddr       string        `env:"ADMIN_ADDR" envDefault:":9091"`
	KafkaBrokers    []string      `env:"KAFKA_BROKERS" envDefault:"localhost:9092" envSeparator:","`
	DatabaseURL     string        `env:"DATABASE_URL" envDefault:"postgres://postgres:demo@localhost:5432/beacon?sslmode=disable"`
	SignalTopic     string        `env:"SIGNAL_TOPIC" envDefault:"postgres.datastore.signal"`
	GroupID         string        `env:"GROUP_ID" envDefault:"dispatcher-signals"`
	BatchSize       int           `env:"BATCH_SIZE" envDefault:"500"`
	BatchLinger     time.Duration `env:"BATCH_LINGER" envDefault:"5ms"`
	SessionTimeout  time.Duration `env:"KAFKA_SESSION_TIMEOUT" envDefault:"10s"`
	IncompleteAfter time.Duration `env:"INCOMPLETE_AFTER" envDefault:"10m"`
	JobsTopic       string        `env:"JOBS_TOPIC" envDefault:"eliza.jobs"`
	RepliesTopic    string        `env:"REPLIES_TOPIC" envDefault:"eliza.replies"`
	LLMGroupID      string        `env:"LLM_GROUP_ID" envDefault:"dispatcher-llm"`
	Workers         int           `env:"WORKERS" envDefault:"8"`
	Model           worker.ModelSettings
	ShutdownGrace   time.Duration `env:"SHUTDOWN_GRACE" envDefault:"20s"`
	Log             logging.Config
}

// Validate checks the values, naming the variable that is wrong.
func (s settings) Validate() error {
	var errs []error
	if len(s.KafkaBrokers) == 0 || strings.TrimSpace(s.KafkaBrokers[0]) == "" {
		errs = append(errs, errors.New("KAFKA_BROKERS: no broker given"))
	}
	if _, err := pgxpool.ParseConfig(s.DatabaseURL); err != nil {
		errs = append(errs, fmt.Errorf("DATABASE_URL: %w", err))
	}
	for name, v := range map[string]string{"SIGNAL_TOPIC": s.SignalTopic, "GROUP_ID": s.GroupID,
		"JOBS_TOPIC": s.JobsTopic, "REPLIES_TOPIC": s.RepliesTopic, "LLM_GROUP_ID": s.LLMGroupID} {
		if strings.TrimSpace(v) == "" {
			errs = append(errs, fmt.Errorf("%s: must not be empty", name))
		}
	}
	if s.BatchSize < 1 || s.BatchSize > 10000 {
		errs = append(errs, fmt.Errorf("BATCH_SIZE: %d is not between 1 and 10000", s.BatchSize))
	}
	for name, d := range map[string]time.Duration{"BATCH_LINGER": s.BatchLinger, "INCOMPLETE_AFTER": s.IncompleteAfter, "SHUTDOWN_GRACE": s.ShutdownGrace} {
		if d <= 0 {
			errs = append(errs, fmt.Errorf("%s: must be positive, got %s", name, d))
		}
	}
	if s.Workers < 1 || s.Workers > 4096 {
		errs = append(errs, fmt.Errorf("WORKERS: %d is not between 1 and 4096", s.Workers))
	}
	if s.SessionTimeout < 6*time.Second {
		errs = append(errs, fmt.Errorf("KAFKA_SESSION_TIMEOUT: %s is below Kafka's minimum of 6s", s.SessionTimeout))
	}
	errs = append(errs, s.Model.Validate())
	return errors.Join(errs...)
}

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "dispatcher:", err)
		os.Exit(1)
	}
}

func run() error {
	cfg, err := config.Load[settings]()
	if err != nil {
		return fmt.Errorf("configuration: %w", err)
	}
	log, err := logging.New(os.Stderr, cfg.Log)
	if err != nil {
		return fmt.Errorf("configuration: %w", err)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	reg := admin.NewRegistry()

	pool, err := pgxpool.New(ctx, cfg.DatabaseURL) // connects lazily: an absent database is retried
	if err != nil {
		return fmt.Errorf("database: %w", err)
	}
	defer pool.Close()
	store := pgstore.New(pool, recording.DefaultRule(), pgstore.ProcessedRecordingWriter{})

	deadLetters := &kafka.Writer{
		Addr:                   kafka.TCP(cfg.KafkaBrokers...),
		Topic:                  cfg.SignalTopic + ".dlq",
		RequiredAcks:           kafka.RequireAll,
		BatchTimeout:           10 * time.Millisecond,
		AllowAutoTopicCreation: true,
	}
	defer deadLetters.Close()

	consumerMetrics := consumer.NewMetrics(reg)
	metrics := dispatch.NewMetrics(reg)
	signals := consumer.New(consumer.Config{
		Brokers:        cfg.KafkaBrokers,
		GroupID:        cfg.GroupID,
		Topic:          cfg.SignalTopic,
		BatchSize:      cfg.BatchSize,
		Linger:         cfg.BatchLinger,
		SessionTimeout: cfg.SessionTimeout,
		HandleTimeout:  cfg.ShutdownGrace / 2,
		Metrics:        consumerMetrics,
		Log:            log,
	}, dispatch.NewHandler(store, deadLetters, metrics, log))
	conversations, closeConversations, err := newConversations(cfg, consumerMetrics, reg, log)
	if err != nil {
		return err
	}
	defer closeConversations()

	adminLn, err := httpserve.Listen(ctx, "admin (ADMIN_ADDR)", cfg.AdminAddr)
	if err != nil {
		return err
	}
	adminSrv := admin.NewServer(cfg.AdminAddr, admin.NewHandler(reg, func() error {
		if !signals.Joined() {
			return fmt.Errorf("not in consumer group %s yet", cfg.GroupID)
		}
		if !conversations.Joined() {
			return fmt.Errorf("not in consumer group %s yet", cfg.LLMGroupID)
		}
		pingCtx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		if err := store.Ping(pingCtx); err != nil {
			return fmt.Errorf("database unreachable: %w", err)
		}
		return nil
	}))

	log.Info("dispatcher starting", "group", cfg.GroupID, "topic", cfg.SignalTopic, "brokers", cfg.KafkaBrokers)
	g, gctx := errgroup.WithContext(ctx)
	adminCtx, stopAdmin := context.WithCancel(context.WithoutCancel(ctx))
	defer stopAdmin()
	var consumers sync.WaitGroup
	consumers.Add(2)
	g.Go(func() error {
		defer consumers.Done()
		consumer.AwaitTopics(gctx, cfg.KafkaBrokers, 3, log, cfg.SignalTopic)
		return signals.Run(gctx)
	})
	g.Go(func() error {
		defer consumers.Done()
		consumer.AwaitTopics(gctx, cfg.KafkaBrokers, 3, log, cfg.JobsTopic, cfg.RepliesTopic)
		return conversations.Run(gctx)
	})
	g.Go(func() error {
		consumers.Wait()
		stopAdmin() // the admin port outlives the consumers, for probes while draining
		return nil
	})
	g.Go(func() error {
		dispatch.WatchIncomplete(gctx, store, cfg.IncompleteAfter, metrics, log)
		return nil
	})
	g.Go(func() error {
		return httpserve.Serve(adminCtx, log, "admin", adminSrv, adminLn, cfg.ShutdownGrace)
	})
	g.Go(func() error {
		<-gctx.Done()
		stop() // a second signal now ends the process at once
		log.Info("shutting down: finishing batches in hand", "grace", cfg.ShutdownGrace)
		return nil
	})

	waited := make(chan error, 1)
	go func() { waited <- g.Wait() }()
	select {
	case err = <-waited:
	case <-ctx.Done():
		select {
		case err = <-waited:
		case <-time.After(cfg.ShutdownGrace):
			return fmt.Errorf("shutdown took longer than SHUTDOWN_GRACE (%s); uncommitted work will be redone", cfg.ShutdownGrace)
		}
	}
	if err != nil {
		return err
	}
	log.Info("shut down cleanly")
	return nil
}
