package rounds_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/beacon/eventdispatch/internal/kafkatest"
	"github.com/beacon/eventdispatch/internal/rounds"
)

// A Group whose Run blocks until released gathers what is added meanwhile into the next
// round, up to Max, and gives each caller its own result.
func TestGroup_GathersWhatIsAddedWhileARoundRuns(t *testing.T) {
	release := make(chan struct{})
	var mu sync.Mutex
	var ran [][]int
	g := rounds.Group[int, string]{Max: 4, Run: func(items []int) ([]string, error) {
		mu.Lock()
		ran = append(ran, slices.Clone(items))
		first := len(ran) == 1
		mu.Unlock()
		if first {
			<-release
		}
		out := make([]string, len(items))
		for i, it := range items {
			out[i] = fmt.Sprint("item ", it)
		}
		return out, nil
	}}
	first := g.Add(0) // runs alone, and blocks
	kafkatest.Eventually(t, 5*time.Second, func() bool { mu.Lock(); defer mu.Unlock(); return len(ran) == 1 },
		func() string { return "the first round did not start" })
	var later []rounds.Ticket[int, string]
	for n := 1; n <= 9; n++ {
		later = append(later, g.Add(n))
	}
	if taken, waiting := g.Stats(); taken != 1 || waiting != 10 {
		t.Fatalf("Stats = %d taken, %d waiting; want 1 and 10", taken, waiting)
	}
	close(release)
	if got, err := first.Wait(t.Context()); err != nil || got != "item 0" {
		t.Fatalf("item 0: %v, %q", err, got)
	}
	for n, ticket := range later {
		got, err := ticket.Wait(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		if want := fmt.Sprint("item ", n+1); got != want {
			t.Errorf("item %d: %q, want %q", n+1, got, want)
		}
	}
	want := [][]int{{0}, {1, 2, 3, 4}, {5, 6, 7, 8}, {9}}
	mu.Lock()
	defer mu.Unlock()
	if !slices.EqualFunc(ran, want, slices.Equal) {
		t.Fatalf("rounds ran %v, want %v", ran, want)
	}
}

// A round's error reaches each of its callers; a Run that returns the wrong number of
// results fails its round rather than a caller's index; a caller whose context ends stops
// waiting, and its item still runs.
func TestGroup_ErrorsAndContexts(t *testing.T) {
	broken := errors.New("the database is away")
	g := rounds.Group[int, int]{Run: func(items []int) ([]int, error) {
		switch items[0] {
		case 1:
			return nil, broken
		case 2:
			return []int{}, nil
		}
		return items, nil
	}}
	if _, err := g.Do(t.Context(), 1); !errors.Is(err, broken) {
		t.Errorf("Do(1) = %v, want %v", err, broken)
	}
	if _, err := g.Do(t.Context(), 2); err == nil {
		t.Error("a Run without results: Do returned no error")
	}
	if got, err := g.Do(t.Context(), 3); err != nil || got != 3 {
		t.Errorf("Do(3) = %d, %v", got, err)
	}

	release := make(chan struct{})
	ran := make(chan int, 1)
	slow := rounds.Group[int, int]{Run: func(items []int) ([]int, error) {
		<-release
		ran <- items[0]
		return items, nil
	}}
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, err := slow.Do(ctx, 7); !errors.Is(err, context.Canceled) {
		t.Errorf("Do with an ended context = %v, want %v", err, context.Canceled)
	}
	close(release)
	select {
	case n := <-ran:
		if n != 7 {
			t.Errorf("ran %d, want 7", n)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the item of a caller that stopped waiting did not run")
	}
}

// Held items wait in their round until an item that is not held joins it (then all run at
// once, in the order added), until the round is full, or until Hold has passed.
func TestGroup_HeldItemsWaitForCompany(t *testing.T) {
	var mu sync.Mutex
	var ran [][]int
	run := func(items []int) ([]int, error) {
		mu.Lock()
		ran = append(ran, slices.Clone(items))
		mu.Unlock()
		return items, nil
	}
	ranSoFar := func() [][]int { mu.Lock(); defer mu.Unlock(); return slices.Clone(ran) }

	g := rounds.Group[int, int]{Max: 3, Hold: time.Hour, Run: run}
	held := g.AddHeld(1)
	g.AddHeld(2)
	time.Sleep(50 * time.Millisecond)
	if taken, waiting := g.Stats(); taken != 0 || waiting != 2 {
		t.Fatalf("held for an hour: Stats = %d taken, %d waiting; want 0 and 2", taken, waiting)
	}
	if got, err := g.Do(t.Context(), 3); err != nil || got != 3 {
		t.Fatalf("Do(3) = %d, %v", got, err)
	}
	if _, err := held.Wait(t.Context()); err != nil {
		t.Fatal(err)
	}
	// A round that fills with held items runs without waiting for Hold.
	g.AddHeld(4)
	g.AddHeld(5)
	full := g.AddHeld(6)
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	if _, err := full.Wait(ctx); err != nil {
		t.Fatalf("a full round of held items: %v", err)
	}
	if got, want := ranSoFar(), [][]int{{1, 2, 3}, {4, 5, 6}}; !slices.EqualFunc(got, want, slices.Equal) {
		t.Fatalf("rounds ran %v, want %v", got, want)
	}

	// Alone, a held item runs once Hold has passed.
	mu.Lock()
	ran = nil
	mu.Unlock()
	short := rounds.Group[int, int]{Hold: 20 * time.Millisecond, Run: run}
	start := time.Now()
	if _, err := short.AddHeld(7).Wait(ctx); err != nil {
		t.Fatalf("a held item alone: %v", err)
	}
	if held := time.Since(start); held < 20*time.Millisecond {
		t.Errorf("a held item alone ran after %v, before its Hold of 20ms", held)
	}
	if got, want := ranSoFar(), [][]int{{7}}; !slices.EqualFunc(got, want, slices.Equal) {
		t.Fatalf("rounds ran %v, want %v", got, want)
	}
}

// DoHeld's items wait for company as AddHeld's do, and each caller gets its own result.
func TestGroup_DoHeldWaitsForCompanyAndReturnsItsResult(t *testing.T) {
	var mu sync.Mutex
	var ran [][]int
	g := rounds.Group[int, int]{Hold: time.Hour, Max: 3, Run: func(items []int) ([]int, error) {
		mu.Lock()
		ran = append(ran, slices.Clone(items))
		mu.Unlock()
		out := make([]int, len(items))
		for i, v := range items {
			out[i] = 10 * v
		}
		return out, nil
	}}
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	got := make([]int, 3)
	errs := make([]error, 3)
	var wg sync.WaitGroup
	for i := range 3 {
		wg.Go(func() { got[i], errs[i] = g.DoHeld(ctx, i+1) })
		if i == 2 {
			break // the third fills the round at Max, which runs then, long before its hour
		}
		// Each joins the held round before the next.
		kafkatest.Eventually(t, 5*time.Second, func() bool { _, waiting := g.Stats(); return waiting == i+1 },
			func() string { return fmt.Sprintf("item %d did not join the round", i+1) })
	}
	wg.Wait()
	for i := range 3 {
		if errs[i] != nil || got[i] != 10*(i+1) {
			t.Errorf("DoHeld(%d) = %d, %v; want %d", i+1, got[i], errs[i], 10*(i+1))
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if want := [][]int{{1, 2, 3}}; !slices.EqualFunc(ran, want, slices.Equal) {
		t.Errorf("rounds ran %v, want %v", ran, want)
	}
}

// An item added while the Group's goroutine waits for items after a round runs at once, not
// when that wait (a second) ends.
func TestGroup_AnIdleGroupRunsANewItemAtOnce(t *testing.T) {
	g := rounds.Group[int, int]{Run: func(items []int) ([]int, error) { return items, nil }}
	if _, err := g.Do(t.Context(), 1); err != nil {
		t.Fatal(err)
	}
	kafkatest.Eventually(t, 5*time.Second, func() bool { return rounds.Idle(&g) },
		func() string { return "the Group's goroutine did not wait for items after its round" })
	start := time.Now()
	if got, err := g.Do(t.Context(), 2); err != nil || got != 2 {
		t.Fatalf("Do(2) = %d, %v", got, err)
	}
	if took := time.Since(start); took > 500*time.Millisecond {
		t.Errorf("an item added to an idle Group ran after %v: it waited for the idle wait to end", took)
	}
}

// A round that fails in a way Alone says an item may have caused is run again one item at a
// time: the item at fault gets its error, the others their results, whether their callers
// waited with Do or on the ticket that Add returned. A round that fails otherwise (the
// database away) fails for all of its items, and is not run again.
func TestGroup_AnItemThatFailsItsRoundFailsAlone(t *testing.T) {
	refused := errors.New("a value the statement refuses")
	broken := errors.New("the database is away")
	var mu sync.Mutex
	var ran [][]int
	var release chan struct{}
	g := rounds.Group[int, int]{
		Alone: func(err error) bool { return errors.Is(err, refused) },
		Run: func(items []int) ([]int, error) {
			mu.Lock()
			ran = append(ran, slices.Clone(items))
			gate := release
			mu.Unlock()
			switch {
			case items[0] == 0: // holds the group while the others gather
				<-gate
			case slices.Contains(items, 3):
				return nil, refused
			case slices.Contains(items, 9):
				return nil, broken
			}
			return items, nil
		},
	}
	// gather runs items in one round, and returns each one's error, by item.
	gather := func(items ...int) map[int]error {
		mu.Lock()
		ran, release = nil, make(chan struct{})
		mu.Unlock()
		holder := g.Add(0)
		kafkatest.Eventually(t, 5*time.Second, func() bool { mu.Lock(); defer mu.Unlock(); return len(ran) == 1 },
			func() string { return "the holding round did not start" })
		type result struct {
			item int
			err  error
		}
		results := make(chan result, len(items))
		for _, n := range items {
			// Odd items are waited for on the tickets Add returns, even ones with Do.
			go func() {
				var got int
				var err error
				if n%2 == 1 {
					got, err = g.Add(n).Wait(t.Context())
				} else {
					got, err = g.Do(t.Context(), n)
				}
				if err == nil && got != n {
					err = fmt.Errorf("result %d", got)
				}
				results <- result{n, err}
			}()
		}
		kafkatest.Eventually(t, 5*time.Second, func() bool { _, waiting := g.Stats(); return waiting == len(items)+1 },
			func() string { return "the items did not gather" })
		close(release)
		if _, err := holder.Wait(t.Context()); err != nil {
			t.Fatal(err)
		}
		errs := map[int]error{}
		for range items {
			r := <-results
			errs[r.item] = r.err
		}
		return errs
	}

	errs := gather(1, 2, 3, 4)
	for _, n := range []int{1, 2, 4} {
		if errs[n] != nil {
			t.Errorf("item %d: %v, want its result", n, errs[n])
		}
	}
	if !errors.Is(errs[3], refused) {
		t.Errorf("item 3: %v, want %v", errs[3], refused)
	}
	mu.Lock()
	if len(ran) != 6 || len(ran[1]) != 4 { // the holder, the round of four, then each alone
		t.Errorf("rounds ran %v, want the four together, then each alone", ran)
	}
	mu.Unlock()

	errs = gather(8, 9)
	if !errors.Is(errs[8], broken) || !errors.Is(errs[9], broken) {
		t.Errorf("a round failing otherwise: %v, want %v for each item", errs, broken)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(ran) != 2 {
		t.Errorf("rounds ran %v, want the holder and the failed round only", ran)
	}
}
