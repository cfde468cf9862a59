package main

import (
	"context"
	"errors"
	"fmt"

	"github.com/google/uuid"
)

// cleanupChunk bounds the recordings per DELETE statement.
const cleanupChunk = 10000

// cleanup removes what the run created: the signal rows it inserted, the dispatcher's state
// and processed rows for its recordings, its topics and its consumer groups. It goes on after
// a failure and reports them all. Run it after every dispatcher has stopped.
func (b *bench) cleanup(ctx context.Context) error {
	var errs []error
	b.log.Info("cleaning up", "recordings", len(b.sourceRecordings)+len(b.dispatcherOnly), "topics", b.topics, "groups", b.groups)
	// Source rows first: their delete events are then on the topic, but no bench dispatcher
	// reads them any more.
	errs = append(errs, b.deleteRows(ctx, `DELETE FROM datastore.signal WHERE recording = ANY($1)`, b.sourceRecordings))
	all := append(append([]uuid.UUID{}, b.sourceRecordings...), b.dispatcherOnly...)
	for _, stmt := range []string{
		`DELETE FROM dispatcher.processed_recording WHERE recording = ANY($1)`,
		`DELETE FROM dispatcher.pending_recording WHERE recording = ANY($1)`,
		`DELETE FROM dispatcher.signal_state WHERE recording = ANY($1)`,
	} {
		errs = append(errs, b.deleteRows(ctx, stmt, all))
	}
	errs = append(errs, b.kafka.DeleteTopics(ctx, b.topics...), b.kafka.DeleteGroups(ctx, b.groups...))
	return errors.Join(errs...)
}

func (b *bench) deleteRows(ctx context.Context, stmt string, recs []uuid.UUID) error {
	for len(recs) > 0 {
		n := min(len(recs), cleanupChunk)
		if _, err := b.pool.Exec(ctx, stmt, recs[:n]); err != nil {
			return fmt.Errorf("clean up (%s): %w", stmt, err)
		}
		recs = recs[n:]
	}
	return nil
}
