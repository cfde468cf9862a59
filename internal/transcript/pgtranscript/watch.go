package pgtranscript

import (
	"context"
	"fmt"

	"github.com/google/uuid"
)

// Watch implements transcript.Store. It returns once the listener has LISTENed to the
// conversation's channel, so it waits while Listen is not running or not connected, for as
// long as ctx allows.
func (s *Store) Watch(ctx context.Context, conversation uuid.UUID) (<-chan struct{}, func(), error) {
	if err := s.live(ctx, conversation); err != nil {
		return nil, nil, fmt.Errorf("watch conversation %s: %w", conversation, err)
	}
	wake, ready, stop := s.hub.add(channelName(conversation))
	select {
	case <-ready:
		return wake, stop, nil
	case <-ctx.Done():
		stop()
		return nil, nil, fmt.Errorf("watch conversation %s: waiting for the listener: %w", conversation, context.Cause(ctx))
	}
}

// Heard implements transcript.Store, from the serials that the notifications carry.
func (s *Store) Heard(conversation uuid.UUID) (uint64, bool) {
	return s.hub.heard(channelName(conversation))
}
