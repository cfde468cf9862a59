package pgtranscript

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/beacon/eventdispatch/internal/pgname"
	"github.com/beacon/eventdispatch/internal/transcript"
)

// Store is the transcript in Postgres. Its methods are safe for concurrent use, and any number
// of Stores, in any number of processes, may share one database. Watch needs Listen running.
type Store struct {
	pool *pgxpool.Pool
	ttl  pgtype.Interval
	// listenConfig is what the listener's own connection is opened with.
	listenConfig *pgx.ConnConfig
	log          *slog.Logger
	hub          hub
	waker        *waker
	acceptor     *acceptor
	reserver     *reserver
	finisher     *finisher
	preparer     *preparer
}

var _ transcript.Store = (*Store)(nil)

// QueueSetting is the setting that names a connection's jobs topic (its queue), which every
// job the connection adds records (migration 00027), and by which Lost lists jobs.
const QueueSetting = "transcript.queue"

// SetQueue names the jobs topic of the connections made with cfg: the jobs they add are that
// queue's, and a Store on them lists only that queue's lost jobs (and those of no queue). The
// processes of one deployment share a topic; two on one database with topics of their own
// each see only their own.
func SetQueue(cfg *pgconn.Config, queue string) {
	if cfg.RuntimeParams == nil {
		cfg.RuntimeParams = map[string]string{}
	}
	cfg.RuntimeParams[QueueSetting] = queue
}

// New returns a Store on pool whose conversations expire after ttl without an append. The
// listener connects with pool's settings.
func New(pool *pgxpool.Pool, ttl time.Duration) *Store {
	cfg := pool.Config().ConnConfig
	pgname.Default(cfg, "pgtranscript listener")
	log := slog.New(slog.DiscardHandler)
	s := &Store{
		pool:         pool,
		ttl:          interval(ttl),
		listenConfig: cfg,
		log:          log,
		hub:          hub{channels: map[string]*channel{}},
		waker:        newWaker(pool, log),
	}
	s.acceptor = newAcceptor(pool, s.ttl, s.waker)
	s.reserver = newReserver(pool, s.ttl)
	s.finisher = newFinisher(pool, s.ttl, s.waker)
	s.preparer = newPreparer(pool, s.ttl)
	return s
}

// SetLog sets where Listen reports lost connections and reconnections, and where wake-ups
// that could not be sent are reported (nowhere by default). Call it before using the Store.
func (s *Store) SetLog(log *slog.Logger) { s.log, s.waker.log = log, log }

func interval(d time.Duration) pgtype.Interval {
	return pgtype.Interval{Microseconds: d.Microseconds(), Valid: true}
}

// Open implements transcript.Store.
func (s *Store) Open(ctx context.Context, id uuid.UUID, create bool, owner uuid.UUID) (transcript.Info, error) {
	var last uint64
	var by *uuid.UUID // NULL: no owner
	if owner != uuid.Nil {
		by = &owner
	}
	if err := s.pool.QueryRow(ctx, `SELECT transcript.open_conversation($1, $2, $3, $4)`, id, create, s.ttl, by).Scan(&last); err != nil {
		return transcript.Info{}, fmt.Errorf("open conversation %s: %w", id, gone(err))
	}
	return transcript.Info{ID: id, LastSerial: last}, nil
}

// last returns the last serial of a conversation that exists and is not idle, and
// transcript.ErrNotFound for any other.
func (s *Store) last(ctx context.Context, id uuid.UUID) (uint64, error) {
	var last uint64
	err := s.pool.QueryRow(ctx, `SELECT transcript.live_conversation($1, $2)`, id, s.ttl).Scan(&last)
	return last, gone(err)
}

// The SQLSTATEs the transcript's functions raise (migrations/00006_transcript_functions.sql
// and 00007_transcript_refuse.sql): no_data_found for a conversation that does not exist or
// is idle, too_many_rows for a job that was refused.
const (
	noDataFound = "P0002"
	tooManyRows = "P0003"
)

// gone is err, or transcript.ErrNotFound or ErrRefused for the SQLSTATEs that mean them.
func gone(err error) error {
	if pgErr, ok := errors.AsType[*pgconn.PgError](err); ok {
		switch pgErr.Code {
		case noDataFound:
			return transcript.ErrNotFound
		case tooManyRows:
			return transcript.ErrRefused
		}
	}
	return err
}

// Expire implements transcript.Store. A conversation whose row another transaction holds is
// skipped rather than waited for (so concurrent Expires do not queue behind each other); if it
// is idle, a later Expire takes it. Idle is for good: no method revives an idle conversation.
//
// An idle conversation is emptied (its jobs and events deleted) and its row kept as a
// tombstone (migration 00022): active_at -infinity, so that it is idle to every reader
// whatever its TTL, and expired_at now. The batch's room left after that goes to deleting the
// rows expired longer ago than the TTL.
//
// The victims are chosen and locked once, in a materialized CTE. Written as DELETE ... WHERE
// id IN (SELECT ... LIMIT n FOR UPDATE SKIP LOCKED), Postgres may plan a nested-loop semi
// join that runs the subquery again for each conversation it scans, and each run after a
// deletion skips the deleted row and returns another: a batch of 1 deleted 2 in CI.
func (s *Store) Expire(ctx context.Context, batch int) (int, error) {
	if batch <= 0 {
		return 0, nil
	}
	// Each emptied conversation's channel is notified (at the commit), so that the streams open
	// on it, on any process, read it and find it gone.
	var emptied int
	err := s.pool.QueryRow(ctx, `
		WITH idle AS MATERIALIZED (
		    SELECT id FROM transcript.conversation
		    WHERE active_at < now() - $1::interval AND active_at > '-infinity'
		    ORDER BY active_at LIMIT $2 FOR UPDATE SKIP LOCKED),
		jobs AS (
		    DELETE FROM transcript.job WHERE conversation = ANY (ARRAY (SELECT id FROM idle))),
		events AS (
		    DELETE FROM transcript.event WHERE conversation = ANY (ARRAY (SELECT id FROM idle))),
		gone AS (
		    UPDATE transcript.conversation SET active_at = '-infinity', expired_at = now()
		    WHERE id = ANY (ARRAY (SELECT id FROM idle)) RETURNING id)
		SELECT count(pg_notify('transcript_' || replace(id::text, '-', ''), $3)) FROM gone`, s.ttl, batch, payloadGone).Scan(&emptied)
	if err != nil {
		return 0, fmt.Errorf("expire idle conversations: %w", err)
	}
	if emptied == batch {
		return emptied, nil
	}
	tag, err := s.pool.Exec(ctx, `
		WITH old AS MATERIALIZED (
		    SELECT id FROM transcript.conversation WHERE expired_at < now() - $1::interval
		    ORDER BY expired_at LIMIT $2 FOR UPDATE SKIP LOCKED)
		DELETE FROM transcript.conversation WHERE id = ANY (ARRAY (SELECT id FROM old))`, s.ttl, batch-emptied)
	if err != nil {
		return emptied, fmt.Errorf("delete expired conversations: %w", err)
	}
	return emptied + int(tag.RowsAffected()), nil
}

// Ping implements transcript.Store: it pings the pool (the listener reconnects by itself).
func (s *Store) Ping(ctx context.Context) error {
	if err := s.pool.Ping(ctx); err != nil {
		return fmt.Errorf("ping transcript database: %w", err)
	}
	return nil
}
