// Package rounds runs calls the way Postgres commits to disk in groups: the items added while
// one round is in flight go together in the next, one call of a Group's Run for all of them.
// Under load that is one statement and one transaction for many callers instead of one each;
// alone, an item goes at once. The transcript's reservations, acceptances, preparations,
// outcomes and wake-ups (internal/transcript/pgtranscript) and the workers' token counts
// (internal/access) go through it.
//
// Items that nobody waits for soon, or whose caller can wait a little, can be held (Group.Hold,
// AddHeld, DoHeld): their round waits a little for more, so that a steady trickle of them goes
// in a few rounds rather than one each, and it runs at once when an item that is not held
// joins it. Without a hold, a trickle makes about as many rounds a second as one round takes
// to run allows, whatever the load: on a busy machine the rounds then fill the CPU that is
// left (BENCHMARKS.md, "Seventeenth round").
//
// A goroutine runs a Group's rounds while there is something to run and ends once there has
// been nothing for a second (idleFor), so a Group needs no closing; under a steady trickle of
// items one goroutine runs every round, its stack already grown to what Run needs (a new one
// for each round spent about 1 % of bench-llm's CPU growing its stack). Run serves many
// callers and outlives each one's context: it bounds itself.
package rounds

import (
	"context"
	"fmt"
	"sync"
	"time"
)

// Group gathers items into rounds and runs them, one round at a time. Set Run (and Max) before
// the first Add; the zero Group is otherwise ready.
type Group[T, R any] struct {
	// Max is the most items one round takes (the rest go in the next); 0 is no bound.
	Max int
	// Hold is how long a round whose items were all held (AddHeld, DoHeld) may wait, from its
	// first item, for more items before it runs; 0 runs it as soon as the round before has.
	// Any item not held (Add, Do), or the round reaching Max, ends the wait.
	Hold time.Duration
	// Run runs a round: one result per item, in order, or an error for the round as a whole.
	Run func(items []T) ([]R, error)
	// Alone, when set, says whether a round's error may be the doing of one of its items (a
	// value that the statement refuses, not a lost connection). A round of several items
	// that fails with such an error is run again one item at a time, so that the item fails
	// alone and the others go on: without it, an item that can never succeed fails every
	// round it joins, and with it every item that joins its rounds, for as long as its
	// caller retries.
	Alone func(err error) bool

	mu      sync.Mutex
	full    []*round[T, R] // rounds gathered to Max, to run before next
	next    *round[T, R]   // the round being gathered; nil when nothing waits
	running bool           // a goroutine is running rounds
	idle    bool           // that goroutine is waiting for items (hurry wakes it)
	taken   int            // rounds taken to be run, ever
	waiting int            // items added whose round has not run yet
	// hurry tells the loop, holding a round or waiting for items, that it may have to run
	// a round now (size 1).
	hurry chan struct{}
}

// round is the items of one round and, once run, their results.
type round[T, R any] struct {
	items []T
	// due is when the round runs at the latest while all its items are held; zero once an
	// item that is not held has joined it.
	due time.Time
	// done is closed when the round has run: results holds one per item, or err says why
	// the round failed.
	done    chan struct{}
	results []R
	err     error
	// errs holds each item's own error, when the round failed and was run again one item at
	// a time (Group.Alone); nil otherwise.
	errs []error
}

// Ticket is an item's place in its round: wait on it for the item's result.
type Ticket[T, R any] struct {
	r *round[T, R]
	i int
}

// Add adds item to the next round and returns its ticket; wait on it with Wait, or do not, to
// leave the item to be run. The round runs as soon as the one before it has, even if it held
// items until now.
func (g *Group[T, R]) Add(item T) Ticket[T, R] { return g.add(item, false) }

// AddHeld is Add for an item that can wait: its round may wait up to Hold for more items
// before it runs (see Hold).
func (g *Group[T, R]) AddHeld(item T) Ticket[T, R] { return g.add(item, true) }

func (g *Group[T, R]) add(item T, held bool) Ticket[T, R] {
	g.mu.Lock()
	defer g.mu.Unlock()
	r := g.next
	if r == nil || (g.Max > 0 && len(r.items) >= g.Max) {
		if r != nil {
			g.full = append(g.full, r)
		}
		r = &round[T, R]{done: make(chan struct{})}
		if held && g.Hold > 0 {
			r.due = time.Now().Add(g.Hold)
		}
		g.next = r
	}
	r.items = append(r.items, item)
	if !r.due.IsZero() && (!held || (g.Max > 0 && len(r.items) >= g.Max)) {
		r.due = time.Time{} // an item that is not held, or the round is full: run it now
		g.hurryLocked()
	}
	g.waiting++
	switch {
	case !g.running:
		g.running = true
		go g.loop()
	case g.idle:
		g.hurryLocked()
	}
	return Ticket[T, R]{r: r, i: len(r.items) - 1}
}

