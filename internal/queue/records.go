package queue

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/google/uuid"
)

// Job is one queued sentence. It is the value of a message on the jobs topic, keyed by
// ConversationID so a conversation's jobs stay in order on one partition. The worker reads
// the conversation so far from the transcript when the job runs, so a job carries no history.
type Job struct {
	ID             uuid.UUID `json:"id"`
	ConversationID uuid.UUID `json:"conversation_id"`
	Sentence       string    `json:"sentence"`
	EnqueuedAt     time.Time `json:"enqueued_at"`
	// ClientID is who queued it (uuid.Nil: the anonymous client); Tier ("free" or "premium")
	// decides what answers it, as the front door authenticated the caller. A job without a
	// tier (queued before tiers existed) is answered as premium, as all jobs were then.
	ClientID uuid.UUID `json:"client_id,omitzero"`
	Tier     string    `json:"tier,omitempty"`
}

// Marshal encodes a job for Kafka.
func Marshal(j Job) ([]byte, error) {
	b, err := json.Marshal(j)
	if err != nil {
		return nil, fmt.Errorf("encode job: %w", err)
	}
	return b, nil
}

// UnmarshalJob decodes a job, requiring its identifying fields. Fields of older versions
// (reply_to, history) are ignored.
func UnmarshalJob(b []byte) (Job, error) {
	var j Job
	if err := json.Unmarshal(b, &j); err != nil {
		return Job{}, fmt.Errorf("decode job: %w", err)
	}
	if j.ID == uuid.Nil || j.ConversationID == uuid.Nil {
		return Job{}, fmt.Errorf("decode job: id and conversation_id are required")
	}
	return j, nil
}
