// Package poller is the baseline the dispatcher is measured against: a reimplementation, kept
// in benchmark code only, of the polling job the dispatcher replaced.
//
// Every Interval it runs one query, a join over datastore.signal for recordings that have an
// eeg signal with the five channels and an accelerometer signal with x, y and z, both inserted
// after a single inserted_at watermark; it processes each recording found with one statement
// (process_record, here an insert into a temporary table of its own session) and moves the
// watermark to the latest inserted_at among them. It polls whether or not anything changed.
//
// The single watermark is its flaw: a recording whose first signal is older than the
// watermark by the time its last signal arrives — because another recording completed, and
// was seen by a poll, in between — is never found. The benchmark counts those misses.
package poller

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/beacon/eventdispatch/internal/recording"
)

// Query is the poll: recordings with a qualifying eeg and accelerometer signal, both inserted
// after $1, with the signals' latest inserted_at. $2 and $3 are the required channels.
const Query = `
SELECT DISTINCT ON (e.recording) e.recording, e.id, a.id, greatest(e.inserted_at, a.inserted_at)
FROM datastore.signal e
JOIN datastore.signal a ON a.recording = e.recording
WHERE e.sensor_type = 'eeg' AND e.channels @> $2::text[]
  AND a.sensor_type = 'accelerometer' AND a.channels @> $3::text[]
  AND e.inserted_at > $1 AND a.inserted_at > $1
ORDER BY e.recording, e.id, a.id`

// processRecord is the baseline's process_record: one statement per recording, as the
// original job called it once per recording found.
const processRecord = `
INSERT INTO pg_temp.processed_recording (recording, eeg_signal, accelerometer_signal)
VALUES ($1, $2, $3) ON CONFLICT (recording) DO NOTHING`

// Poller is the polling job. Its methods other than Run are safe to call while it runs.
type Poller struct {
	conn     *pgx.Conn
	interval time.Duration

	mu        sync.Mutex
	watermark time.Time
	polls     int64
	processed map[uuid.UUID]bool
}

// Connect opens the poller's connection to databaseURL, creates its temporary table and
// starts the watermark at the newest row already in datastore.signal (or now), so that only
// signals inserted from now on are polled.
func Connect(ctx context.Context, databaseURL string, interval time.Duration) (*Poller, error) {
	conn, err := pgx.Connect(ctx, databaseURL)
	if err != nil {
		return nil, fmt.Errorf("poller: connect: %w", err)
	}
	p := &Poller{conn: conn, interval: interval, processed: map[uuid.UUID]bool{}}
	if _, err := conn.Exec(ctx, `
		CREATE TEMP TABLE processed_recording (
			recording uuid PRIMARY KEY, eeg_signal uuid NOT NULL, accelerometer_signal uuid NOT NULL,
			processed_at timestamptz NOT NULL DEFAULT now())`); err != nil {
		_ = conn.Close(ctx)
		return nil, fmt.Errorf("poller: create its processed table: %w", err)
	}
	if err := conn.QueryRow(ctx, `SELECT coalesce(max(inserted_at), now()) FROM datastore.signal`).Scan(&p.watermark); err != nil {
		_ = conn.Close(ctx)
		return nil, fmt.Errorf("poller: initial watermark: %w", err)
	}
	return p, nil
}

// Close closes the connection; the temporary table goes with it.
func (p *Poller) Close(ctx context.Context) error {
	return p.conn.Close(ctx)
}

// Args are Query's arguments for watermark under the default completeness rule.
func Args(watermark time.Time) []any {
	rule := recording.DefaultRule()
	return []any{watermark, rule.EEG.Channels, rule.Accelerometer.Channels}
}

// Run polls every interval until ctx is done, then returns nil. A failed poll is returned.
func (p *Poller) Run(ctx context.Context) error {
	tick := time.NewTicker(p.interval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
		if err := p.poll(ctx); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
	}
}

type found struct {
	recording, eeg, accelerometer uuid.UUID
	insertedAt                    time.Time
}

// poll runs the query once and processes what it finds.
func (p *Poller) poll(ctx context.Context) error {
	rows, err := p.conn.Query(ctx, Query, Args(p.Watermark())...)
	if err != nil {
		return fmt.Errorf("poller: poll: %w", err)
	}
	recs, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (found, error) {
		var f found
		err := row.Scan(&f.recording, &f.eeg, &f.accelerometer, &f.insertedAt)
		return f, err
	})
	if err != nil {
		return fmt.Errorf("poller: poll: %w", err)
	}
	latest := p.Watermark()
	for _, f := range recs {
		if _, err := p.conn.Exec(ctx, processRecord, f.recording, f.eeg, f.accelerometer); err != nil {
			return fmt.Errorf("poller: process_record %s: %w", f.recording, err)
		}
		if f.insertedAt.After(latest) {
			latest = f.insertedAt
		}
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, f := range recs {
		p.processed[f.recording] = true
	}
	p.watermark = latest
	p.polls++
	return nil
}

// Watermark is the inserted_at after which the next poll looks.
func (p *Poller) Watermark() time.Time {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.watermark
}

// Polls is the number of polls completed.
func (p *Poller) Polls() int64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.polls
}

// ProcessedCount is the number of recordings processed so far.
func (p *Poller) ProcessedCount() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.processed)
}

// Processed reports whether the poller has processed rec.
func (p *Poller) Processed(rec uuid.UUID) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.processed[rec]
}

// WaitPolls waits until n more polls than now have completed, or ctx is done.
func (p *Poller) WaitPolls(ctx context.Context, n int64) error {
	target := p.Polls() + n
	tick := time.NewTicker(p.interval / 10)
	defer tick.Stop()
	for p.Polls() < target {
		select {
		case <-ctx.Done():
			return errors.Join(errors.New("poller: waiting for polls"), ctx.Err())
		case <-tick.C:
		}
	}
	return nil
}
