package app

import (
	"context"
	"errors"
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
// its model tokens in the Postgres at databaseURL, when set), failed and undecodable jobs
// copied to JOBS_TOPIC.dlq; and the sweep that expires conversations idle longer than ttl
// (CONVERSATION_TTL) and forgets them a ttl later, and deletes the token counts of jobs older
// than ttl; and the sweep that fails the jobs lost on the way to a worker (sweepLost). The
// process is ready once it is in the group.
func (s *System) AddConversations(ctx context.Context, cfg Conversations, groups Groups, topics QueueTopics, bus *kafkabus.Bus, store transcript.Store, ttl time.Duration, databaseURL string) error {
	model, err := s.newModel(ctx, cfg.Model)
	if err != nil {
		return err
	}
	// usage counts the model calls and tokens each client spends, where there is a database
	// to count them in and a model to spend them on: the offline responder, which answers
	// premium jobs when no model API is configured, is no model call, and GetUsage said it was.
	var usage worker.Usage
	var calls callCounts
	if databaseURL != "" {
		pool, err := s.pool(ctx, databaseURL)
		if err != nil {
			return err
		}
		counts := access.NewStore(pool)
		calls = counts
		if !cfg.Model.Offline() {
			usage = counts
		}
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
		if _, err := bus.AwaitTopics(ctx, s.Log, "JOBS_TOPIC", topics.Jobs, dlqTopic); err != nil {
			return err
		}
		err := groupErr(group.Run(ctx))
		// Model calls the group stopped waiting for (HandleTimeout) may still finish and
		// record their outcomes while the drain lasts. Their jobs are uncommitted either way,
		// and a redo finds an outcome that was recorded.
		finished := make(chan struct{})
		go func() { pool.Wait(); close(finished) }()
		select {
		case <-finished:
		case <-drain.Done():
			// The drain may have ended before the group did (an earlier stage took the
			// grace): the pool is asked, not the race between the two.
			if n := pool.Busy(); n > 0 {
				fate := "model calls still running at the shutdown deadline; their jobs will be redone"
				if s.brokerInMemory {
					fate = "model calls still running at the shutdown deadline; the broker is in memory, so their jobs are lost with the process"
				}
				s.Log.Warn(fate, "conversations", n)
			}
		}
		if s.brokerInMemory {
			s.warnUnanswered(ctx, bus, cfg.GroupID, topics.Jobs)
		}
		return err
	}})
	s.addWork(task("conversation expiry", func(ctx context.Context) error {
		expire(ctx, store, calls, ttl, s.Log)
		return nil
	}))
	s.addWork(task("lost jobs", func(ctx context.Context) error {
		// Once the topic is there: a dispatcher's first start creates it. The group's task
		// waits for it too, and says so while Kafka cannot be reached.
		if _, err := bus.AwaitTopics(ctx, slog.New(slog.DiscardHandler), "JOBS_TOPIC", topics.Jobs); err != nil {
			return err
		}
		sweepLost(ctx, lostSweep{
			store: store, after: cfg.LostAfter, metrics: metrics, log: s.Log,
			unread: func(ctx context.Context) (time.Time, error) {
				return kafkabus.OldestUnread(ctx, bus.Brokers(), cfg.GroupID, topics.Jobs)
			},
		})
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

// warnUnanswered says how many jobs the workers' group left unanswered on topic, which an
// embedded broker kept in memory loses with the process: those in hand at the end (logged
// above) and those still waiting their turn.
func (s *System) warnUnanswered(ctx context.Context, bus *kafkabus.Bus, group, topic string) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), closeWithin)
	defer cancel()
	n, err := kafkabus.Unread(ctx, bus.Brokers(), group, topic)
	switch {
	case err != nil && !errors.Is(err, kafkabus.ErrNoTopic):
		s.Log.Warn("cannot count the jobs left unanswered; the broker is in memory, so any are lost with the process", "error", err)
	case n > 0:
		s.Log.Warn("jobs left unanswered; the broker is in memory, so they are lost with the process", "jobs", n)
	}
}

// expireBatch bounds one Expire of idle conversations, or one delete of old token counts.
const expireBatch = 1000

// callCounts is what the sweep needs of access.Store: the per-job token counts, which are
// only there to count a job redone after a crash once, forgotten once no job can be redone.
type callCounts interface {
	ForgetModelCalls(ctx context.Context, olderThan time.Duration, batch int) (int, error)
}

