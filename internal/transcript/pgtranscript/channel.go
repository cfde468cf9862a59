package pgtranscript

import (
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/beacon/eventdispatch/internal/transcript"
)

// channelName is the conversation's notification channel, on which transcript.wake and
// transcript.notify notify (migrations 00012 and 00006 build the same name): one per
// conversation, so that a process LISTENs to the conversations it serves and no others. It is
// lower case and 43 characters long, within the 63 of an identifier.
func channelName(conversation uuid.UUID) string {
	return "transcript_" + hex.EncodeToString(conversation[:])
}

// wireEvent is an event as a notification's payload carries it, in JSON. The conversation is
// the channel's.
type wireEvent struct {
	Serial    uint64          `json:"serial"`
	Kind      transcript.Kind `json:"kind"`
	Job       uuid.UUID       `json:"job"`
	Text      string          `json:"text"`
	InReplyTo string          `json:"in_reply_to"`
	At        time.Time       `json:"at"`
}

// payloadGone is the payload of the notification that a conversation expired (Expire). It
// carries no event: its watchers read the conversation, and find it gone.
const payloadGone = "gone"

// maxPayload is the longest payload Postgres accepts in a notification (shorter than 8000
// bytes).
const maxPayload = 7999

// payload is what the notification of ev carries: the event, or, when it is too long for a
// notification, only its serial (watchers then read it).
func payload(ev transcript.Event) string {
	b, err := json.Marshal(wireEvent{Serial: ev.Serial, Kind: ev.Kind, Job: ev.JobID, Text: ev.Text, InReplyTo: ev.InReplyTo, At: ev.At})
	if err != nil || len(b) > maxPayload {
		return strconv.FormatUint(ev.Serial, 10)
	}
	return string(b)
}

// parsePayload reads a notification: its serial, and its event (without its conversation,
// which is the channel's) when it carries one (transcript.notify, of the version before,
// sends only serials).
func parsePayload(payload string) (uint64, *transcript.Event, error) {
	if !strings.HasPrefix(payload, "{") {
		serial, err := strconv.ParseUint(payload, 10, 64)
		return serial, nil, err
	}
	var w wireEvent
	if err := json.Unmarshal([]byte(payload), &w); err != nil {
		return 0, nil, fmt.Errorf("notification payload: %w", err)
	}
	if w.Serial == 0 {
		return 0, nil, errors.New("notification payload: no serial")
	}
	return w.Serial, &transcript.Event{Serial: w.Serial, Kind: w.Kind, JobID: w.Job, Text: w.Text, InReplyTo: w.InReplyTo, At: w.At}, nil
}
