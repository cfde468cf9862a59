package main

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// processedRow is when the harness first saw a recording's processed row, and the row's
// processed_at (now() of the dispatcher's transaction, i.e. when that transaction began).
type processedRow struct {
	Visible, ProcessedAt time.Time
}

// processedWatch polls dispatcher.processed_recording for the recordings it was given until it
// has seen each one's row.
type processedWatch struct {
	pool  *pgxpool.Pool
	every time.Duration

	mu      sync.Mutex
	waiting map[uuid.UUID]struct{}
	seen    map[uuid.UUID]processedRow
}

func newProcessedWatch(pool *pgxpool.Pool, every time.Duration) *processedWatch {
	return &processedWatch{pool: pool, every: every, waiting: map[uuid.UUID]struct{}{}, seen: map[uuid.UUID]processedRow{}}
}

// Add starts watching rec.
func (w *processedWatch) Add(rec uuid.UUID) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if _, ok := w.seen[rec]; !ok {
		w.waiting[rec] = struct{}{}
	}
}

// Run polls until ctx is done, then returns nil.
func (w *processedWatch) Run(ctx context.Context) error {
	tick := time.NewTicker(w.every)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
		if err := w.poll(ctx); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
	}
}

func (w *processedWatch) poll(ctx context.Context) error {
	w.mu.Lock()
	recs := make([]uuid.UUID, 0, len(w.waiting))
	for rec := range w.waiting {
		recs = append(recs, rec)
	}
	w.mu.Unlock()
	if len(recs) == 0 {
		return nil
	}
	rows, err := w.pool.Query(ctx, `SELECT recording, processed_at FROM dispatcher.processed_recording WHERE recording = ANY($1)`, recs)
	if err != nil {
		return fmt.Errorf("look for processed rows: %w", err)
	}
	now := time.Now()
	type row struct {
		rec uuid.UUID
		at  time.Time
	}
	found, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (row, error) {
		var f row
		err := r.Scan(&f.rec, &f.at)
		return f, err
	})
	if err != nil {
		return fmt.Errorf("look for processed rows: %w", err)
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, f := range found {
		delete(w.waiting, f.rec)
		w.seen[f.rec] = processedRow{Visible: now, ProcessedAt: f.at}
	}
	return nil
}

// Seen returns what was seen of rec's row, if anything.
func (w *processedWatch) Seen(rec uuid.UUID) (processedRow, bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	r, ok := w.seen[rec]
	return r, ok
}

// WaitAll waits until the rows of all recs have been seen, or timeout passes; then it returns
// how many were not.
func (w *processedWatch) WaitAll(parent context.Context, recs []uuid.UUID, timeout time.Duration) (missing int, err error) {
	ctx, cancel := context.WithTimeout(parent, timeout)
	defer cancel()
	for {
		missing = 0
		w.mu.Lock()
		for _, rec := range recs {
			if _, ok := w.seen[rec]; !ok {
				missing++
			}
		}
		w.mu.Unlock()
		if missing == 0 {
			return 0, nil
		}
		select {
		case <-ctx.Done():
			if err := parent.Err(); err != nil {
				return missing, err
			}
			return missing, nil // the timeout passed: these are missing
		case <-time.After(w.every):
		}
	}
}
