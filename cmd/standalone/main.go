// Command standalone runs the whole system in one process with no external services: an
// embedded Kafka-protocol broker on 127.0.0.1 (STANDALONE_KAFKA_ADDR), the front door on ADDR,
// the dispatcher's two consumer groups, and the headband simulator, with /metrics, /healthz and
// /readyz for all of them on ADMIN_ADDR. The services talk to the broker over TCP through the
// same kafka-go code as in production.
//
// Without Postgres and Debezium the simulator publishes the connector's change events itself
// (internal/headband/debeziumpub), and processed recordings are kept in memory
// (internal/memstore), or in Postgres when DATABASE_URL is set. Queued conversations are
// answered by the offline ELIZA responder unless OPENAI_API_KEY or OPENAI_BASE_URL is set.
//
// On SIGTERM or SIGINT it stops the simulator and the front door, lets the consumer groups
// finish and commit what they hold, closes the broker and exits 0, within SHUTDOWN_GRACE.
package main

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/signal"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"connectrpc.com/grpchealth"
	"golang.org/x/sync/errgroup"

	"github.com/beacon/eventdispatch/internal/admin"
	"github.com/beacon/eventdispatch/internal/config"
	"github.com/beacon/eventdispatch/internal/consumer"
	"github.com/beacon/eventdispatch/internal/dispatch"
	"github.com/beacon/eventdispatch/internal/eliza"
	"github.com/beacon/eventdispatch/internal/frontdoor"
	"github.com/beacon/eventdispatch/internal/gen/connectrpc/eliza/v1/elizav1connect"
	"github.com/beacon/eventdispatch/internal/headband"
	"github.com/beacon/eventdispatch/internal/headband/debeziumpub"
	"github.com/beacon/eventdispatch/internal/headband/simulate"
	"github.com/beacon/eventdispatch/internal/httpserve"
	"github.com/beacon/eventdispatch/internal/kafkaqueue"
	"github.com/beacon/eventdispatch/internal/logging"
	"github.com/beacon/eventdispatch/internal/queue"
	"github.com/beacon/eventdispatch/internal/worker"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "standalone:", err)
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

	// Every port is opened before anything starts, so a busy one is reported by its variable.
	rpcLn, err := httpserve.Listen(ctx, "rpc (ADDR)", cfg.Addr)
	if err != nil {
		return err
	}
	defer rpcLn.Close()
	adminLn, err := httpserve.Listen(ctx, "admin (ADMIN_ADDR)", cfg.AdminAddr)
	if err != nil {
		return err
	}
	defer adminLn.Close()
	kafkaLn, err := httpserve.Listen(ctx, "the embedded Kafka broker (STANDALONE_KAFKA_ADDR)", cfg.kafkaListenAddr())
	if err != nil {
		return err
	}
	broker, err := startBroker(kafkaLn, signalTopic, signalTopic+".dlq", jobsTopic, jobsTopic+".dlq", repliesTopic)
	if err != nil {
		_ = kafkaLn.Close()
		return fmt.Errorf("embedded Kafka broker: %w", err)
	}
	defer broker.Close() // last: every client below is closed before it
	brokers := []string{kafkaLn.Addr().String()}

	store, storeName, closeStore, err := newStore(ctx, cfg.DatabaseURL, log)
	if err != nil {
		return err
	}
	defer closeStore()

	reg := admin.NewRegistry()
	consumerMetrics := consumer.NewMetrics(reg)

	// The front door, as cmd/frontdoor wires it.
	health := grpchealth.NewStaticChecker(elizav1connect.ElizaServiceName)
	instance := fmt.Sprintf("standalone-%08x", rand.Uint32())
	router := kafkaqueue.NewRouter(brokers, repliesTopic, instance, 4*cfg.QueueLimit+16, reg, log)
	jobs := kafkaqueue.NewWriter(brokers, jobsTopic)
	defer jobs.Close()
	service := frontdoor.NewService(func() frontdoor.Responder { return eliza.New(rand.Uint64()) }).WithQueue(&frontdoor.Queue{
		Jobs: kafkaqueue.Jobs{W: jobs}, Replies: router, Gate: queue.NewGate(cfg.QueueLimit, 10000),
		Instance: instance, MaxHistory: cfg.ContextTurns, EnqueueTimeout: 5 * time.Second, Log: log,
	})
	rpcSrv := frontdoor.NewServer(cfg.Addr, frontdoor.NewHandler(frontdoor.Options{
		Service: service, Health: health, Metrics: frontdoor.NewMetrics(reg), Log: log,
	}))

	// The dispatcher's signal group, as cmd/dispatcher wires it, on the chosen store.
	signalDLQ := kafkaqueue.NewWriter(brokers, signalTopic+".dlq")
	defer signalDLQ.Close()
	dispatchMetrics := dispatch.NewMetrics(reg)
	signals := consumer.New(consumer.Config{
		Brokers: brokers, GroupID: "dispatcher-signals", Topic: signalTopic,
		SessionTimeout: 6 * time.Second, HandleTimeout: cfg.ShutdownGrace / 2,
		Metrics: consumerMetrics, Log: log,
	}, dispatch.NewHandler(store, signalDLQ, dispatchMetrics, log))

	// The dispatcher's conversation group: workers answering jobs with the model.
	model, err := worker.NewModel(cfg.Model, reg)
	if err != nil {
		return err
	}
	replies := kafkaqueue.NewWriter(brokers, repliesTopic)
	defer replies.Close()
	jobsDLQ := kafkaqueue.NewWriter(brokers, jobsTopic+".dlq")
	defer jobsDLQ.Close()
	pool := worker.NewPool(cfg.Workers, model, kafkaqueue.Replies{W: replies}, jobsDLQ, worker.NewMetrics(reg), log)
	defer pool.Wait() // before the writers close
	conversations := consumer.NewPipelined(consumer.Config{
		Brokers: brokers, GroupID: "dispatcher-llm", Topic: jobsTopic, BatchSize: 4 * cfg.Workers,
		SessionTimeout: 6 * time.Second, HandleTimeout: cfg.ShutdownGrace / 2,
		Metrics: consumerMetrics, Log: log,
	}, pool)

	// The headband simulator, publishing what Debezium would.
	signalWriter := debeziumpub.NewKafkaWriter(brokers, signalTopic)
	defer signalWriter.Close()
	seed := rand.Uint64()
	if cfg.HeadbandSeed != nil {
		seed = *cfg.HeadbandSeed
	}
	sim := simulate.New(simulate.Config{
		Interval: cfg.HeadbandInterval, MaxInFlight: 16, RetryFor: 30 * time.Second, Grace: cfg.ShutdownGrace / 2,
	}, headband.NewGenerator(seed, cfg.HeadbandMaxPause), debeziumpub.New(signalWriter, signalTopic), log, simulate.NewMetrics(reg))

	var draining atomic.Bool
	adminSrv := admin.NewServer(cfg.AdminAddr, admin.NewHandler(reg, func() error {
		if draining.Load() {
			return errors.New("shutting down")
		}
		return ready(store, signals, conversations, router)
	}))

	banner{
		rpc: rpcLn.Addr(), admin: adminLn.Addr(), kafka: kafkaLn.Addr(), store: storeName,
		model: describeModel(cfg.Model, log), interval: cfg.HeadbandInterval, maxPause: cfg.HeadbandMaxPause,
	}.print(os.Stdout)
	log.Info("standalone starting", "kafka", brokers[0], "headband_seed", seed)

	g, gctx := errgroup.WithContext(ctx)
	// The admin port outlives the rest, for probes while draining; replies are read until the
	// RPC server has drained, so streams finishing get theirs.
	adminCtx, stopAdmin := context.WithCancel(context.WithoutCancel(ctx))
	defer stopAdmin()
	routerCtx, stopRouter := context.WithCancel(context.WithoutCancel(ctx))
	defer stopRouter()
	var work sync.WaitGroup
	g.Go(func() error {
		<-gctx.Done()
		stop() // a second signal now ends the process at once
		draining.Store(true)
		health.SetStatus("", grpchealth.StatusNotServing)
		health.SetStatus(elizav1connect.ElizaServiceName, grpchealth.StatusNotServing)
		log.Info("shutting down", "grace", cfg.ShutdownGrace)
		return nil
	})
	work.Go(func() { sim.Run(gctx) })
	work.Go(func() { _ = signals.Run(gctx) })
	work.Go(func() { _ = conversations.Run(gctx) })
	work.Go(func() { dispatch.WatchIncomplete(gctx, store, cfg.IncompleteAfter, dispatchMetrics, log) })
	g.Go(func() error {
		defer stopRouter()
		return httpserve.Serve(gctx, log, "rpc", rpcSrv, rpcLn, cfg.ShutdownGrace)
	})
	g.Go(func() error { return router.Run(routerCtx) })
	g.Go(func() error {
		work.Wait()
		<-routerCtx.Done()
		stopAdmin()
		return nil
	})
	g.Go(func() error { return httpserve.Serve(adminCtx, log, "admin", adminSrv, adminLn, cfg.ShutdownGrace) })

	waited := make(chan error, 1)
	go func() { waited <- g.Wait() }()
	select {
	case err = <-waited:
	case <-ctx.Done():
		select {
		case err = <-waited:
		case <-time.After(2 * cfg.ShutdownGrace):
			return fmt.Errorf("shutdown took longer than twice SHUTDOWN_GRACE (%s)", cfg.ShutdownGrace)
		}
	}
	if err != nil {
		return err
	}
	log.Info("shut down cleanly")
	return nil
}

// ready reports why the process should not get traffic yet, or nil.
func ready(store signalStore, signals, conversations *consumer.Group, router *kafkaqueue.Router) error {
	switch {
	case !signals.Joined():
		return errors.New("not in consumer group dispatcher-signals yet")
	case !conversations.Joined():
		return errors.New("not in consumer group dispatcher-llm yet")
	case !router.Ready():
		return errors.New("not reading the replies topic yet")
	}
	pingCtx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	if err := store.Ping(pingCtx); err != nil {
		return fmt.Errorf("database unreachable: %w", err)
	}
	return nil
}
