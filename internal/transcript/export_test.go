package transcript

import (
	"time"

	"github.com/google/uuid"
)

// Age moves everything m holds of conversation id into the past by d, as if nothing had
// happened to it for d: the suite's Harness.Age for Memory.
func (m *Memory) Age(id uuid.UUID, d time.Duration) {
	m.mu.Lock()
	defer m.mu.Unlock()
	c, ok := m.convs[id]
	if !ok {
		return
	}
	c.createdAt, c.activeAt = c.createdAt.Add(-d), c.activeAt.Add(-d)
	if !c.expiredAt.IsZero() {
		c.expiredAt = c.expiredAt.Add(-d)
	}
	for _, j := range c.jobs {
		j.reservedAt = j.reservedAt.Add(-d)
	}
	for i := range c.events {
		c.events[i].At = c.events[i].At.Add(-d)
	}
}

// Held returns how many events and jobs m holds of conversation id: the suite's Harness.Held
// for Memory.
func (m *Memory) Held(id uuid.UUID) int {
	m.mu.Lock()
	defer m.mu.Unlock()
	c, ok := m.convs[id]
	if !ok {
		return 0
	}
	return len(c.events) + len(c.jobs)
}
