package llm

import (
	"context"
	"hash/fnv"

	"github.com/beacon/eventdispatch/internal/eliza"
)

// NewOffline returns a Call that answers with the project's ELIZA engine, for when no model
// API is configured (neither OPENAI_API_KEY nor OPENAI_BASE_URL). It never fails.
//
// Each call builds a fresh engine, seeded by seed and the conversation's id, and replays the
// person's earlier sentences (the RoleUser turns of History) into it before answering the
// new one. The engine's state — its random choices and its memory of earlier topics — is
// thereby that of a single engine that followed the whole conversation, so the answer
// depends on the conversation only, not on which worker or process took the job, and the
// responder keeps no state between calls. Replaying costs one Reply per earlier sentence,
// which is negligible next to a network call.
func NewOffline(seed uint64) Call {
	return func(ctx context.Context, req Request) (Response, error) {
		if err := ctx.Err(); err != nil {
			return Response{}, err
		}
		e := eliza.New(seed ^ conversationSeed(req.ConversationID))
		for _, t := range req.History {
			if t.Role == RoleUser {
				e.Reply(t.Content)
			}
		}
		reply, _ := e.Reply(req.Sentence)
		return Response{Text: reply}, nil
	}
}

// conversationSeed spreads conversations over the engine's random streams, so that two
// conversations saying the same things need not get the same answers.
func conversationSeed(id string) uint64 {
	h := fnv.New64a()
	_, _ = h.Write([]byte(id))
	return h.Sum64()
}
