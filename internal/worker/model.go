package worker

import (
	"context"

	"github.com/beacon/eventdispatch/internal/llm"
	"github.com/beacon/eventdispatch/internal/queue"
)

// Ask returns the Model that puts each job to call: the model API (or the offline responder)
// behind the policy chain, built once per process so every worker shares one rate limiter and
// one breaker (llm.NewPolicy). The job's history goes with it as the front door chose it.
func Ask(call llm.Call) Model {
	return func(ctx context.Context, job queue.Job) (string, error) {
		history := make([]llm.Turn, len(job.History))
		for i, t := range job.History {
			history[i] = llm.Turn{Role: t.Role, Content: t.Content}
		}
		res, err := call(ctx, llm.Request{
			JobID: job.ID, ConversationID: job.ConversationID, Sentence: job.Sentence,
			History: history, EnqueuedAt: job.EnqueuedAt,
		})
		return res.Text, err
	}
}
