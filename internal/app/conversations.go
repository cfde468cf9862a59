package app

import (
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"time"

	"github.com/beacon/eventdispatch/internal/access"
	"github.com/beacon/eventdispatch/internal/consumer"
	"github.com/beacon/eventdispatch/internal/kafkabus"
	"github.com/beacon/eventdispatch/internal/lifecycle"
	"github.com/beacon/eventdispatch/internal/llm"
	"github.com/beacon/eventdispatch/internal/transcript"
	"github.com/beacon/eventdispatch/internal/worker"
)

// AddConversations adds the dispatcher's conversation workers: consumer group LLM_GROUP_ID on
// JOBS_TOPIC, at most WORKERS model calls at once, every job's outcome recorded in store (and
// its model tokens in the Postgres at databaseURL, when set), failed
// and undecodable jobs copied to JOBS_TOPIC.dlq; and the sweep that deletes conversations idle
// longer than CONVERSATION_TTL. The process is ready once it is in the group.
func (s *System) AddConversations(ctx context.Context, cfg Conversations, groups Groups, topics QueueTopics, bus *kafkabus.Bus, store transcript.Store, databaseURL string) error {
	model, err := s.newModel(cfg.Model)
	if err != nil {
		return err
	}
	var usage worker.Usage // the model tokens each client spends, where there is a database to count them in
	if databaseURL != "" {
		pool, err := s.pool(ctx, databaseURL)
		if err != nil {
			return err
		}
		usage = access.NewStore(pool)
	}
	metrics := worker.NewMetrics(s.Registry)
	dlqTopic := kafkabus.DeadLetterTopic(topics.Jobs)
	dlq := bus.Writer(dlqTopic)
	s.OnClose(func() { _ = dlq.Close() })
	pool := worker.NewPool(worker.Config{
		Workers: cfg.Workers, ContextTurns: cfg.ContextTurns, Model: model, Free: llm.NewOffline(rand.Uint64()),
		Transcript: store, Usage: usage, Metrics: metrics, Log: s.Log,
	})
	// Up to four jobs per worker are fetched ahead, so a worker never waits for the next.
	group := consumer.NewPipelined(s.groupConfig(bus, groups, cfg.GroupID, topics.Jobs, 4*cfg.Workers), kafkabus.Each(kafkabus.NewDeadLetters(dlq, metrics.DeadLettered(), s.Log), worker.Decode, pool.Process))

	s.addWork(lifecycle.Task{Name: "conversation group", Run: func(ctx, drain context.Context) error {
		bus.AwaitTopics(ctx, s.Log, topics.Jobs, dlqTopic)
		err := group.Run(ctx)
		// Model calls the group stopped waiting for (HandleTimeout) may still finish and
		// record their outcomes while the drain lasts. Their jobs are uncommitted either way,
		// and a redo finds an outcome that was recorded.
		finished := make(chan struct{})
		go func() { pool.Wait(); close(finished) }()
		select {
		case <-finished:
		case <-drain.Done():
			s.Log.Warn("model calls still running at the shutdown deadline; their jobs will be redone")
		}
		return err
	}})
	s.addWork(task("conversation expiry", func(ctx context.Context) error {
		expire(ctx, store, s.Log)
		return nil
	}))
	s.addReady(func(context.Context) error {
		if !group.Joined() {
			return fmt.Errorf("not in consumer group %s yet", cfg.GroupID)
		}
		return nil
	})
	return nil
}

// expireBatch bounds one delete of idle conversations.
const expireBatch = 1000

// expire deletes idle conversations every minute, in batches, until ctx is done. Several
// replicas doing it at once only share the work.
func expire(ctx context.Context, store transcript.Store, log *slog.Logger) {
	tick := time.NewTicker(time.Minute)
	defer tick.Stop()
	for {
		for {
			n, err := store.Expire(ctx, expireBatch)
			if err != nil {
				if ctx.Err() == nil {
					log.Warn("cannot delete expired conversations", "error", err)
				}
				break
			}
			if n > 0 {
				log.Info("expired conversations deleted", "conversations", n)
			}
			if n < expireBatch {
				break
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}
