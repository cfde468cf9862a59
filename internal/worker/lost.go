package worker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/beacon/eventdispatch/internal/transcript"
)

// LostText is the error recorded for a job that no worker answered within after of its
// enqueueing (FailLost).
func LostText(after time.Duration) string {
	return fmt.Sprintf(lostPrefix+"%s: the sentence may have been lost on its way to the assistant, please send it again", after)
}

// lostPrefix begins every LostText, and is how failedAsLost tells the outcomes FailLost stored
// from a worker's failures, in the transcripts already written too: reword what follows it
// freely, but never it, or the lost jobs of every transcript kept so far would be taken for
// jobs a worker failed (dead-lettered if they reach a worker).
const lostPrefix = "no answer came within "

// failedAsLost tells whether an outcome's text is LostText's: FailLost's, not a worker's.
func failedAsLost(text string) bool { return strings.HasPrefix(text, lostPrefix) }

// LostJobs is the part of the transcript store the sweep of lost jobs uses.
type LostJobs interface {
	Lost(ctx context.Context, after time.Duration, batch int) ([]transcript.Job, error)
	Finish(ctx context.Context, conversation, job uuid.UUID, sentence string, kind transcript.Kind, text string) (transcript.Event, bool, error)
}

// FailLost records an error (LostText of after, LOST_JOB_AFTER) for at most batch jobs
// accepted more than olderThan ago (after, or more while the workers have older jobs to read)
// that still have no outcome, and returns how many it found. The front door told their
// clients "enqueued" once Kafka had them, so they were lost after that, on the way to a
// worker: their topic deleted or recreated, the workers' group moved past them, a standalone
// process started on another STANDALONE_KAFKA_DIR. Without an outcome such a job would hold
// its slot in its conversation's queue until the conversation expired, and its client would
// wait for ever; the error tells the client, and Finish frees the slot. A job that was only
// slow, and reaches a worker after all, finds the outcome and is neither asked of the model
// nor copied to the dead-letter topic (Pool.answer). Each job failed is logged and counted as
// worker_jobs_total{outcome="lost"}.
func FailLost(ctx context.Context, store LostJobs, olderThan, after time.Duration, batch int, m *Metrics, log *slog.Logger) (int, error) {
	jobs, err := store.Lost(ctx, olderThan, batch)
	if err != nil {
		return 0, err
	}
	text := LostText(after)
	for _, j := range jobs {
		ev, recorded, err := store.Finish(ctx, j.Conversation, j.ID, j.Sentence, transcript.Failed, text)
		if err != nil && !errors.Is(err, transcript.ErrNotFound) && !errors.Is(err, transcript.ErrRefused) {
			// The failure may be stored and only its wake-up lost (pgtranscript's are two
			// transactions), and the next sweep would not list the job again: asked again,
			// Finish appends nothing and wakes. Stored by the first call, it is this sweep's.
			ev, recorded, err = store.Finish(ctx, j.Conversation, j.ID, j.Sentence, transcript.Failed, text)
			recorded = recorded || err == nil && ev.Kind == transcript.Failed && ev.Text == text
		}
		switch {
		case errors.Is(err, transcript.ErrNotFound) || errors.Is(err, transcript.ErrRefused):
			continue // expired or refused since it was listed: nobody waits for it
		case err != nil:
			return 0, fmt.Errorf("record the failure of lost job %s: %w", j.ID, err)
		case !recorded:
			continue // a worker answered it since it was listed
		}
		m.jobs.WithLabelValues("lost").Inc()
		log.Warn("job lost: no worker answered it in time; its client was told to send it again",
			"job", j.ID, "conversation", j.Conversation, "serial", ev.Serial, "older_than", olderThan)
	}
	return len(jobs), nil
}
