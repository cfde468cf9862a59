package queue

import "sync"

// Gate bounds the sentences a process is admitting at once: reserving a slot, writing the job
// to Kafka and recording it. It is what keeps a burst of sentences from turning into an
// unbounded number of concurrent durable writes. Safe for concurrent use.
type Gate struct {
	mu    sync.Mutex
	limit int
	busy  int
}

// NewGate returns a gate letting limit admissions run at once.
func NewGate(limit int) *Gate { return &Gate{limit: limit} }

// Take takes a slot, or reports false when all are taken.
func (g *Gate) Take() bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.busy >= g.limit {
		return false
	}
	g.busy++
	return true
}

// Release gives a slot back.
func (g *Gate) Release() {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.busy > 0 {
		g.busy--
	}
}
