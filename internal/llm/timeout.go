package llm

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Timeout bounds each call it wraps to d; d <= 0 disables it. A call cut short fails with
// an error wrapping ErrTimeout (retryable), unless the caller's own context ended first.
// Put it innermost, next to the model, so that it times the HTTP call only — not the
// waits for the rate limiter or the breaker.
func Timeout(d time.Duration) Middleware {
	if d <= 0 {
		return passThrough
	}
	return func(next Call) Call {
		return func(ctx context.Context, req Request) (Response, error) {
			cctx, cancel := context.WithTimeoutCause(ctx, d, ErrTimeout)
			defer cancel()
			resp, err := next(cctx, req)
			if err != nil && ctx.Err() == nil && errors.Is(context.Cause(cctx), ErrTimeout) {
				return Response{}, fmt.Errorf("%w after %s: %w", ErrTimeout, d, err)
			}
			return resp, err
		}
	}
}
