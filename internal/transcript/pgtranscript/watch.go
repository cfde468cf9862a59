package pgtranscript

import (
	"context"
	"fmt"

	"github.com/google/uuid"

	"github.com/beacon/eventdispatch/internal/transcript"
)

// Watch implements transcript.Store. It returns once the listener has LISTENed to the
// conversation's channel, so it waits while Listen is not running or not connected, for as
// long as ctx allows.
func (s *Store) Watch(ctx context.Context, conversation uuid.UUID) (<-chan struct{}, func(), error) {
	if err := s.live(ctx, conversation); err != nil {
		return nil, nil, fmt.Errorf("watch conversation %s: %w", conversation, err)
	}
	wake, ready, stop := s.hub.add(conversation)
	select {
	case <-ready:
		return wake, stop, nil
	case <-ctx.Done():
		stop()
		return nil, nil, fmt.Errorf("watch conversation %s: waiting for the listener: %w", conversation, context.Cause(ctx))
	}
}

// Heard implements transcript.Store, from the events (or serials) that the notifications
// carry.
func (s *Store) Heard(conversation uuid.UUID, after uint64) ([]transcript.Event, bool) {
	return s.hub.heard(channelName(conversation), after)
}
