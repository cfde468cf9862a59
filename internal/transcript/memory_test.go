package transcript_test

import (
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/beacon/eventdispatch/internal/transcript"
	"github.com/beacon/eventdispatch/internal/transcript/transcripttest"
)

// TestMemory_PassesTheTranscriptSuite runs the behaviour every transcript store shares. A
// memory store starts empty and dies with the test, so there is nothing to forget, and no
// other store shares it.
func TestMemory_PassesTheTranscriptSuite(t *testing.T) {
	transcripttest.Run(t, transcripttest.Harness[*transcript.Memory]{
		NewStore: func(_ *testing.T, ttl time.Duration) *transcript.Memory { return transcript.NewMemory(ttl) },
		Age:      func(_ *testing.T, m *transcript.Memory, conv uuid.UUID, d time.Duration) { m.Age(conv, d) },
		Held:     func(_ *testing.T, m *transcript.Memory, conv uuid.UUID) int { return m.Held(conv) },
	})
}
