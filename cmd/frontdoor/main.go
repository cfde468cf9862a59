// Command frontdoor serves connectrpc.eliza.v1.ElizaService over Connect, gRPC and gRPC-Web on
// ADDR, with gRPC reflection and health, and /metrics, /healthz and /readyz on ADMIN_ADDR.
// On SIGTERM or SIGINT it reports not-ready, stops accepting, lets open streams finish for up
// to SHUTDOWN_GRACE, then exits 0.
package main

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/signal"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"connectrpc.com/grpchealth"
	"golang.org/x/sync/errgroup"

	"github.com/beacon/eventdispatch/internal/admin"
	"github.com/beacon/eventdispatch/internal/config"
	"github.com/beacon/eventdispatch/internal/consumer"
	"github.com/beacon/eventdispatch/internal/eliza"
	"github.com/beacon/eventdispatch/internal/frontdoor"
	"github.com/beacon/eventdispatch/internal/gen/connectrpc/eliza/v1/elizav1connect"
	"github.com/beacon/eventdispatch/internal/httpserve"
	"github.com/beacon/eventdispatch/internal/kafkaqueue"
	"github.com/beacon/eventdispatch/internal/logging"
	"github.com/beacon/eventdispatch/internal/queue"
)

// instanceName names this process in jobs' reply_to: the host (the pod, in Kubernetes) and a
// random suffix, so a restarted process never receives its predecessor's replies.
func instanceName() string {
	host, err := os.Hostname()
	if err != nil || host == "" {
		host = "frontdoor"
	}
	return fmt.Sprintf("%s-%08x", host, rand.Uint32())
}

type settings struct {
	Addr           string        `env:"ADDR" envDefault:":8080"`
	AdminAddr      string        `env:"ADMIN_ADDR" envDefault:":9090"`
	ShutdownGrace  time.Duration `env:"SHUTDOWN_GRACE" envDefault:"20s"`
	KafkaBrokers   []string      `env:"KAFKA_BROKERS" envDefault:"localhost:9092" envSeparator:","`
	JobsTopic      string        `env:"JOBS_TOPIC" envDefault:"eliza.jobs"`
	RepliesTopic   string        `env:"REPLIES_TOPIC" envDefault:"eliza.replies"`
	QueueLimit     int           `env:"QUEUE_LIMIT" envDefault:"3"`
	MaxInflight    int           `env:"MAX_INFLIGHT" envDefault:"10000"`
	EnqueueTimeout time.Duration `env:"ENQUEUE_TIMEOUT" envDefault:"5s"`
	ContextTurns   int           `env:"CONTEXT_TURNS" envDefault:"10"`
	Log            logging.Config
}

// Validate checks the values, naming the variable that is wrong.
func (s settings) Validate() error {
	var errs []error
	if s.ShutdownGrace <= 0 {
		errs = append(errs, fmt.Errorf("SHUTDOWN_GRACE: must be positive, got %s", s.ShutdownGrace))
	}
	if s.EnqueueTimeout <= 0 {
		errs = append(errs, fmt.Errorf("ENQUEUE_TIMEOUT: must be positive, got %s", s.EnqueueTimeout))
	}
	if len(s.KafkaBrokers) == 0 || strings.TrimSpace(s.KafkaBrokers[0]) == "" {
		errs = append(errs, errors.New("KAFKA_BROKERS: no broker given"))
	}
	if s.QueueLimit < 1 {
		errs = append(errs, fmt.Errorf("QUEUE_LIMIT: must be at least 1, got %d", s.QueueLimit))
	}
	if s.MaxInflight < s.QueueLimit {
		errs = append(errs, fmt.Errorf("MAX_INFLIGHT: %d is below QUEUE_LIMIT %d", s.MaxInflight, s.QueueLimit))
	}
	if s.ContextTurns < 0 {
		errs = append(errs, fmt.Errorf("CONTEXT_TURNS: must not be negative, got %d", s.ContextTurns))
	}
	return errors.Join(errs...)
}

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "frontdoor:", err)
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
	health := grpchealth.NewStaticChecker(elizav1connect.ElizaServiceName)
	var draining atomic.Bool

	rpcLn, err := httpserve.Listen(ctx, "rpc (ADDR)", cfg.Addr)
	if err != nil {
		return err
	}
	adminLn, err := httpserve.Listen(ctx, "admin (ADMIN_ADDR)", cfg.AdminAddr)
	if err != nil {
		_ = rpcLn.Close()
		return err
	}
	instance := instanceName()
	router := kafkaqueue.NewRouter(cfg.KafkaBrokers, cfg.RepliesTopic, instance, 4*cfg.QueueLimit+16, reg, log)
	jobs := kafkaqueue.NewWriter(cfg.KafkaBrokers, cfg.JobsTopic)
	defer jobs.Close()
	service := frontdoor.NewService(func() frontdoor.Responder { return eliza.New(rand.Uint64()) }).WithQueue(&frontdoor.Queue{
		Jobs:           kafkaqueue.Jobs{W: jobs},
		Replies:        router,
		Gate:           queue.NewGate(cfg.QueueLimit, cfg.MaxInflight),
		Instance:       instance,
		MaxHistory:     cfg.ContextTurns,
		EnqueueTimeout: cfg.EnqueueTimeout,
		Log:            log,
	})
	rpcSrv := frontdoor.NewServer(cfg.Addr, frontdoor.NewHandler(frontdoor.Options{
		Service: service,
		Health:  health,
		Metrics: frontdoor.NewMetrics(reg),
		Log:     log,
	}))
	adminSrv := admin.NewServer(cfg.AdminAddr, admin.NewHandler(reg, func() error {
		if draining.Load() {
			return errors.New("shutting down")
		}
		return nil
	}))

	// The admin port outlives the RPC port so probes see "not ready" while streams drain.
	g, gctx := errgroup.WithContext(ctx)
	adminCtx, stopAdmin := context.WithCancel(context.WithoutCancel(ctx))
	defer stopAdmin()
	g.Go(func() error {
		<-gctx.Done()
		stop() // a second signal now ends the process at once
		draining.Store(true)
		health.SetStatus("", grpchealth.StatusNotServing)
		health.SetStatus(elizav1connect.ElizaServiceName, grpchealth.StatusNotServing)
		return nil
	})
	g.Go(func() error {
		defer stopAdmin()
		return httpserve.Serve(gctx, log, "rpc", rpcSrv, rpcLn, cfg.ShutdownGrace)
	})
	// Replies are read until the RPC server has drained, so streams finishing get theirs.
	routerCtx, stopRouter := context.WithCancel(context.WithoutCancel(ctx))
	defer stopRouter()
	g.Go(func() error {
		consumer.AwaitTopics(routerCtx, cfg.KafkaBrokers, 3, log, cfg.JobsTopic, cfg.RepliesTopic)
		return router.Run(routerCtx)
	})
	g.Go(func() error {
		// An admin failure fails the group, which stops the RPC server too.
		return httpserve.Serve(adminCtx, log, "admin", adminSrv, adminLn, cfg.ShutdownGrace)
	})
	go func() { <-adminCtx.Done(); stopRouter() }()
	if err := g.Wait(); err != nil {
		return err
	}
	log.Info("shut down cleanly")
	return nil
}
