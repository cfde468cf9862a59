package app

import (
	"context"
	"fmt"

	"github.com/beacon/eventdispatch/internal/consumer"
	"github.com/beacon/eventdispatch/internal/kafkabus"
	"github.com/beacon/eventdispatch/internal/kafkaqueue"
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
	// Closers run in reverse: the pool's last replies are written before the writers close.
	s.OnClose(func() { _ = replies.Close(); _ = dlq.Close() })
	s.OnClose(pool.Wait)
	// Up to four jobs per worker are fetched ahead, so a worker never waits for the next.
	group := consumer.NewPipelined(s.groupConfig(bus, groups, cfg.GroupID, topics.Jobs, 4*cfg.Workers), kafkabus.Each(kafkabus.NewDeadLetters(dlq, metrics.DeadLettered(), s.Log), worker.Decode, pool.Process))

	s.addWork(task("conversation group", func(ctx context.Context) error {
		bus.AwaitTopics(ctx, s.Log, topics.Jobs, topics.Replies, dlqTopic)
		return group.Run(ctx)
	}))
	s.addReady(func(context.Context) error {
		if !group.Joined() {
			return fmt.Errorf("not in consumer group %s yet", cfg.GroupID)
		}
		return nil
	})
	return nil
}
