package pgtranscript

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
)

// roundTimeout bounds one round of acceptances or reservations.
const roundTimeout = 10 * time.Second

// maxRound is the most acceptances or reservations one round takes: the rest wait for the
// next. It bounds how many conversations one transaction locks, and for how long.
const maxRound = 128

// rounds runs work the way Postgres commits to disk in groups: the items added while one
// round is in flight go together in the next, one call of run for all of them. Under load that
// is one statement and one transaction for many callers instead of one each; alone, an item
// goes at once. The wake-ups of appends (waker), the reservations of slots (reserver) and
// the acceptances of admitted jobs (acceptor) go through it.
//
// A goroutine runs the rounds while there is something to run and ends when there is not, so
// rounds need no closing. run serves many callers and outlives each one's context: it bounds
// itself.
type rounds[T, R any] struct {
	// max is the most items one round takes (the rest go in the next); 0 is no bound.
	max int
	// run runs a round: one result per item, in order, or an error for the round as a whole.
	run func(items []T) ([]R, error)

	mu      sync.Mutex
	full    []*round[T, R] // rounds gathered to max, to run before next
	next    *round[T, R]   // the round being gathered; nil when nothing waits
	running bool           // a goroutine is running rounds
	taken   int            // rounds taken to be run, ever
	waiting int            // items added whose round has not run yet
}

// round is the items of one round and, once run, their results.
type round[T, R any] struct {
	items []T
	// done is closed when the round has run: results holds one per item, or err says why
	// the round failed.
	done    chan struct{}
	results []R
	err     error
}

// add adds item to the next round and returns that round and the item's index in it; wait
// for it with (*round).wait, or do not, to leave the item to be run.
func (g *rounds[T, R]) add(item T) (*round[T, R], int) {
	g.mu.Lock()
	defer g.mu.Unlock()
	r := g.next
	if r == nil || (g.max > 0 && len(r.items) >= g.max) {
		if r != nil {
			g.full = append(g.full, r)
		}
		r = &round[T, R]{done: make(chan struct{})}
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

// loop runs rounds, the full ones first, until none is waiting.
func (g *rounds[T, R]) loop() {
	for {
		g.mu.Lock()
		var r *round[T, R]
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
		r.results, r.err = g.run(r.items)
		g.mu.Lock()
		g.waiting -= len(r.items)
		g.mu.Unlock()
		close(r.done)
	}
}

// stats returns how many rounds have been taken to be run, and how many items wait for theirs.
func (g *rounds[T, R]) stats() (taken, waiting int) {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.taken, g.waiting
}

// wait returns once the round has run, with its error, or ctx's when ctx ends first.
func (r *round[T, R]) wait(ctx context.Context) error {
	select {
	case <-r.done:
		return r.err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// forEachElement reads what a function of a round (accept_many, reserve_many) returns for its
// n elements: a row each, its 1-based index k first, then the columns scanned into dest.
// each is called with the element's 0-based index once dest holds its row. It fails when a
// row names no element of the round, or fewer rows than elements come back.
func forEachElement(rows pgx.Rows, n int, dest []any, each func(i int) error) error {
	var k, got int
	_, err := pgx.ForEachRow(rows, append([]any{&k}, dest...), func() error {
		if k < 1 || k > n {
			return fmt.Errorf("element %d of %d", k, n)
		}
		got++
		return each(k - 1)
	})
	switch {
	case err != nil:
		return err
	case got != n:
		return fmt.Errorf("%d rows for %d elements", got, n)
	}
	return nil
}
