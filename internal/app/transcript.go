package app

import (
	"context"

	"github.com/beacon/eventdispatch/internal/transcript"
	"github.com/beacon/eventdispatch/internal/transcript/pgtranscript"
)

// OpenTranscript returns the conversations' record: in the Postgres at url, shared by every
// front door and dispatcher, or, with url empty (standalone mode without DATABASE_URL), in
// this process's memory.
func (s *System) OpenTranscript(ctx context.Context, url string, cfg Transcript) (transcript.Store, error) {
	if url == "" {
		return transcript.NewMemory(cfg.TTL), nil
	}
	pool, err := s.pool(ctx, url)
	if err != nil {
		return nil, err
	}
	return pgtranscript.New(pool, cfg.TTL), nil
}
