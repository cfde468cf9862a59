package queue

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
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

// ErrNUL is why a sentence holding a NUL character (U+0000) is refused: it is valid UTF-8,
// but no Postgres text holds one, so the transcript could store neither the sentence's
// reservation nor its outcome.
var ErrNUL = errors.New("sentence contains a NUL character (U+0000), which no transcript can hold")

// CheckStorable returns ErrNUL for a sentence the transcript cannot hold, or nil.
func CheckStorable(sentence string) error {
	if strings.ContainsRune(sentence, 0) {
		return ErrNUL
	}
	return nil
}

// UnmarshalJob decodes a job, requiring its identifying fields and a sentence the transcript
// can hold: a front door never writes another (it refuses it, and could not have reserved
// it), and one written by anything else would fail every transcript round it is in, for
// ever. Fields of older versions (reply_to, history) are ignored.
func UnmarshalJob(b []byte) (Job, error) {
	var j Job
	if err := json.Unmarshal(b, &j); err != nil {
		return Job{}, fmt.Errorf("decode job: %w", err)
	}
	if j.ID == uuid.Nil || j.ConversationID == uuid.Nil {
		return Job{}, fmt.Errorf("decode job: id and conversation_id are required")
	}
	if err := CheckStorable(j.Sentence); err != nil {
		return Job{}, fmt.Errorf("decode job %s: %w", j.ID, err)
	}
	return j, nil
}
