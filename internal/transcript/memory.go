package transcript

import (
	"context"
	"slices"
	"sync"
	"time"

	"github.com/google/uuid"
)

// Memory is a Store in process memory, for standalone mode: the same semantics as
// pgtranscript, lost when the process ends. The zero value is not usable: call NewMemory.
type Memory struct {
	ttl time.Duration
	now func() time.Time

	mu    sync.Mutex
	convs map[uuid.UUID]*memConversation
}

type memConversation struct {
	events []Event // events[i].Serial == i+1
	jobs   map[uuid.UUID]*memJob
	// owner is the client that started it, uuid.Nil for none (Store.Open).
	owner     uuid.UUID
	createdAt time.Time
	activeAt  time.Time
	// expiredAt is when Expire emptied the conversation, zero while it has not: its entry is
	// kept, so that its id starts no new conversation, until Expire forgets it a TTL later.
	expiredAt time.Time
	watchers  map[chan struct{}]struct{}
}

type memJob struct {
	sentence          string
	reservedAt        time.Time
	accepted, outcome uint64 // serials, 0 until recorded
	refused           bool
}

var _ Store = (*Memory)(nil)

// NewMemory returns an empty store whose conversations expire after ttl idle.
func NewMemory(ttl time.Duration) *Memory {
	return &Memory{ttl: ttl, now: time.Now, convs: map[uuid.UUID]*memConversation{}}
}

// conversation returns the live conversation id, or ErrNotFound. Call with mu held.
func (m *Memory) conversation(id uuid.UUID) (*memConversation, error) {
	c, ok := m.convs[id]
	if !ok || !c.expiredAt.IsZero() || m.now().Sub(c.activeAt) > m.ttl {
		return nil, ErrNotFound
	}
	return c, nil
}

// Open implements Store.
func (m *Memory) Open(_ context.Context, id uuid.UUID, create bool, owner uuid.UUID) (Info, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, exists := m.convs[id]; !exists && create {
		now := m.now()
		m.convs[id] = &memConversation{jobs: map[uuid.UUID]*memJob{}, owner: owner, createdAt: now, activeAt: now, watchers: map[chan struct{}]struct{}{}}
	}
	c, err := m.conversation(id)
	if err != nil {
		return Info{}, err
	}
	if c.owner != uuid.Nil && c.owner != owner {
		return Info{}, ErrNotFound // another client's: as if there were none
	}
	return Info{ID: id, LastSerial: uint64(len(c.events))}, nil
}

// Reserve implements Store.
func (m *Memory) Reserve(_ context.Context, conversation, job uuid.UUID, sentence string, limit int) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	c, err := m.conversation(conversation)
	if err != nil {
		return err
	}
	if _, ok := c.jobs[job]; ok {
		return nil
	}
	now, open := m.now(), 0
	for _, j := range c.jobs {
		if j.outcome == 0 && !j.refused && (j.accepted != 0 || now.Sub(j.reservedAt) < ReservationLease) {
			open++
		}
	}
	if open >= limit {
		return ErrFull
	}
	c.jobs[job] = &memJob{sentence: sentence, reservedAt: now}
	return nil
}

// Refuse implements Store.
func (m *Memory) Refuse(_ context.Context, conversation, job uuid.UUID, sentence string) (Event, bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	c, j, err := m.job(conversation, job, sentence)
	if err != nil {
		return Event{}, false, err
	}
	if j.accepted != 0 {
		return c.events[j.accepted-1], false, nil
	}
	j.refused = true
	return Event{}, true, nil
}

// Accept implements Store.
func (m *Memory) Accept(_ context.Context, conversation, job uuid.UUID, sentence string) (Event, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	c, j, err := m.job(conversation, job, sentence)
	if err != nil {
		return Event{}, err
	}
	switch {
	case j.refused:
		return Event{}, ErrRefused
	case j.accepted != 0:
		c.wake()
		return c.events[j.accepted-1], nil
	}
	j.accepted = m.append(c, conversation, Event{Kind: Accepted, JobID: job, Text: j.sentence})
	return c.events[j.accepted-1], nil
}

