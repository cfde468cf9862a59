package frontdoor

import (
	"errors"
	"fmt"

	"connectrpc.com/connect"

	"github.com/beacon/eventdispatch/internal/queue"
	"github.com/beacon/eventdispatch/internal/visible"
)

// MaxSentenceBytes is the longest sentence, in bytes of UTF-8, that the service answers.
// Longer ones get InvalidArgument. Whole messages are also capped (see MaxMessageBytes) so a
// huge request is refused before it is read into memory.
const MaxSentenceBytes = 1024

// MaxMessageBytes caps every request message. Past it Connect answers ResourceExhausted
// without reading the rest.
const MaxMessageBytes = 64 << 10

// MaxResponseBytes caps every response message, as encoded for the client (compressed when it
// accepts that). It is what the server itself sends, so it is no guard against clients: it
// only has to hold the largest answer, a year of a busy client's usage (GetUsage) or a reply
// of transcript.MaxAnswerBytes escaped as JSON, under the 4 MiB that gRPC clients accept by
// default. A response over it cannot be sent at all, and for a reply that would fail every
// resume of its conversation.
const MaxResponseBytes = 4 << 20

// validateSentence returns an InvalidArgument error a person can act on, or nil.
func validateSentence(sentence string) error {
	if sentence == "" {
		return connect.NewError(connect.CodeInvalidArgument, errors.New("sentence is empty: say something"))
	}
	if visible.Blank(sentence) {
		// Spaces alone, or a zero-width space, a byte-order mark or a bell, would be queued,
		// and a model asked about nothing. One message for all of them, as the rule is one.
		return connect.NewError(connect.CodeInvalidArgument,
			errors.New("sentence has no visible character (only spaces, control and format characters): say something"))
	}
	if len(sentence) > MaxSentenceBytes {
		return connect.NewError(connect.CodeInvalidArgument,
			fmt.Errorf("sentence is %d bytes long; the limit is %d", len(sentence), MaxSentenceBytes))
	}
	if err := queue.CheckStorable(sentence); err != nil {
		// Queued, it would fail in the transcript, and be reported as the queue being
		// unavailable.
		return connect.NewError(connect.CodeInvalidArgument, err)
	}
	return nil
}
