package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"math/rand/v2"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/beacon/eventdispatch/internal/consumer"
	"github.com/beacon/eventdispatch/internal/kafkaqueue"
	"github.com/beacon/eventdispatch/internal/llm"
	"github.com/beacon/eventdispatch/internal/queue"
	"github.com/beacon/eventdispatch/internal/worker"
)

// modelSettings configure the model and the policies between the queue and it.
type modelSettings struct {
	APIKey          string        `env:"OPENAI_API_KEY"`
	BaseURL         string        `env:"OPENAI_BASE_URL"`
	Model           string        `env:"OPENAI_MODEL"`
	SystemPrompt    string        `env:"LLM_SYSTEM_PROMPT"`
	Timeout         time.Duration `env:"LLM_TIMEOUT" envDefault:"30s"`
	MaxAttempts     int           `env:"LLM_MAX_ATTEMPTS" envDefault:"4"`
	RPM             int           `env:"LLM_RPM" envDefault:"0"`
	TPM             int           `env:"LLM_TPM" envDefault:"0"`
	BreakerFailures int           `env:"LLM_BREAKER_FAILURES" envDefault:"5"`
	BreakerCooldown time.Duration `env:"LLM_BREAKER_COOLDOWN" envDefault:"30s"`
	MaxJobAge       time.Duration `env:"LLM_MAX_JOB_AGE" envDefault:"2m"`
}

func (m modelSettings) validate() error {
	var errs []error
	for name, d := range map[string]time.Duration{"LLM_TIMEOUT": m.Timeout, "LLM_BREAKER_COOLDOWN": m.BreakerCooldown, "LLM_MAX_JOB_AGE": m.MaxJobAge} {
		if d <= 0 {
			errs = append(errs, fmt.Errorf("%s: must be positive, got %s", name, d))
		}
	}
	for name, n := range map[string]int{"LLM_MAX_ATTEMPTS": m.MaxAttempts, "LLM_BREAKER_FAILURES": m.BreakerFailures} {
		if n < 1 {
			errs = append(errs, fmt.Errorf("%s: must be at least 1, got %d", name, n))
		}
	}
	for name, n := range map[string]int{"LLM_RPM": m.RPM, "LLM_TPM": m.TPM} {
		if n < 0 {
			errs = append(errs, fmt.Errorf("%s: must not be negative, got %d", name, n))
		}
	}
	return errors.Join(errs...)
}

// newModel returns the model call wrapped in the policy chain, built once per process so
// every worker shares one rate limiter and one breaker.
func newModel(m modelSettings, reg prometheus.Registerer, log *slog.Logger) (worker.Model, error) {
	var call llm.Call
	if m.APIKey == "" && m.BaseURL == "" {
		log.Info("no OPENAI_API_KEY or OPENAI_BASE_URL: answering queued conversations with the offline ELIZA responder")
		call = llm.NewOffline(rand.Uint64())
	} else {
		var err error
		call, err = llm.NewOpenAI(llm.OpenAIConfig{
			BaseURL: m.BaseURL, APIKey: m.APIKey, Model: m.Model,
			// Jobs carry the history the front door chose to send (CONTEXT_TURNS): send it all.
			SystemPrompt: m.SystemPrompt, MaxHistory: math.MaxInt32,
		})
		if err != nil {
			return nil, fmt.Errorf("model: %w", err)
		}
		log.Info("answering queued conversations with an OpenAI-compatible API", "base_url", m.BaseURL, "model", m.Model)
	}
	policy := llm.NewPolicy(call, llm.PolicyConfig{
		Timeout: m.Timeout, MaxAttempts: m.MaxAttempts, RPM: m.RPM, TPM: m.TPM,
		BreakerFailures: m.BreakerFailures, BreakerCooldown: m.BreakerCooldown, MaxJobAge: m.MaxJobAge,
	}, llm.NewMetrics(reg))
	return func(ctx context.Context, job queue.Job) (string, error) {
		history := make([]llm.Turn, len(job.History))
		for i, t := range job.History {
			history[i] = llm.Turn{Role: t.Role, Content: t.Content}
		}
		res, err := policy(ctx, llm.Request{
			JobID: job.ID, ConversationID: job.ConversationID, Sentence: job.Sentence,
			History: history, EnqueuedAt: job.EnqueuedAt,
		})
		return res.Text, err
	}, nil
}

// newConversations wires the queued-conversation worker pool: consumer group LLM_GROUP_ID on
// JOBS_TOPIC, replies to REPLIES_TOPIC, failed jobs copied to JOBS_TOPIC.dlq.
func newConversations(cfg settings, cm *consumer.Metrics, reg prometheus.Registerer, log *slog.Logger) (*consumer.Group, func(), error) {
	model, err := newModel(cfg.Model, reg, log)
	if err != nil {
		return nil, nil, err
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