// hurryLocked wakes the loop if it holds a round or waits for items. Call it with g.mu held.
func (g *Group[T, R]) hurryLocked() {
	select {
	case g.hurryChanLocked() <- struct{}{}:
	default: // a wake-up is pending already
	}
}

// Do adds item to the next round and returns its result once the round has run, the round's
// error, or ctx's when ctx ends first (the item may still run with its round).
func (g *Group[T, R]) Do(ctx context.Context, item T) (R, error) {
	return g.do(ctx, item, false)
}

// DoHeld is Do for an item whose caller can wait a little longer: its round may wait up to
// Hold for more items before it runs (see Hold).
func (g *Group[T, R]) DoHeld(ctx context.Context, item T) (R, error) {
	return g.do(ctx, item, true)
}

func (g *Group[T, R]) do(ctx context.Context, item T, held bool) (R, error) {
	return g.add(item, held).Wait(ctx)
}

// idleFor is how long a Group's goroutine waits for items, once there are none, before it ends.
const idleFor = time.Second

// loop runs rounds, the full ones first, until none has been added for idleFor. It holds a
// round of held items until it is due, or until an item that is not held or a full round
// hurries it.
func (g *Group[T, R]) loop() {
	waited := false // the last wait for items ended without any
	for {
		g.mu.Lock()
		var r *round[T, R]
		switch {
		case len(g.full) > 0:
			r, g.full = g.full[0], g.full[1:]
		case g.next != nil:
			if wait := time.Until(g.next.due); wait > 0 {
				hurry := g.hurryChanLocked()
				g.mu.Unlock()
				hold(wait, hurry)
				continue
			}
			r, g.next = g.next, nil
		case waited:
			g.running = false
			g.mu.Unlock()
			return
		default:
			hurry := g.hurryChanLocked()
			g.idle = true
			g.mu.Unlock()
			waited = !hold(idleFor, hurry)
			g.mu.Lock()
			g.idle = false
			g.mu.Unlock()
			continue
		}
		waited = false
		g.taken++
		g.mu.Unlock()
		g.run(r)
		g.mu.Lock()
		g.waiting -= len(r.items)
		g.mu.Unlock()
		close(r.done)
	}
}

// run runs round r, and again one item at a time if it failed in a way that Alone says an
// item may have caused.
func (g *Group[T, R]) run(r *round[T, R]) {
	r.results, r.err = g.runItems(r.items)
	if r.err == nil || len(r.items) < 2 || g.Alone == nil || !g.Alone(r.err) {
		return
	}
	r.results, r.errs, r.err = make([]R, len(r.items)), make([]error, len(r.items)), nil
	for i, item := range r.items {
		res, err := g.runItems([]T{item})
		if err != nil {
			r.errs[i] = err
			continue
		}
		r.results[i] = res[0]
	}
}

// runItems is Run, holding it to one result per item.
func (g *Group[T, R]) runItems(items []T) ([]R, error) {
	results, err := g.Run(items)
	if err == nil && len(results) != len(items) {
		return nil, fmt.Errorf("a round of %d items ran with %d results", len(items), len(results))
	}
	return results, err
}

// hurryChanLocked returns g.hurry, made if need be. Call it with g.mu held.
func (g *Group[T, R]) hurryChanLocked() chan struct{} {
	if g.hurry == nil {
		g.hurry = make(chan struct{}, 1)
	}
	return g.hurry
}

// hold returns after wait, or sooner when hurry receives; it reports whether hurry did.
func hold(wait time.Duration, hurry <-chan struct{}) bool {
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case <-t.C:
		return false
	case <-hurry:
		return true
	}
}

// Stats returns how many rounds have been taken to be run, and how many items wait for theirs.
func (g *Group[T, R]) Stats() (taken, waiting int) {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.taken, g.waiting
}

// Wait returns the item's result once its round has run; or the round's error, or the item's
// own when the round was run again one item at a time (Group.Alone); or ctx's when ctx ends
// first (the item may still run with its round).
func (t Ticket[T, R]) Wait(ctx context.Context) (R, error) {
	var zero R
	select {
	case <-t.r.done:
	case <-ctx.Done():
		return zero, ctx.Err()
	}
	if err := t.r.err; err != nil {
		return zero, err
	}
	if t.r.errs != nil && t.r.errs[t.i] != nil {
		return zero, t.r.errs[t.i]
	}
	return t.r.results[t.i], nil
}
