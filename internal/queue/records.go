package queue

import (
	"encoding/json"
	"fmt"
	"time"
)

// Turn is one earlier sentence or answer of a conversation, oldest first in a Job's History.
type Turn struct {
	Role    string `json:"role"` // "user" or "assistant"
	Content string `json:"content"`
}

// Job is one queued sentence. It is the value of a message on the jobs topic, keyed by
// ConversationID so a conversation's jobs stay in order on one partition.
type Job struct {
	ID             string `json:"id"`
	ConversationID string `json:"conversation_id"`
	// ReplyTo names the front-door process holding the stream; replies carry it back.
	ReplyTo    string    `json:"reply_to"`
	Sentence   string    `json:"sentence"`
	History    []Turn    `json:"history,omitempty"`
	EnqueuedAt time.Time `json:"enqueued_at"`
}

// Reply is the outcome of one job: an answer, or an error a person can read.
type Reply struct {
	JobID          string `json:"job_id"`
	ConversationID string `json:"conversation_id"`
	ReplyTo        string `json:"reply_to"`
	// InReplyTo is the job's sentence.
	InReplyTo string `json:"in_reply_to"`
	// Text is the answer, or the error message when Error is set.
	Text  string `json:"text"`
	Error bool   `json:"error,omitempty"`
}

// Marshal encodes a job or reply for Kafka.
func Marshal(v any) ([]byte, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("encode %T: %w", v, err)
	}
	return b, nil
}

// UnmarshalJob decodes a job, requiring its identifying fields.
func UnmarshalJob(b []byte) (Job, error) {
	var j Job
	if err := json.Unmarshal(b, &j); err != nil {
		return Job{}, fmt.Errorf("decode job: %w", err)
	}
	if j.ID == "" || j.ConversationID == "" || j.ReplyTo == "" {
		return Job{}, fmt.Errorf("decode job: id, conversation_id and reply_to are required")
	}
	return j, nil
}

// UnmarshalReply decodes a reply, requiring its identifying fields.
func UnmarshalReply(b []byte) (Reply, error) {
	var r Reply
	if err := json.Unmarshal(b, &r); err != nil {
		return Reply{}, fmt.Errorf("decode reply: %w", err)
	}
	if r.JobID == "" || r.ConversationID == "" || r.ReplyTo == "" {
		return Reply{}, fmt.Errorf("decode reply: job_id, conversation_id and reply_to are required")
	}
	return r, nil
}