// Finish implements Store.
func (m *Memory) Finish(_ context.Context, conversation, job uuid.UUID, sentence string, kind Kind, text string) (Event, bool, error) {
	if err := CheckOutcome(job, kind); err != nil {
		return Event{}, false, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	c, j, err := m.job(conversation, job, sentence)
	if err != nil {
		return Event{}, false, err
	}
	switch {
	case j.refused:
		return Event{}, false, ErrRefused
	case j.outcome != 0:
		c.wake()
		return c.events[j.outcome-1], false, nil
	}
	if j.accepted == 0 {
		j.accepted = m.append(c, conversation, Event{Kind: Accepted, JobID: job, Text: j.sentence})
	}
	j.outcome = m.append(c, conversation, Event{Kind: kind, JobID: job, Text: text, InReplyTo: j.sentence})
	return c.events[j.outcome-1], true, nil
}

// job returns the live conversation id and its job, creating the job's record if the front
// door's is missing, unless the job predates the conversation (Predates): then, and for a
// conversation gone, ErrNotFound. Call with mu held.
func (m *Memory) job(id, job uuid.UUID, sentence string) (*memConversation, *memJob, error) {
	c, err := m.conversation(id)
	if err != nil {
		return nil, nil, err
	}
	j, ok := c.jobs[job]
	if !ok {
		if Predates(job, c.createdAt, m.ttl) {
			return nil, nil, ErrNotFound
		}
		j = &memJob{sentence: sentence, reservedAt: m.now()}
		c.jobs[job] = j
	}
	return c, j, nil
}

// append adds ev as the conversation's next event, wakes its watchers and returns the serial.
func (m *Memory) append(c *memConversation, id uuid.UUID, ev Event) uint64 {
	ev.Conversation, ev.Serial, ev.At = id, uint64(len(c.events))+1, m.now()
	c.events = append(c.events, ev)
	c.activeAt = ev.At
	c.wake()
	return ev.Serial
}

// wake wakes the conversation's watchers.
func (c *memConversation) wake() {
	for w := range c.watchers {
		select {
		case w <- struct{}{}:
		default: // a wake-up is already pending
		}
	}
}

// Waiting implements Store.
func (m *Memory) Waiting(_ context.Context, conversation uuid.UUID) ([]uuid.UUID, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	c, err := m.conversation(conversation)
	if err != nil {
		return nil, err
	}
	var jobs []uuid.UUID
	for _, ev := range c.events {
		if j := c.jobs[ev.JobID]; ev.Kind == Accepted && j.outcome == 0 {
			jobs = append(jobs, ev.JobID)
		}
	}
	return jobs, nil
}

// Lost implements Store.
func (m *Memory) Lost(_ context.Context, after time.Duration, batch int) ([]Job, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	type lost struct {
		Job
		reservedAt time.Time
	}
	var jobs []lost
	now := m.now()
	for id := range m.convs {
		c, err := m.conversation(id)
		if err != nil {
			continue
		}
		for job, j := range c.jobs {
			if j.accepted != 0 && j.outcome == 0 && !j.refused && now.Sub(j.reservedAt) > after {
				jobs = append(jobs, lost{Job{Conversation: id, ID: job, Sentence: j.sentence}, j.reservedAt})
			}
		}
	}
	slices.SortFunc(jobs, func(a, b lost) int { return a.reservedAt.Compare(b.reservedAt) })
	out := make([]Job, 0, min(len(jobs), max(batch, 0)))
	for _, j := range jobs[:min(len(jobs), max(batch, 0))] {
		out = append(out, j.Job)
	}
	return out, nil
}

// Prepare implements Store.
func (m *Memory) Prepare(_ context.Context, conversation, job uuid.UUID, sentence string, limit int) (Preparation, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	c, j, err := m.job(conversation, job, sentence)
	if err != nil {
		return Preparation{}, err
	}
	switch {
	case j.refused:
		return Preparation{Refused: true}, nil
	case j.outcome != 0:
		outcome := c.events[j.outcome-1]
		return Preparation{Outcome: &outcome}, nil
	case j.accepted == 0:
		j.accepted = m.append(c, conversation, Event{Kind: Accepted, JobID: job, Text: j.sentence})
	}
	return Preparation{Exchanges: c.answered(limit)}, nil
}

// answered returns the conversation's answered exchanges in the order of their replies, at
// most the last limit (all when limit is negative).
func (c *memConversation) answered(limit int) []Exchange {
	var out []Exchange
	for _, ev := range slices.Backward(c.events) {
		if limit >= 0 && len(out) == limit {
			break
		}
		if j := c.jobs[ev.JobID]; ev.Kind == Reply && j != nil && j.outcome == ev.Serial {
			out = append(out, Exchange{Sentence: j.sentence, Answer: ev.Text})
		}
	}
	slices.Reverse(out)
	return out
}

// Events implements Store.
func (m *Memory) Events(_ context.Context, conversation uuid.UUID, after uint64, limit int) ([]Event, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	c, err := m.conversation(conversation)
	if err != nil {
		return nil, err
	}
	if after >= uint64(len(c.events)) {
		return nil, nil
	}
	rest := c.events[after:]
	if limit >= 0 && len(rest) > limit {
		rest = rest[:limit]
	}
	size := 0
	for n, ev := range rest {
		if size += ev.TextBytes(); size >= PageBytes {
			rest = rest[:n+1]
			break
		}
	}
	return slices.Clone(rest), nil
}

// Watch implements Store.
func (m *Memory) Watch(_ context.Context, conversation uuid.UUID) (<-chan struct{}, uint64, func(), error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	c, err := m.conversation(conversation)
	if err != nil {
		return nil, 0, nil, err
	}
	w := make(chan struct{}, 1)
	c.watchers[w] = struct{}{}
	var once sync.Once
	return w, uint64(len(c.events)), func() {
		once.Do(func() {
			m.mu.Lock()
			defer m.mu.Unlock()
			delete(c.watchers, w)
		})
	}, nil
}

// Heard implements Store: watchers are woken as each event is appended, under the lock that
// Heard takes, so every event is one they have been woken for, and all are in memory. Of a
// conversation gone (idle or expired) it knows nothing: its watchers read it, and find it gone.
func (m *Memory) Heard(conversation uuid.UUID, after uint64) ([]Event, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	c, err := m.conversation(conversation)
	if err != nil || len(c.watchers) == 0 {
		return nil, false
	}
	if after >= uint64(len(c.events)) {
		return nil, true
	}
	return slices.Clone(c.events[after:]), true
}

// Expire implements Store.
func (m *Memory) Expire(_ context.Context, batch int) (int, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	now, n := m.now(), 0
	for _, c := range m.convs {
		if n >= batch {
			return n, nil
		}
		if c.expiredAt.IsZero() && now.Sub(c.activeAt) > m.ttl {
			c.events, c.jobs, c.expiredAt = nil, map[uuid.UUID]*memJob{}, now
			n++
			c.wake() // its watchers read it, and find it gone
		}
	}
	for id, c := range m.convs {
		if n >= batch {
			break
		}
		if !c.expiredAt.IsZero() && now.Sub(c.expiredAt) > m.ttl {
			delete(m.convs, id)
			n++
		}
	}
	return n, nil
}

// Ping implements Store: memory always answers.
func (m *Memory) Ping(context.Context) error { return nil }
