package pgstore

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/beacon/eventdispatch/internal/recording"
)

// Truncate records a truncate of the source table at version: every signal set before it is
// absent from then on (recording.Ledger.Truncate). The recordings left with no signal present
// wait for nothing, and are no longer pending.
func (s *Store) Truncate(ctx context.Context, version int64) (bool, error) {
	recorded := false
	// Once the batches in flight, which read the truncates before this one, are done.
	err := s.exclusively(ctx, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `
			INSERT INTO dispatcher.signal_truncate (source_lsn) VALUES ($1) ON CONFLICT DO NOTHING`, version)
		if err != nil {
			return err
		}
		recorded = tag.RowsAffected() == 1
		_, err = tx.Exec(ctx, forgetEmptyPending)
		return err
	})
	if err != nil {
		return false, fmt.Errorf("apply truncate: %w", err)
	}
	return recorded, nil
}

// exclusively runs f in a transaction that holds truncateLock exclusive: it begins once the
// batches in flight have committed, and holds back the others until it has.
func (s *Store) exclusively(ctx context.Context, f func(tx pgx.Tx) error) error {
	return pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1, 0)`, truncateLock); err != nil {
			return err
		}
		return f(tx)
	})
}

// Snapshot implements dispatch.Store: the signals of the pending recordings of partition set
// before version are marked deleted just before it (recording.Ledger.Sweep), once for the
// snapshot and the partition. Like Truncate, it waits for the batches in flight and holds the
// others back while it sweeps. The recordings keep their pending rows, with their first
// signal's time and whether they were reported, for the snapshot's rows that bring their
// signals back; one left with no signal present is neither counted nor reported (Pending,
// ReportIncomplete), and is forgotten by SnapshotRead.
func (s *Store) Snapshot(ctx context.Context, partition int, version int64) (bool, error) {
	recorded := false
	err := s.exclusively(ctx, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `
			INSERT INTO dispatcher.signal_snapshot (kafka_partition, source_lsn)
			SELECT $1, $2
			WHERE NOT EXISTS (SELECT 1 FROM dispatcher.signal_snapshot WHERE kafka_partition = $1 AND source_lsn >= $2)`,
			partition, version)
		if err != nil {
			return err
		}
		if recorded = tag.RowsAffected() == 1; !recorded {
			return nil
		}
		if _, err := tx.Exec(ctx, forgetEmptyPendingOf, partition); err != nil {
			return err // an earlier snapshot's, whose end was not said
		}
		if _, err := tx.Exec(ctx, `
			UPDATE dispatcher.signal_state s SET deleted = true, source_lsn = $2::bigint - 1, updated_at = now()
			FROM dispatcher.pending_recording p
			WHERE p.kafka_partition = $1 AND s.recording = p.recording AND NOT s.deleted AND s.source_lsn < $2`,
			partition, version); err != nil {
			return err
		}
		return nil
	})
	if err != nil {
		return false, fmt.Errorf("apply the start of a snapshot on partition %d: %w", partition, err)
	}
	return recorded, nil
}

// SnapshotRead implements dispatch.Store: the pending recordings of partition left with no
// signal present are forgotten. Like Snapshot, it waits for the batches in flight (one on
// another partition may be bringing a signal of such a recording, with primary-key keying)
// and holds the others back meanwhile; but first it looks, without a lock, whether there is
// any such recording: the handler says it at every partition's first change in a process,
// where there is usually none, and the lock would hold every partition back for nothing.
func (s *Store) SnapshotRead(ctx context.Context, partition int) error {
	var some bool
	if err := s.pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 `+emptyPendingOf+`)`, partition).Scan(&some); err != nil {
		return fmt.Errorf("look for pending recordings of partition %d with no signal left (at the partition's first change since the start, or a snapshot's end): %w", partition, err)
	}
	if !some {
		return nil // none now, and none can be made but by this partition's next snapshot
	}
	err := s.exclusively(ctx, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, forgetEmptyPendingOf, partition)
		return err
	})
	if err != nil {
		return fmt.Errorf("forget pending recordings of partition %d with no signal left (at the partition's first change since the start, or a snapshot's end): %w", partition, err)
	}
	return nil
}

// presentNow is the condition that a row of dispatcher.signal_state, s, is a signal present
// now: not deleted, and set at or after the last truncate.
const presentNow = `NOT s.deleted AND s.source_lsn >= (SELECT coalesce(max(source_lsn), -9223372036854775808) FROM dispatcher.signal_truncate)`

// hasPresent is the condition that the recording of a pending row, p, has a signal present.
const hasPresent = `EXISTS (SELECT 1 FROM dispatcher.signal_state s WHERE s.recording = p.recording AND ` + presentNow + `)`

