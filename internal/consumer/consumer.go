// Package consumer runs a Kafka consumer group whose offsets are committed only after the
// work they cover is done. It is the one place where partitions, generations and offsets are
// handled; the work itself is a Handler that sees batches of one partition's messages.
//
// It uses kafka-go's ConsumerGroup and per-partition readers rather than the group Reader so
// that every commit carries the generation it was earned in: after a rebalance, a commit from
// the previous owner of a partition is refused by the coordinator instead of overwriting the
// new owner's progress.
//
// Two modes. In batch mode (New) each assigned partition's messages are read in order and
// handed to a Handler in batches (up to BatchSize, gathered for at most Linger). A batch that
// fails is retried with exponential backoff and jitter until it succeeds or the partition is
// taken away; only then is offset+1 of its last message committed. In pipelined mode
// (NewPipelined) messages go to a Processor as they arrive, up to BatchSize outstanding per
// partition, finish in any order, and the group commits the lowest offset not yet finished.
// Either way a crash, kill -9, rebalance or outage at any point redelivers at most the work not
// yet committed — handlers must be idempotent — and never skips any.
package consumer

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cenkalti/backoff/v5"
	"github.com/segmentio/kafka-go"
)

// Handler does the work for a batch of one partition's messages, in offset order. It returns
// nil only when the batch's effects are durable. It is called again with the same batch after
// an error, and may see a batch again after a restart or rebalance.
type Handler interface {
	HandleBatch(ctx context.Context, partition int, msgs []kafka.Message) error
}

// Defaults of Config's fields, also the defaults of the settings the binaries read for them
// (internal/app).
const (
	DefaultBatchSize      = 500
	DefaultLinger         = 5 * time.Millisecond
	DefaultSessionTimeout = 10 * time.Second
	DefaultHandleTimeout  = 30 * time.Second
	DefaultMaxBackoff     = 10 * time.Second
)

// Config configures a Group. Zero values take the Default* constants above.
type Config struct {
	Brokers []string
	GroupID string
	Topic   string
	// BatchSize caps the messages per batch (in pipelined mode: outstanding per partition).
	BatchSize int
	// Linger is how long a batch may wait for more messages after its first.
	Linger time.Duration
	// SessionTimeout is how long the coordinator waits for a silent member (one killed with
	// kill -9) before handing its partitions to others.
	SessionTimeout time.Duration
	// HandleTimeout bounds one attempt of a batch, and at shutdown the wait for work in hand.
	HandleTimeout time.Duration
	// MaxBackoff caps the wait between attempts of a failing batch, and between attempts to
	// join the group.
	MaxBackoff time.Duration
	// Metrics, if set, receive lag, commit and retry counts.
	Metrics *Metrics
	// Log receives rebalances, retries and errors.
	Log *slog.Logger
}

func (c *Config) defaults() {
	if c.BatchSize <= 0 {
		c.BatchSize = DefaultBatchSize
	}
	if c.Linger <= 0 {
		c.Linger = DefaultLinger
	}
	if c.SessionTimeout <= 0 {
		c.SessionTimeout = DefaultSessionTimeout
	}
	if c.HandleTimeout <= 0 {
		c.HandleTimeout = DefaultHandleTimeout
	}
	if c.MaxBackoff <= 0 {
		c.MaxBackoff = DefaultMaxBackoff
	}
	if c.Log == nil {
		c.Log = slog.New(slog.DiscardHandler)
	}
}

// Group consumes a topic as a member of a consumer group.
type Group struct {
	cfg       Config
	handler   Handler   // batch mode (New)
	processor Processor // pipelined mode (NewPipelined)
	joined    atomic.Bool
}

// New returns a Group that will hand batches to h.
func New(cfg Config, h Handler) *Group {
	cfg.defaults()
	return &Group{cfg: cfg, handler: h}
}

// Joined reports whether the member currently holds a generation (with or without partitions).
func (g *Group) Joined() bool { return g.joined.Load() }

