// Package sleep waits for a while unless a context ends first: the pause of every retry,
// backoff and paced loop in the project that waits on nothing but its context.
package sleep

import (
	"context"
	"time"
)

// For waits for d and returns nil, or returns context.Cause(ctx) as soon as ctx ends. A d of
// zero or less does not wait: For then reports only whether ctx has ended.
func For(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return context.Cause(ctx)
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return context.Cause(ctx)
	case <-t.C:
		return nil
	}
}
