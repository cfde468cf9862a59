package main

import (
	"context"
	"log/slog"
	"math/rand/v2"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/beacon/eventdispatch/internal/consumer"
	"github.com/beacon/eventdispatch/internal/eliza"
	"github.com/beacon/eventdispatch/internal/kafkaqueue"
	"github.com/beacon/eventdispatch/internal/queue"
	"github.com/beacon/eventdispatch/internal/worker"
)

// newConversations wires the queued-conversation worker pool: consumer group LLM_GROUP_ID on
// JOBS_TOPIC, replies to REPLIES_TOPIC, failed jobs copied to JOBS_TOPIC.dlq.
func newConversations(cfg settings, cm *consumer.Metrics, reg prometheus.Registerer, log *slog.Logger) (*consumer.Group, func()) {
	replies := kafkaqueue.NewWriter(cfg.KafkaBrokers, cfg.RepliesTopic)
	dead := kafkaqueue.NewWriter(cfg.KafkaBrokers, cfg.JobsTopic+".dlq")
	dead.AllowAutoTopicCreation = true
	pool := worker.NewPool(cfg.Workers, offlineModel(log), kafkaqueue.Replies{W: replies}, dead, worker.NewMetrics(reg), log)
	group := consumer.NewPipelined(consumer.Config{
		Brokers:        cfg.KafkaBrokers,
		GroupID:        cfg.LLMGroupID,
		Topic:          cfg.JobsTopic,
		BatchSize:      4 * cfg.Workers,
		SessionTimeout: cfg.SessionTimeout,
		HandleTimeout:  cfg.ShutdownGrace / 2,
		Metrics:        cm,
		Log:            log,
	}, pool)
	return group, func() {
		pool.Wait()
		_ = replies.Close()
		_ = dead.Close()
	}
}

// offlineModel answers with the project's ELIZA engine: what runs when no model API is
// configured. Each job replays its conversation's earlier sentences into a fresh engine, so
// the answer depends on the conversation, not on which worker takes the job.
func offlineModel(log *slog.Logger) worker.Model {
	log.Info("no OPENAI_API_KEY or OPENAI_BASE_URL: answering queued conversations with the offline ELIZA responder")
	seed := rand.Uint64()
	return func(_ context.Context, job queue.Job) (string, error) {
		e := eliza.New(seed)
		for _, t := range job.History {
			if t.Role == "user" {
				e.Reply(t.Content)
			}
		}
		reply, _ := e.Reply(job.Sentence)
		return reply, nil
	}
}