// forgetEmptyPending deletes the pending rows of recordings with no signal present.
const forgetEmptyPending = `DELETE FROM dispatcher.pending_recording p WHERE NOT ` + hasPresent

// emptyPendingOf is the pending rows of one partition ($1) whose recording has no signal
// present; forgetEmptyPendingOf deletes them.
const (
	emptyPendingOf       = `FROM dispatcher.pending_recording p WHERE NOT ` + hasPresent + ` AND p.kafka_partition = $1`
	forgetEmptyPendingOf = `DELETE ` + emptyPendingOf
)

// ReportIncomplete returns, once each across all replicas, the recordings whose first signal
// is older than age and that are still incomplete, with what each lacks: those of partitions
// (the caller's, each with whether it is caught up) that have been applied age past the
// recording's first signal (partition_progress), or that are caught up, capture then seen age
// past it (unless captured is zero); the rest of a recording's signals may be in the backlog
// of one that is neither, or not captured yet (dispatch.Watcher). A recording whose partition
// is not known (pending since before migration 00028) goes by the clock alone, and captured.
// The claim and the read of their signals are one statement.
func (s *Store) ReportIncomplete(ctx context.Context, age time.Duration, captured time.Time, partitions map[int]bool) ([]recording.Incomplete, error) {
	owned, caughtUp := []int32{}, []int32{}
	for p, up := range partitions {
		owned = append(owned, int32(p)) //nolint:gosec // a partition number
		if up {
			caughtUp = append(caughtUp, int32(p)) //nolint:gosec // a partition number
		}
	}
	var capturedArg *time.Time // NULL: not known, not waited for
	if !captured.IsZero() {
		capturedArg = &captured
	}
	rows, err := s.pool.Query(ctx, `
		WITH claimed AS (
			UPDATE dispatcher.pending_recording p SET reported_at = now()
			WHERE reported_at IS NULL AND first_seen < now() - make_interval(secs => $1::float8) AND `+hasPresent+`
				AND ((p.kafka_partition IS NULL OR p.kafka_partition = ANY($3::integer[]))
						AND ($5::timestamptz IS NULL OR p.first_seen + make_interval(secs => $1::float8) <= $5::timestamptz)
					OR p.kafka_partition = ANY($2::integer[]) AND EXISTS (SELECT FROM dispatcher.partition_progress g
						WHERE g.group_id = $4 AND g.kafka_partition = p.kafka_partition
							AND g.source_at >= p.first_seen + make_interval(secs => $1::float8)))
			RETURNING recording, first_seen
		)
		SELECT c.recording, c.first_seen, s.signal IS NOT NULL,
			coalesce(s.signal, '00000000-0000-0000-0000-000000000000'),
			coalesce(s.sensor_type, ''), coalesce(s.channels, '{}'), coalesce(s.sample_type, '')
		FROM claimed c
		LEFT JOIN dispatcher.signal_state s ON s.recording = c.recording AND `+presentNow+`
		ORDER BY c.first_seen, c.recording`, age.Seconds(), owned, caughtUp, s.group, capturedArg)
	if err != nil {
		return nil, fmt.Errorf("report incomplete recordings: %w", err)
	}
	var (
		out     []recording.Incomplete
		signals [][]recording.Signal
	)
	var (
		rec       uuid.UUID
		firstSeen time.Time
		present   bool // false: the row of a recording none of whose signals is present
		sg        recording.Signal
	)
	dest := []any{&rec, &firstSeen, &present, &sg.ID, &sg.SensorType, &sg.Channels, &sg.SampleType}
	_, err = pgx.ForEachRow(rows, dest, func() error {
		if len(out) == 0 || out[len(out)-1].Recording != rec {
			out = append(out, recording.Incomplete{Recording: rec, FirstSeen: firstSeen})
			signals = append(signals, nil)
		}
		if present {
			sg.Recording, sg.Channels = rec, slices.Clone(sg.Channels) // the next row scans into sg again
			signals[len(signals)-1] = append(signals[len(signals)-1], sg)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("report incomplete recordings: %w", err)
	}
	for i := range out {
		out[i].Missing = s.rule.Missing(signals[i])
	}
	return out, nil
}

// Pending counts recordings seen and not yet complete, with a signal present.
func (s *Store) Pending(ctx context.Context) (int64, error) {
	var n int64
	if err := s.pool.QueryRow(ctx, `SELECT count(*) FROM dispatcher.pending_recording p WHERE `+hasPresent).Scan(&n); err != nil {
		return 0, fmt.Errorf("count pending recordings: %w", err)
	}
	return n, nil
}

// Ping checks that the database answers.
func (s *Store) Ping(ctx context.Context) error {
	return s.pool.Ping(ctx)
}
