package pgtranscript

import (
	"context"
	"fmt"

	"github.com/google/uuid"

	"github.com/beacon/eventdispatch/internal/transcript"
)

// Watch implements transcript.Store. It returns once the listener has LISTENed to the
// conversation's channel, so it waits while Listen is not running or not connected, for as
// long as ctx allows; then it reads the conversation's last serial, which an event committed
// since the LISTEN either counts in or wakes the watcher for.
func (s *Store) Watch(ctx context.Context, conversation uuid.UUID) (<-chan struct{}, uint64, func(), error) {
	wake, ready, stop := s.hub.add(conversation)
	select {
	case <-ready:
	case <-ctx.Done():
		stop()
		return nil, 0, nil, fmt.Errorf("watch conversation %s: waiting for the listener: %w", conversation, context.Cause(ctx))
	}
	last, err := s.last(ctx, conversation)
	if err != nil {
		stop()
		return nil, 0, nil, fmt.Errorf("watch conversation %s: %w", conversation, err)
	}
	return wake, last, stop, nil
}

// Heard implements transcript.Store, from the events (or serials) that the notifications
// carry.
func (s *Store) Heard(conversation uuid.UUID, after uint64) ([]transcript.Event, bool) {
	return s.hub.heard(channelName(conversation), after)
}