// expire expires idle conversations (and forgets those expired a TTL ago) every minute, in
// batches, until ctx is done, and then, when calls is not nil, the token counts of jobs
// counted more than ttl ago (see access.Store.ForgetModelCalls for why that is long enough).
// Several replicas doing it at once only share the work.
func expire(ctx context.Context, store transcript.Store, calls callCounts, ttl time.Duration, log *slog.Logger) {
	tick := time.NewTicker(time.Minute)
	defer tick.Stop()
	for {
		sweep(ctx, log, "idle conversations expired or forgotten", "cannot expire idle conversations", store.Expire)
		if calls != nil {
			sweep(ctx, log, "old token counts deleted", "cannot delete old token counts", func(ctx context.Context, batch int) (int, error) {
				return calls.ForgetModelCalls(ctx, ttl, batch)
			})
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// lostSweep is what sweepLost needs.
type lostSweep struct {
	store worker.LostJobs
	// after is LOST_JOB_AFTER.
	after time.Duration
	// unread returns the time of the oldest job the workers' group has not read (zero: none),
	// kafkabus.OldestUnread.
	unread  func(ctx context.Context) (time.Time, error)
	metrics *worker.Metrics
	log     *slog.Logger
}

// lostMargin is how much older than the oldest job the workers have yet to read a job must
// be to count as lost. The job's age is from its reservation, by Postgres's clock; the record's
// time is the front door's clock when it wrote it, after the reservation by at most its
// ENQUEUE_TIMEOUT (5s by default; at most 30s); the dispatcher's clock reads both. With the
// clocks in step (NTP keeps them within milliseconds), a minute leaves room for all of it, and
// for records of several front doors, which a partition holds in the order they arrived, not
// of their times.
const lostMargin = time.Minute

// unreadTimeout bounds one question to Kafka of what the workers have read.
const unreadTimeout = 30 * time.Second

// sweepLost fails the jobs lost on the way to a worker (worker.FailLost) every minute, or every
// quarter of LOST_JOB_AFTER if that is shorter, until ctx is done. A job counts as lost once it
// is older than LOST_JOB_AFTER and than everything the workers' group has yet to read, with
// lostMargin to spare: the jobs of a backlog (the workers down for longer than LOST_JOB_AFTER,
// or behind) are still to be answered, not lost. What the group has read is asked again for
// each batch, so that a long sweep does not go by an answer older than its batch. When Kafka
// cannot say (or says it has no jobs topic, as a broker just restarted may), the sweep fails
// nothing, and logs so, at most once a tick. Replicas sweeping at once do not conflict: each
// job's error is recorded once.
func sweepLost(ctx context.Context, l lostSweep) {
	tick := time.NewTicker(min(time.Minute, max(l.after/4, 100*time.Millisecond)))
	defer tick.Stop()
	for {
		sweep(ctx, l.log, "lost jobs looked at", "cannot look for lost jobs", func(ctx context.Context, batch int) (int, error) {
			olderThan, err := l.cutoff(ctx)
			if err != nil {
				return 0, err
			}
			return worker.FailLost(ctx, l.store, olderThan, l.after, batch, l.metrics, l.log)
		})
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// cutoff is how old a job without an outcome must be, now, to count as lost.
func (l lostSweep) cutoff(ctx context.Context) (time.Duration, error) {
	ctx, cancel := context.WithTimeout(ctx, unreadTimeout)
	defer cancel()
	oldest, err := l.unread(ctx)
	if err != nil {
		return 0, fmt.Errorf("cannot tell which jobs the workers have read, so none is taken for lost: %w", err)
	}
	if oldest.IsZero() {
		return l.after, nil
	}
	return max(l.after, (time.Since(oldest) + lostMargin).Round(time.Second)), nil
}

// sweep runs del in batches of expireBatch until one deletes fewer, then logs as done what
// they deleted in all, if anything. A batch that fails stops it: the failure is logged as
// failed, with what was deleted before it, unless ctx ended, which logs what was deleted as
// done.
func sweep(ctx context.Context, log *slog.Logger, done, failed string, del func(ctx context.Context, batch int) (int, error)) {
	total, batches := 0, 0
	for {
		n, err := del(ctx, expireBatch)
		total += n
		if err != nil {
			if ctx.Err() == nil {
				log.Warn(failed, "error", err, "rows", total)
			} else if total > 0 { // stopped by the shutdown: what it did is still said
				log.Info(done, "rows", total, "batches", batches)
			}
			return
		}
		batches++
		if n < expireBatch {
			if total > 0 {
				log.Info(done, "rows", total, "batches", batches)
			}
			return
		}
	}
}
