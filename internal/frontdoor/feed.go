package frontdoor

import (
	"context"
	"fmt"
	"slices"

	"github.com/google/uuid"

	"github.com/beacon/eventdispatch/internal/transcript"
)

// feedPage is the most events one read of the transcript returns; a read also stops at about
// transcript.PageBytes of text. A page is held until the stream has sent it, and a client that
// does not read holds up its stream: with pages of 500 events whatever their size, and
// answers of up to 256 KiB, each such client held 66 MB of the front door.
const feedPage = 500

// feed delivers a conversation's events to one client: those after a serial, in order and
// exactly once, then each new one as it is appended. Everything a stream sends about its
// conversation goes through it, so there is no gap or duplicate between the replay and the
// live events, or between a stream's own "enqueued" and the events of other streams.
type feed struct {
	store transcript.Store
	conv  uuid.UUID
	last  uint64 // the serial of the last event sent
	// watched is the conversation's last serial when the watch began: the events after it
	// come with wake-ups, those up to it are read.
	watched uint64
	wake    <-chan struct{}
	stop    func()
}

// openFeed starts watching conv, then (so that nothing appended in between is missed) is
// ready to send the events after after, starting with replay. Starting to watch may wait for
// the store (a listener reconnecting to Postgres): at most EnqueueTimeout.
func (q *Queue) openFeed(ctx context.Context, conv uuid.UUID, after uint64) (*feed, error) {
	watchCtx, cancel := context.WithTimeout(ctx, q.EnqueueTimeout)
	defer cancel()
	wake, watched, stop, err := q.Transcript.Watch(watchCtx, conv)
	if err != nil {
		return nil, fmt.Errorf("watch conversation %s: %w", conv, err)
	}
	return &feed{store: q.Transcript, conv: conv, last: after, watched: watched, wake: wake, stop: stop}, nil
}

// replay sends the events that were appended before the watch began and after the feed's
// starting serial. It reads the transcript only when there are some: a new conversation, or
// a client resuming from its last event, has nothing to read.
func (f *feed) replay(ctx context.Context, send func(transcript.Event) error) error {
	if f.watched <= f.last {
		return nil
	}
	return f.catchUp(ctx, send)
}

// drained reports whether nothing of the conversation is left to send: no job is waiting for
// its outcome, nor any of the ownOpen jobs the caller queued and has not seen answered, and
// every outcome has been sent. Waiting is asked before catching up, so an outcome stored in
// between is sent before drained says true. While ownOpen > 0 the answer is no without asking
// the store: those outcomes come with wake-ups, and a half-closed stream with a burst of jobs
// would otherwise read the transcript twice for each of them.
func (f *feed) drained(ctx context.Context, ownOpen int, send func(transcript.Event) error) (bool, error) {
	if ownOpen > 0 {
		return false, nil
	}
	waiting, err := f.store.Waiting(ctx, f.conv)
	if err != nil {
		return false, fmt.Errorf("read conversation %s: %w", f.conv, err)
	}
	if err := f.catchUp(ctx, send); err != nil {
		return false, err
	}
	return len(waiting) == 0, nil
}

// deliver sends ev, an event the caller has just appended, once every event before it is
// sent. Events appended by others in between (a reply while this stream was admitting a
// sentence) are sent first, from what the store was woken with when it holds them; otherwise
// it catches up, which sends ev in its turn. Either way nothing the caller or the store
// already holds is read back.
func (f *feed) deliver(ctx context.Context, ev transcript.Event, send func(transcript.Event) error) error {
	if ev.Serial <= f.last {
		return nil // sent already: a catch-up read it before the caller's append returned
	}
	if ev.Serial > f.last+1 {
		if heard, ok := f.store.Heard(f.conv, f.last); ok {
			if i := slices.IndexFunc(heard, func(h transcript.Event) bool { return h.Serial >= ev.Serial }); i >= 0 {
				heard = heard[:i]
			}
			if err := f.sendAll(heard, send); err != nil {
				return err
			}
		}
	}
	if ev.Serial != f.last+1 {
		return f.catchUp(ctx, send)
	}
	if err := send(ev); err != nil {
		return err
	}
	f.last = ev.Serial
	return nil
}

// woken sends what a wake-up was for: the events the store was woken with, when it holds
// them all (none, for the stream's own "enqueued"), else what a read of the transcript finds.
func (f *feed) woken(ctx context.Context, send func(transcript.Event) error) error {
	events, ok := f.store.Heard(f.conv, f.last)
	if !ok {
		return f.catchUp(ctx, send)
	}
	return f.sendAll(events, send)
}

// catchUp sends every event after the last one sent, in order.
func (f *feed) catchUp(ctx context.Context, send func(transcript.Event) error) error {
	for {
		events, err := f.store.Events(ctx, f.conv, f.last, feedPage)
		if err != nil {
			return fmt.Errorf("read conversation %s: %w", f.conv, err)
		}
		if err := f.sendAll(events, send); err != nil {
			return err
		}
		if len(events) < feedPage && transcript.TextBytes(events) < transcript.PageBytes {
			return nil // the end, not a page cut short by its size
		}
	}
}

// sendAll sends events, the next ones after the last sent, in order.
func (f *feed) sendAll(events []transcript.Event, send func(transcript.Event) error) error {
	for _, ev := range events {
		if err := send(ev); err != nil {
			return err
		}
		f.last = ev.Serial
	}
	return nil
}
