package pgstore

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/beacon/eventdispatch/internal/recording"
)

// Truncate forgets every signal changed before version: the source table was truncated.
func (s *Store) Truncate(ctx context.Context, version int64) error {
	_, err := s.pool.Exec(ctx, `
		UPDATE dispatcher.signal_state SET deleted = true, source_lsn = $1, updated_at = now()
		WHERE NOT deleted AND source_lsn < $1`, version)
	if err != nil {
		return fmt.Errorf("apply truncate: %w", err)
	}
	return nil
}

// ReportIncomplete returns, once each across all replicas, the recordings whose first signal
// is older than age and that are still incomplete.
func (s *Store) ReportIncomplete(ctx context.Context, age time.Duration) ([]recording.Incomplete, error) {
	rows, err := s.pool.Query(ctx, `
		UPDATE dispatcher.pending_recording SET reported_at = now()
		WHERE reported_at IS NULL AND first_seen < now() - make_interval(secs => $1::float8)
		RETURNING recording, first_seen`, age.Seconds())
	if err != nil {
		return nil, fmt.Errorf("report incomplete recordings: %w", err)
	}
	out, err := pgx.CollectRows(rows, pgx.RowToStructByPos[recording.Incomplete])
	if err != nil {
		return nil, fmt.Errorf("report incomplete recordings: %w", err)
	}
	return out, nil
}

// Pending counts recordings seen and not yet complete.
func (s *Store) Pending(ctx context.Context) (int64, error) {
	var n int64
	if err := s.pool.QueryRow(ctx, `SELECT count(*) FROM dispatcher.pending_recording`).Scan(&n); err != nil {
		return 0, fmt.Errorf("count pending recordings: %w", err)
	}
	return n, nil
}

// Ping checks that the database answers.
func (s *Store) Ping(ctx context.Context) error {
	return s.pool.Ping(ctx)
}
