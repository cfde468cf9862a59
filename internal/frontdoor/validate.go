package frontdoor

import (
	"errors"
	"fmt"
	"strings"

	"connectrpc.com/connect"

	"github.com/beacon/eventdispatch/internal/queue"
)

// MaxSentenceBytes is the longest sentence, in bytes of UTF-8, that the service answers.
// Longer ones get InvalidArgument. Whole messages are also capped (see MaxMessageBytes) so a
// huge request is refused before it is read into memory.
const MaxSentenceBytes = 1024

// MaxMessageBytes caps every request and response message. Past it Connect answers
// ResourceExhausted without reading the rest.
const MaxMessageBytes = 64 << 10

// validateSentence returns an InvalidArgument error a person can act on, or nil.
func validateSentence(sentence string) error {
	if strings.TrimSpace(sentence) == "" {
		return connect.NewError(connect.CodeInvalidArgument, errors.New("sentence is empty: say something"))
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
