package pgtranscript

import (
	"context"
	"slices"
	"sync"

	"github.com/google/uuid"

	"github.com/beacon/eventdispatch/internal/transcript"
)

// hub is what Watch and the listener share: the channels watched and their watchers, which of
// them are LISTENed on the listener's connection, and how to interrupt the listener's wait so
// that it LISTENs or UNLISTENs at once. It does no I/O.
type hub struct {
	mu       sync.Mutex
	channels map[string]*channel // by channel name
	// changed is set when a channel needs a LISTEN or UNLISTEN the listener has not planned.
	changed bool
	// interrupt ends the listener's wait for notifications; nil while it is not waiting.
	interrupt context.CancelFunc
	running   bool   // Listen is running
	pid       uint32 // the listener connection's backend, 0 while there is none
}

// channel is one conversation's notification channel.
type channel struct {
	// watchers are the wake-up channels of the Watch calls not stopped yet, each of size 1.
	watchers map[chan struct{}]struct{}
	// listening: LISTEN is in effect on the listener's current connection.
	listening bool
	// ready is closed when listening becomes true; Watch returns then.
	ready chan struct{}
	// missed: the channel was listened on a connection that broke, so its watchers may have
	// missed notifications and are woken once it is listened again.
	missed bool
	// heard is the highest serial notified on the channel since it was first listened, unless
	// deaf: a notification may have been missed (a broken connection) or carried no serial.
	heard uint64
	deaf  bool
	// recent are the last events up to heard that notifications carried, consecutive: at
	// most recentEvents, and none when the notification for heard carried only its serial.
	recent []transcript.Event
	conv   uuid.UUID
}

// recentEvents is how many of a conversation's last events a channel keeps for its watchers,
// which send them without reading them back. A watcher further behind reads Events.
const recentEvents = 8

// add registers a watcher of conversation's channel. Its wake-ups start once ready is closed.
func (h *hub) add(conversation uuid.UUID) (wake chan struct{}, ready <-chan struct{}, stop func()) {
	h.mu.Lock()
	defer h.mu.Unlock()
	name := channelName(conversation)
	ch := h.channels[name]
	if ch == nil {
		ch = &channel{watchers: map[chan struct{}]struct{}{}, ready: make(chan struct{}), conv: conversation}
		h.channels[name] = ch
		h.changedLocked()
	}
	wake = make(chan struct{}, 1)
	ch.watchers[wake] = struct{}{}
	var once sync.Once
	stop = func() {
		once.Do(func() {
			h.mu.Lock()
			defer h.mu.Unlock()
			delete(ch.watchers, wake)
			if len(ch.watchers) == 0 {
				h.changedLocked()
			}
		})
	}
	return wake, ch.ready, stop
}

// changedLocked asks the listener to plan its LISTENs again. Call with mu held.
func (h *hub) changedLocked() {
	h.changed = true
	if h.interrupt != nil {
		h.interrupt()
	}
}

// plan returns the channels to LISTEN (watched, not listened) and to UNLISTEN (listened, no
// watcher left), and forgets the channels without watchers.
func (h *hub) plan() (listen, unlisten []string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if !h.changed {
		return nil, nil // the listener asks after every notification: no walk of every channel then
	}
	h.changed = false
	for name, ch := range h.channels {
		switch {
		case len(ch.watchers) > 0 && !ch.listening:
			listen = append(listen, name)
		case len(ch.watchers) == 0:
			if ch.listening {
				unlisten = append(unlisten, name)
			}
			// A Watch that comes now makes a new channel, LISTENed after this UNLISTEN.
			delete(h.channels, name)
		}
	}
	return listen, unlisten
}

// listened records that LISTEN is in effect for names: their Watch calls return, and the
// watchers that may have missed notifications while the connection was down are woken.
func (h *hub) listened(names []string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, name := range names {
		ch := h.channels[name]
		if ch == nil || ch.listening {
			continue
		}
		ch.listening = true
		close(ch.ready)
		if ch.missed {
			ch.missed, ch.deaf = false, true
			ch.wakeLocked()
		}
	}
}

// notify records what a notification's payload carries (an event, or only its serial) and
// wakes the watchers of the channel name.
func (h *hub) notify(name, payload string) {
	serial, ev, err := parsePayload(payload) // before the lock, which Watch and stop take too
	h.mu.Lock()
	defer h.mu.Unlock()
	ch := h.channels[name]
	if ch == nil {
		return
	}
	switch {
	case payload == payloadGone || err != nil:
		// Expired, or a payload this process cannot read: its watchers read from now on.
		ch.deaf = true
	case serial <= ch.heard:
		// Announced before (a job redone wakes its watchers again), or overtaken.
	case ev == nil:
		ch.heard, ch.recent = serial, nil
	default:
		if len(ch.recent) == 0 || serial != ch.heard+1 {
			ch.recent = ch.recent[:0]
		}
		ev.Conversation = ch.conv
		ch.recent = append(ch.recent, *ev)
		if len(ch.recent) > recentEvents {
			ch.recent = slices.Delete(ch.recent, 0, len(ch.recent)-recentEvents)
		}
		ch.heard = serial
	}
	ch.wakeLocked()
}

// heard returns the events after serial after that notifications on the channel name
// carried, and false when they are not all known: the channel is not listened, a
// notification may have been missed, or the events are not all held.
func (h *hub) heard(name string, after uint64) ([]transcript.Event, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	ch := h.channels[name]
	switch {
	case ch == nil || !ch.listening || ch.deaf:
		return nil, false
	case ch.heard <= after:
		return nil, true
	case len(ch.recent) == 0 || ch.recent[0].Serial > after+1:
		return nil, false
	}
	return slices.Clone(ch.recent[after+1-ch.recent[0].Serial:]), true
}

// wakeLocked wakes every watcher of ch that has no wake-up pending. Call with the hub's mu held.
func (ch *channel) wakeLocked() {
	for w := range ch.watchers {
		select {
		case w <- struct{}{}:
		default: // coalesced with the pending one
		}
	}
}

// connected records the listener's new connection, before it LISTENs.
func (h *hub) connected(pid uint32) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.pid = pid
}

// disconnected records that the listener's connection, and every LISTEN with it, is gone.
// Watch calls from now on wait until the listener has LISTENed again on a new one.
func (h *hub) disconnected() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.pid = 0
	h.changed = true // the next connection LISTENs to every watched channel
	for name, ch := range h.channels {
		switch {
		case len(ch.watchers) == 0:
			delete(h.channels, name)
		case ch.listening:
			ch.listening, ch.ready, ch.missed = false, make(chan struct{}), true
		}
	}
}

// waiting registers cancel as the way to interrupt the listener's coming wait. It returns
// false, and the listener should plan again instead of waiting, when channels changed since
// the last plan.
func (h *hub) waiting(cancel context.CancelFunc) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.changed {
		return false
	}
	h.interrupt = cancel
	return true
}

// woken records that the listener's wait has ended.
func (h *hub) woken() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.interrupt = nil
}

// start records that Listen runs, or returns false when one already does.
func (h *hub) start() bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.running {
		return false
	}
	h.running = true
	return true
}

// stop records that Listen has returned.
func (h *hub) stop() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.running = false
}

// listenerPID returns the listener connection's backend process id, 0 when not connected.
func (h *hub) listenerPID() uint32 {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.pid
}
