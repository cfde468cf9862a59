package app

import (
	"context"
	"fmt"

	"github.com/beacon/eventdispatch/internal/consumer"
	"github.com/beacon/eventdispatch/internal/kafkabus"
	"github.com/beacon/eventdispatch/internal/kafkaqueue"
	"github.com/beacon/eventdispatch/internal/lifecycle"
	"github.com/beacon/eventdispatch/internal/worker"
)

// AddConversations adds the dispatcher's conversation workers: consumer group LLM_GROUP_ID on
// JOBS_TOPIC, at most WORKERS model calls at once, every job answered on REPLIES_TOPIC, failed
// and undecodable jobs copied to JOBS_TOPIC.dlq. The process is ready once it is in the group.
func (s *System) AddConversations(cfg Conversations, groups Groups, topics QueueTopics, bus *kafkabus.Bus) error {
	model, err := s.newModel(cfg.Model)
	if err != nil {
		return err
	}
	metrics := worker.NewMetrics(s.Registry)
	replies := bus.Writer(topics.Replies)
	dlqTopic := kafkabus.DeadLetterTopic(topics.Jobs)
	dlq := bus.Writer(dlqTopic)
	pool := worker.NewPool(cfg.Workers, model, kafkaqueue.Replies{W: replies}, metrics, s.Log)
	s.OnClose(func() { _ = replies.Close(); _ = dlq.Close() })
	// Up to four jobs per worker are fetched ahead, so a worker never waits for the next.
	group := consumer.NewPipelined(s.groupConfig(bus, groups, cfg.GroupID, topics.Jobs, 4*cfg.Workers), kafkabus.Each(kafkabus.NewDeadLetters(dlq, metrics.DeadLettered(), s.Log), worker.Decode, pool.Process))

	s.addWork(lifecycle.Task{Name: "conversation group", Run: func(ctx, drain context.Context) error {
		bus.AwaitTopics(ctx, s.Log, topics.Jobs, topics.Replies, dlqTopic)
		err := group.Run(ctx)
		// Model calls the group stopped waiting for (HandleTimeout) may still finish and
		// publish their replies before the writers close, while the drain lasts. Their jobs
		// are uncommitted either way, and will be redone.
		finished := make(chan struct{})
		go func() { pool.Wait(); close(finished) }()
		select {
		case <-finished:
		case <-drain.Done():
			s.Log.Warn("model calls still running at the shutdown deadline; their jobs will be redone")
		}
		return err
	}})
	s.addReady(func(context.Context) error {
		if !group.Joined() {
			return fmt.Errorf("not in consumer group %s yet", cfg.GroupID)
		}
		return nil
	})
	return nil
}
