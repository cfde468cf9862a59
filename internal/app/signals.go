package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/segmentio/kafka-go"

	"github.com/beacon/eventdispatch/internal/consumer"
	"github.com/beacon/eventdispatch/internal/debezium"
	"github.com/beacon/eventdispatch/internal/dispatch"
	"github.com/beacon/eventdispatch/internal/kafkabus"
	"github.com/beacon/eventdispatch/internal/pgstore"
	"github.com/beacon/eventdispatch/internal/pguuid"
	"github.com/beacon/eventdispatch/internal/recording"
	"github.com/beacon/eventdispatch/internal/sleep"
	"github.com/beacon/eventdispatch/internal/transcript/pgtranscript"
	"github.com/beacon/eventdispatch/migrations"
)

// pingTimeout bounds the database check behind /readyz, below a typical probe timeout.
const pingTimeout = time.Second

// OpenPostgres returns the dispatcher's store in the Postgres at url.
func (s *System) OpenPostgres(ctx context.Context, url string) (*pgstore.Store, error) {
	pool, err := s.pool(ctx, url)
	if err != nil {
		return nil, err
	}
	return pgstore.New(pool, recording.DefaultRule(), pgstore.ProcessedRecordingWriter{}), nil
}

// defaultPoolConns is the most connections a process's pool opens unless DATABASE_URL says
// otherwise (pool_max_conns).
const defaultPoolConns = 16

// defaultPoolMinConns is how many connections a process's pool opens at start and keeps,
// unless DATABASE_URL says otherwise (pool_min_conns): a burst after a quiet spell then finds
// them ready instead of opening them while it waits (BENCHMARKS.md, "Eleventh round").
const defaultPoolMinConns = 4

// checkWithin bounds the check of a database at start (migrations.Check).
const checkWithin = 10 * time.Second

// pool returns the process's connection pool to url, one per URL. A database that refuses
// the credentials, does not exist or is not migrated stops the process here, naming
// DATABASE_URL: with it, the process would take its share of the partitions and fail every
// batch of them. One that is not up yet is retried by the work, not fatal here.
func (s *System) pool(ctx context.Context, url string) (*pgxpool.Pool, error) {
	if p, ok := s.pools[url]; ok {
		return p, nil
	}
	cfg, err := poolConfig(url, s.queue)
	if err != nil {
		return nil, err
	}
	p, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("DATABASE_URL: %w", err)
	}
	checkCtx, cancel := context.WithTimeout(ctx, checkWithin)
	defer cancel()
	if err := migrations.Check(checkCtx, p); errors.Is(err, migrations.ErrUnusable) {
		p.Close()
		return nil, fmt.Errorf("DATABASE_URL: %w", err)
	} else if err != nil {
		s.Log.Warn("cannot check the database at start; going on, and checking it again until it answers", "error", err)
		s.addWork(task("database check", func(ctx context.Context) error { return recheck(ctx, p, s.Log) }))
	}
	if s.pools == nil {
		s.pools = map[string]*pgxpool.Pool{}
	}
	s.pools[url] = p
	s.OnClose(p.Close)
	return p, nil
}

// poolConfig is url's pool configuration, with the process's defaults for the sizes the URL
// does not give, and its connections naming queue, the process's JOBS_TOPIC, when it has one:
// the jobs they add are that topic's, and its sweep of lost jobs takes only those
// (pgtranscript.SetQueue).
func poolConfig(url, queue string) (*pgxpool.Config, error) {
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("DATABASE_URL: %w", err)
	}
	if !strings.Contains(url, "pool_max_conns") {
		// pgx's default is the number of CPUs (4 at least): too few for a front door with
		// many streams, each a few short statements per sentence (bench-llm).
		cfg.MaxConns = defaultPoolConns
	}
	if !strings.Contains(url, "pool_min_conns") {
		// Its connections are opened in the background: a database not up yet fails nothing.
		cfg.MinConns = min(defaultPoolMinConns, cfg.MaxConns)
	}
	cfg.AfterConnect = pguuid.AfterConnect
	if queue != "" {
		pgtranscript.SetQueue(&cfg.ConnConfig.Config, queue)
	}
	return cfg, nil
}

