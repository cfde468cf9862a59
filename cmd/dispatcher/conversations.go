package main

import (
	"log/slog"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/beacon/eventdispatch/internal/consumer"
	"github.com/beacon/eventdispatch/internal/kafkaqueue"
	"github.com/beacon/eventdispatch/internal/worker"
)

// newConversations wires the queued-conversation worker pool: consumer group LLM_GROUP_ID on
// JOBS_TOPIC, replies to REPLIES_TOPIC, failed jobs copied to JOBS_TOPIC.dlq.
func newConversations(cfg settings, cm *consumer.Metrics, reg prometheus.Registerer, log *slog.Logger) (*consumer.Group, func(), error) {
	model, err := worker.NewModel(cfg.Model, reg)
	if err != nil {
		return nil, nil, err
	}
	if cfg.Model.Offline() {
		log.Info("no OPENAI_API_KEY or OPENAI_BASE_URL: answering queued conversations with the offline ELIZA responder")
	} else {
		log.Info("answering queued conversations with an OpenAI-compatible API", "base_url", cfg.Model.BaseURL, "model", cfg.Model.Model)
	}
	replies := kafkaqueue.NewWriter(cfg.KafkaBrokers, cfg.RepliesTopic)
	dead := kafkaqueue.NewWriter(cfg.KafkaBrokers, cfg.JobsTopic+".dlq")
	dead.AllowAutoTopicCreation = true
	pool := worker.NewPool(cfg.Workers, model, kafkaqueue.Replies{W: replies}, dead, worker.NewMetrics(reg), log)
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
	}, nil
}
