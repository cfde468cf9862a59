package pgtranscript

import (
	"encoding/hex"

	"github.com/google/uuid"
)

// channelName is the conversation's notification channel, on which transcript.notify
// notifies (migrations/00006_transcript_functions.sql builds the same name): one per
// conversation, so that a process LISTENs to the conversations it serves and no others. It is
// lower case and 43 characters long, within the 63 of an identifier.
func channelName(conversation uuid.UUID) string {
	return "transcript_" + hex.EncodeToString(conversation[:])
}