// AddSignals adds the dispatcher's signal group: consumer group GROUP_ID on SIGNAL_TOPIC,
// applying Debezium's change events to store in batches and running process_record for every
// recording that becomes complete, with undecodable events copied to SIGNAL_TOPIC.dlq; and
// the watch that reports recordings still incomplete after INCOMPLETE_AFTER. The process is
// ready once it is in the group and the store answers.
func (s *System) AddSignals(cfg Signals, groups Groups, bus *kafkabus.Bus, store dispatch.StateStore) {
	metrics := dispatch.NewMetrics(s.Registry)
	dlqTopic := kafkabus.DeadLetterTopic(cfg.Topic)
	dlq := bus.Writer(dlqTopic)
	s.OnClose(func() { _ = dlq.Close() })
	if pg, ok := store.(*pgstore.Store); ok {
		store = pg.ForGroup(cfg.GroupID) // its progress apart from other groups' on the database
	}
	handler := dispatch.NewHandler(store, metrics, s.Log)
	cc := s.groupConfig(bus, groups, cfg.GroupID, cfg.Topic, cfg.BatchSize)
	cc.Linger, cc.BatchBytes = cfg.BatchLinger, cfg.BatchBytes
	group := consumer.New(cc, metrics.Counted(kafkabus.Batches(kafkabus.NewDeadLetters(dlq, metrics.DeadLettered(), s.Log), dispatch.Decode, handler.Handle)))

	s.addWork(task("signal group", func(ctx context.Context) error {
		created, err := bus.AwaitTopics(ctx, s.Log, "SIGNAL_TOPIC", cfg.Topic, dlqTopic)
		if err != nil {
			return err
		}
		if slices.Contains(created, cfg.Topic) {
			// Normal on a stack's first start, before Debezium's first change; else a name
			// mistyped, which would leave the group idle and ready, reading nothing.
			s.Log.Info("SIGNAL_TOPIC did not exist, and nothing had written to it: if Debezium's connector writes to another topic, SIGNAL_TOPIC names the wrong one", "topic", cfg.Topic)
		}
		return groupErr(group.Run(ctx))
	}))
	s.addWork(task("incomplete-recording watch", func(ctx context.Context) error {
		dispatch.WatchIncomplete(ctx, store, cfg.IncompleteAfter, group.Partitions, s.captured, metrics, s.Log)
		return nil
	}))
	s.addReady(func(ctx context.Context) error {
		if !group.Joined() {
			return fmt.Errorf("not in consumer group %s yet", cfg.GroupID)
		}
		ctx, cancel := context.WithTimeout(ctx, pingTimeout)
		defer cancel()
		if err := store.Ping(ctx); err != nil {
			return fmt.Errorf("database unreachable: %w", err)
		}
		return nil
	})
}

// AddCaptureWatch adds the watch of Debezium's heartbeat (CAPTURE_HEARTBEAT_TOPIC), for
// dispatcher_capture_heartbeat_timestamp_seconds, the CaptureStalled alert and the wait of
// the incomplete-recording report; none when it is NoCaptureWatch. A heartbeat message's time
// is the one it holds (debezium.CapturedAt: how far capture has streamed the WAL), any other
// record's its own (that capture ran then).
func (s *System) AddCaptureWatch(cfg Capture, bus *kafkabus.Bus) {
	if cfg.topic() == "" {
		return
	}
	brokers := bus.Brokers()
	w := dispatch.NewCaptureWatch(s.Registry, cfg.topic(), func(ctx context.Context, topic string) (time.Time, error) {
		return kafkabus.LastRecordTimeBy(ctx, brokers, topic, heartbeatTime)
	})
	s.capture = w
	s.addWork(task("capture watch", func(ctx context.Context) error {
		w.Run(ctx, s.Log)
		return nil
	}))
}

// heartbeatTime is the time of a record of CAPTURE_HEARTBEAT_TOPIC: a heartbeat message's own
// (debezium.CapturedAt), or its record's for a record of Debezium's heartbeat topic. A message
// it cannot read is an error, not its record's time, which would say capture had got as far as
// the clock while it still streamed a backlog; so is a time over heartbeatAhead past its
// record's (milliseconds taken for seconds), which would hold off CaptureStalled and the
// incomplete-recording report's wait for good, the newest read never passed. A time a little
// past its record's (the database's clock ahead of Connect's) is taken as the record's.
func heartbeatTime(m kafka.Message) (time.Time, error) {
	at, err := debezium.CapturedAt(m.Value)
	switch {
	case errors.Is(err, debezium.ErrNotAMessage):
		return m.Time, nil
	case err != nil:
		return time.Time{}, fmt.Errorf("%s/%d at offset %d: %w", m.Topic, m.Partition, m.Offset, err)
	case at.After(m.Time.Add(heartbeatAhead)):
		return time.Time{}, fmt.Errorf("%s/%d at offset %d: a heartbeat message that says %s, %s after its record was written",
			m.Topic, m.Partition, m.Offset, at.UTC().Format(time.RFC3339Nano), at.Sub(m.Time).Round(time.Second))
	case at.After(m.Time):
		return m.Time, nil
	}
	return at, nil
}

// heartbeatAhead is how far past its record's time a heartbeat message's may be (heartbeatTime).
const heartbeatAhead = time.Minute

// captured says how far change capture was last seen to have got (dispatch.CaptureWatch.Newest),
// zero without a capture watch.
func (s *System) captured() time.Time {
	if s.capture == nil {
		return time.Time{}
	}
	return s.capture.Newest()
}

// recheck checks the database at the other end of pool until it can tell (migrations.Check),
// as pool does at start when it could not: a database that came up unmigrated ends the
// process, naming DATABASE_URL, rather than fail every batch of the partitions it took, ready
// all the while. One found usable is not checked again; recheck then returns when ctx ends.
func recheck(ctx context.Context, pool *pgxpool.Pool, log *slog.Logger) error {
	for wait := time.Second; ; wait = min(2*wait, 10*time.Second) {
		if sleep.For(ctx, wait) != nil {
			return nil
		}
		checkCtx, cancel := context.WithTimeout(ctx, checkWithin)
		err := migrations.Check(checkCtx, pool)
		cancel()
		switch {
		case errors.Is(err, migrations.ErrUnusable):
			return fmt.Errorf("DATABASE_URL: %w", err)
		case err == nil:
			log.Info("database checked: usable")
			<-ctx.Done()
			return nil
		}
	}
}