// Run consumes until ctx is done. Then each partition finishes and commits the batch in hand
// (bounded by HandleTimeout), the member leaves the group, and Run returns nil. Kafka being
// unreachable is retried, not returned.
func (g *Group) Run(ctx context.Context) error {
	log := g.cfg.Log.With("group", g.cfg.GroupID, "topic", g.cfg.Topic)
	group, err := kafka.NewConsumerGroup(kafka.ConsumerGroupConfig{
		ID:          g.cfg.GroupID,
		Brokers:     g.cfg.Brokers,
		Topics:      []string{g.cfg.Topic},
		StartOffset: kafka.FirstOffset,
		// Partitions added to the topic start a new generation that includes them.
		WatchPartitionChanges: true,
		SessionTimeout:        g.cfg.SessionTimeout,
		RebalanceTimeout:      g.cfg.HandleTimeout + 5*time.Second,
		HeartbeatInterval:     g.cfg.SessionTimeout / 5,
		JoinGroupBackoff:      time.Second,
		ErrorLogger:           kafka.LoggerFunc(func(msg string, args ...any) { log.Debug("kafka-go: " + fmt.Sprintf(msg, args...)) }),
	})
	if err != nil {
		return fmt.Errorf("consumer group %s: %w", g.cfg.GroupID, err)
	}
	defer group.Close() // leaves the group so partitions move at once

	retry := g.newBackoff()
	for {
		gen, err := group.Next(ctx)
		if ctx.Err() != nil {
			return nil
		}
		if err != nil {
			wait := retry.NextBackOff()
			log.Warn("cannot join consumer group; retrying", "error", err, "retry_in", wait)
			if !sleep(ctx, wait) {
				return nil
			}
			continue
		}
		retry.Reset()
		g.runGeneration(ctx, group, gen, log)
	}
}

// runGeneration consumes the generation's partitions until it ends or ctx is done. At
// shutdown the generation is kept until every partition has committed its work in hand:
// kafka-go ends a generation, and stops its heartbeats, as soon as any function started in it
// returns, so a partition with nothing in hand would otherwise let the session expire under
// one still finishing, whose commit the coordinator would then refuse. Closing the group
// before the generation ends also makes the member leave instead of joining once more.
func (g *Group) runGeneration(ctx context.Context, group *kafka.ConsumerGroup, gen *kafka.Generation, log *slog.Logger) {
	assigned := gen.Assignments[g.cfg.Topic]
	partitions := make([]int, len(assigned))
	for i, a := range assigned {
		partitions[i] = a.ID
	}
	log.Info("joined consumer group", "generation", gen.ID, "member", gen.MemberID, "partitions", partitions)
	g.joined.Store(true)
	done := make(chan struct{})
	var finishing sync.WaitGroup
	for _, a := range assigned {
		finishing.Add(1)
		gen.Start(func(genCtx context.Context) {
			g.consumePartition(ctx, genCtx, gen, a, log.With("partition", a.ID))
			finishing.Done()
			if ctx.Err() != nil {
				<-genCtx.Done() // shutting down: hold the generation until the group is closed
			}
		})
	}
	if len(assigned) == 0 {
		// Hold the generation until it ends, so Next is not called in a loop.
		gen.Start(func(genCtx context.Context) { <-genCtx.Done() })
	}
	gen.Start(func(genCtx context.Context) {
		<-genCtx.Done()
		close(done)
	})
	select {
	case <-done:
	case <-ctx.Done():
		finishing.Wait()
		_ = group.Close() // ends the generation and leaves the group
		<-done
	}
	g.joined.Store(false)
	log.Info("consumer group generation ended", "generation", gen.ID)
}

// sleep waits for d or ctx, reporting whether the wait completed.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

func (g *Group) newBackoff() *backoff.ExponentialBackOff {
	b := backoff.NewExponentialBackOff()
	b.InitialInterval = 100 * time.Millisecond
	b.MaxInterval = g.cfg.MaxBackoff
	b.RandomizationFactor = 1 // full jitter around the interval
	return b
}

func partitionLabel(p int) string { return strconv.Itoa(p) }

var errStopped = errors.New("partition stopped")
