package queue

import "sync"

// Refusal says why a job was not admitted.
type Refusal int

// Reasons a job is refused.
const (
	Admitted    Refusal = iota
	StreamFull          // the stream has QUEUE_LIMIT jobs waiting: "queue is full!"
	ProcessFull         // the process has MAX_INFLIGHT jobs waiting
)

// Gate bounds jobs enqueued and not yet answered: per stream and per process. Safe for
// concurrent use.
type Gate struct {
	mu        sync.Mutex
	process   int
	inflight  int
	perStream int
}

// NewGate returns a gate allowing perStream jobs per stream and process jobs in all.
func NewGate(perStream, process int) *Gate {
	return &Gate{perStream: perStream, process: process}
}

// Stream is one stream's share of the gate.
type Stream struct {
	gate    *Gate
	waiting int
}

// Open returns the admission state of a new stream.
func (g *Gate) Open() *Stream { return &Stream{gate: g} }

// Admit takes a slot for one more job, or says why not.
func (s *Stream) Admit() Refusal {
	g := s.gate
	g.mu.Lock()
	defer g.mu.Unlock()
	if s.waiting >= g.perStream {
		return StreamFull
	}
	if g.inflight >= g.process {
		return ProcessFull
	}
	s.waiting++
	g.inflight++
	return Admitted
}

// Release frees a slot: the job was answered, failed to enqueue, or the stream went away.
func (s *Stream) Release() {
	g := s.gate
	g.mu.Lock()
	defer g.mu.Unlock()
	if s.waiting > 0 {
		s.waiting--
		g.inflight--
	}
}

// Waiting reports the stream's jobs enqueued and not yet answered.
func (s *Stream) Waiting() int {
	s.gate.mu.Lock()
	defer s.gate.mu.Unlock()
	return s.waiting
}
