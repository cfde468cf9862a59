package main

import (
	"context"
	"fmt"
	"sync"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"
)

// deleteBatch bounds the conversations one DELETE of the cleanup names.
const deleteBatch = 1000

// conversations are the ids of the conversations a run starts. The harness chooses every id
// itself (a QueueConversation or Send naming an unknown id starts a conversation with it), so
// it can delete exactly its own from the transcript afterwards, whatever became of the
// streams.
type conversations struct {
	mu  sync.Mutex
	ids []uuid.UUID
}

// add returns n new conversation ids, remembered for deletion.
func (c *conversations) add(n int) []uuid.UUID {
	ids := make([]uuid.UUID, n)
	for i := range ids {
		ids[i] = uuid.New()
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.ids = append(c.ids, ids...)
	return ids
}

// delete removes the run's conversations from the transcript at databaseURL (their jobs and
// events go with them: ON DELETE CASCADE) and returns how many rows there were.
func (c *conversations) delete(ctx context.Context, databaseURL string) (int64, error) {
	c.mu.Lock()
	ids := c.ids
	c.mu.Unlock()
	if len(ids) == 0 {
		return 0, nil
	}
	// A pool, not a connection: it reads the pool settings DATABASE_URL may carry.
	pool, err := pgxpool.New(ctx, databaseURL)
	if err != nil {
		return 0, fmt.Errorf("delete the run's conversations: %w", err)
	}
	defer pool.Close()
	var deleted int64
	for start := 0; start < len(ids); start += deleteBatch {
		tag, err := pool.Exec(ctx, `DELETE FROM transcript.conversation WHERE id = ANY($1)`, ids[start:min(start+deleteBatch, len(ids))])
		if err != nil {
			return deleted, fmt.Errorf("delete the run's conversations: %w", err)
		}
		deleted += tag.RowsAffected()
	}
	return deleted, nil
}
