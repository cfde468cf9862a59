// Package rounds runs calls the way Postgres commits to disk in groups: the items added while
// one round is in flight go together in the next, one call of a Group's Run for all of them.
// Under load that is one statement and one transaction for many callers instead of one each;
// alone, an item goes at once. The transcript's reservations, acceptances, preparations,
// outcomes and wake-ups (internal/transcript/pgtranscript) and the workers' token counts
// (internal/access) go through it.
//
// A goroutine runs a Group's rounds while there is something to run and ends when there is
// not, so a Group needs no closing. Run serves many callers and outlives each one's context:
// it bounds itself.
package rounds

import (
	"context"
	"fmt"
	"sync"
)

// Group gathers items into rounds and runs them, one round at a time. Set Run (and Max) before
// the first Add; the zero Group is otherwise ready.
type Group[T, R any] struct {
	// Max is the most items one round takes (the rest go in the next); 0 is no bound.
	Max int
	// Run runs a round: one result per item, in order, or an error for the round as a whole.
	Run func(items []T) ([]R, error)

	mu      sync.Mutex
	full    []*Round[T, R] // rounds gathered to Max, to run before next
	next    *Round[T, R]   // the round being gathered; nil when nothing waits
	running bool           // a goroutine is running rounds
	taken   int            // rounds taken to be run, ever
	waiting int            // items added whose round has not run yet
}

// Round is the items of one round and, once run, their results.
type Round[T, R any] struct {
	items []T
	// done is closed when the round has run: results holds one per item, or err says why
	// the round failed.
	done    chan struct{}
	results []R
	err     error
}

// Add adds item to the next round and returns that round and the item's index in it; wait
// for it with Wait, or do not, to leave the item to be run.
func (g *Group[T, R]) Add(item T) (*Round[T, R], int) {
	g.mu.Lock()
	defer g.mu.Unlock()
	r := g.next
	if r == nil || (g.Max > 0 && len(r.items) >= g.Max) {
		if r != nil {
			g.full = append(g.full, r)
		}
		r = &Round[T, R]{done: make(chan struct{})}
		g.next = r
	}
	r.items = append(r.items, item)
	g.waiting++
	if !g.running {
		g.running = true
		go g.loop()
	}
	return r, len(r.items) - 1
}

// Do adds item to the next round and returns its result once the round has run, the round's
// error, or ctx's when ctx ends first (the item may still run with its round).
func (g *Group[T, R]) Do(ctx context.Context, item T) (R, error) {
	r, i := g.Add(item)
	if err := r.Wait(ctx); err != nil {
		var zero R
		return zero, err
	}
	return r.results[i], nil
}

// loop runs rounds, the full ones first, until none is waiting.
func (g *Group[T, R]) loop() {
	for {
		g.mu.Lock()
		var r *Round[T, R]
		switch {
		case len(g.full) > 0:
			r, g.full = g.full[0], g.full[1:]
		case g.next != nil:
			r, g.next = g.next, nil
		default:
			g.running = false
			g.mu.Unlock()
			return
		}
		g.taken++
		g.mu.Unlock()
		r.results, r.err = g.Run(r.items)
		if r.err == nil && len(r.results) != len(r.items) {
			r.err = fmt.Errorf("a round of %d items ran with %d results", len(r.items), len(r.results))
		}
		g.mu.Lock()
		g.waiting -= len(r.items)
		g.mu.Unlock()
		close(r.done)
	}
}

// Stats returns how many rounds have been taken to be run, and how many items wait for theirs.
func (g *Group[T, R]) Stats() (taken, waiting int) {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.taken, g.waiting
}

// Wait returns once the round has run, with its error, or ctx's when ctx ends first.
func (r *Round[T, R]) Wait(ctx context.Context) error {
	select {
	case <-r.done:
		return r.err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Result returns the result of the round's item i. Call it after Wait has returned nil.
func (r *Round[T, R]) Result(i int) R { return r.results[i] }
