package access

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/google/uuid"
)

// The kinds of usage counters (access.usage.kind).
const (
	usageRPC     = "rpc"
	usageQueued  = "queued"
	usageRefused = "refused"
)

// usageFlushEvery is how often a front door writes its usage counts: they are counted in
// memory on the hot path and written in one statement per flush.
const usageFlushEvery = 2 * time.Second

type usageKey struct {
	client     uuid.UUID
	day        time.Time
	kind, name string
}

// Usage counts what clients do, in memory, and writes the counts to Postgres in batches (Run).
// A nil *Usage counts nothing.
type Usage struct {
	store *Store
	log   *slog.Logger

	mu     sync.Mutex
	counts map[usageKey]int64
}

// NewUsage returns a Usage writing to store.
func NewUsage(store *Store, log *slog.Logger) *Usage {
	return &Usage{store: store, log: log, counts: map[usageKey]int64{}}
}

// Store is where the counts are written, and read back (UsageBetween).
func (u *Usage) Store() *Store { return u.store }

func (u *Usage) add(client uuid.UUID, kind, name string) {
	if u == nil {
		return
	}
	now := time.Now().UTC()
	k := usageKey{client: client, day: time.Date(now.Year(), now.Month(), now.Day(), 0, 0, 0, 0, time.UTC), kind: kind, name: name}
	u.mu.Lock()
	u.counts[k]++
	u.mu.Unlock()
}

// RPC counts a call of method that ended with code ("ok", "invalid_argument", ...).
func (u *Usage) RPC(client uuid.UUID, method, code string) { u.add(client, usageRPC, method+"/"+code) }

// Queued counts a sentence accepted into the queue.
func (u *Usage) Queued(client uuid.UUID) { u.add(client, usageQueued, "") }

// Refused counts a request or sentence refused for quota ("requests", "sentences", "tokens").
func (u *Usage) Refused(client uuid.UUID, quota string) { u.add(client, usageRefused, quota) }

// Run writes the counts every usageFlushEvery until ctx ends, then once more.
func (u *Usage) Run(ctx context.Context) error {
	t := time.NewTicker(usageFlushEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			flushCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
			defer cancel()
			u.flush(flushCtx)
			return nil
		case <-t.C:
			u.flush(ctx)
		}
	}
}

// flush writes the counts in one statement; counts that could not be written are kept for
// the next flush.
func (u *Usage) flush(ctx context.Context) {
	u.mu.Lock()
	counts := u.counts
	u.counts = map[usageKey]int64{}
	u.mu.Unlock()
	if len(counts) == 0 {
		return
	}
	var clients []uuid.UUID
	var days []time.Time
	var kinds, names []string
	var ns []int64
	for k, n := range counts {
		clients, days, kinds, names, ns = append(clients, k.client), append(days, k.day), append(kinds, k.kind), append(names, k.name), append(ns, n)
	}
	_, err := u.store.pool.Exec(ctx, `INSERT INTO access.usage AS u (client, day, kind, name, count)
		SELECT * FROM unnest($1::uuid[], $2::date[], $3::text[], $4::text[], $5::bigint[])
		ON CONFLICT (client, day, kind, name) DO UPDATE SET count = u.count + EXCLUDED.count`,
		clients, days, kinds, names, ns)
	if err != nil {
		u.log.Warn("usage counts not written; keeping them for the next try", "error", err, "counters", len(counts))
		u.mu.Lock()
		for k, n := range counts {
			u.counts[k] += n
		}
		u.mu.Unlock()
	}
}

// DayUsage is a client's usage on one UTC day.
type DayUsage struct {
	Day                                        time.Time
	RPCs                                       map[string]int64 // by "Method/code"
	Queued, Refused                            int64
	ModelCalls, PromptTokens, CompletionTokens int64
}

// UsageBetween returns client's usage on each day from from to to (inclusive) on which it did
// anything, oldest first; ErrNotFound when there is no such client (the anonymous client, the
// all-zero id, always is).
func (s *Store) UsageBetween(ctx context.Context, client uuid.UUID, from, to time.Time) ([]DayUsage, error) {
	byDay := map[time.Time]*DayUsage{}
	day := func(d time.Time) *DayUsage {
		d = d.UTC()
		if byDay[d] == nil {
			byDay[d] = &DayUsage{Day: d, RPCs: map[string]int64{}}
		}
		return byDay[d]
	}
	rows, err := s.pool.Query(ctx, `SELECT day, kind, name, count FROM access.usage
		WHERE client = $1 AND day BETWEEN $2 AND $3`, client, from, to)
	if err != nil {
		return nil, fmt.Errorf("read usage: %w", err)
	}
	for rows.Next() {
		var d time.Time
		var kind, name string
		var n int64
		if err := rows.Scan(&d, &kind, &name, &n); err != nil {
			rows.Close()
			return nil, fmt.Errorf("read usage: %w", err)
		}
		switch kind {
		case usageRPC:
			day(d).RPCs[name] += n
		case usageQueued:
			day(d).Queued += n
		case usageRefused:
			day(d).Refused += n
		}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read usage: %w", err)
	}
	rows, err = s.pool.Query(ctx, `SELECT day, calls, prompt_tokens, completion_tokens FROM access.daily_tokens
		WHERE client = $1 AND day BETWEEN $2 AND $3`, client, from, to)
	if err != nil {
		return nil, fmt.Errorf("read model usage: %w", err)
	}
	for rows.Next() {
		var d time.Time
		var calls, prompt, completion int64
		if err := rows.Scan(&d, &calls, &prompt, &completion); err != nil {
			rows.Close()
			return nil, fmt.Errorf("read model usage: %w", err)
		}
		u := day(d)
		u.ModelCalls, u.PromptTokens, u.CompletionTokens = calls, prompt, completion
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read model usage: %w", err)
	}
	if len(byDay) == 0 && client != (uuid.UUID{}) { // nothing done, or nobody to do it
		if err := s.exists(ctx, client); err != nil {
			return nil, fmt.Errorf("read usage: %w", err)
		}
	}
	out := make([]DayUsage, 0, len(byDay))
	for d := from.UTC(); !d.After(to.UTC()); d = d.AddDate(0, 0, 1) {
		if u, ok := byDay[d]; ok {
			out = append(out, *u)
		}
	}
	return out, nil
}
