package llm

import (
	"context"
	"errors"
	"time"
)

// ErrStopped ends a call told to stop waiting (WithStop) while it waited for the rate limit,
// the breaker or a retry's backoff: none of its requests was in flight then, and its job may
// be handed to another worker as it is.
var ErrStopped = errors.New("stopped while waiting to call the model")

type stopKey struct{}

// WithStop returns ctx with stop: a Call made with it stops waiting for the rate limit, the
// breaker or a retry's backoff once stop is closed, with an error wrapping ErrStopped. A
// request already sent is not affected: it is answered, or fails, on ctx as before. The worker
// pool passes the stopping of its job's partition: a job not at the model when its partition
// stops is better left to the partition's next owner than held until the shutdown's end.
func WithStop(ctx context.Context, stop <-chan struct{}) context.Context {
	return context.WithValue(ctx, stopKey{}, stop)
}

// stopOf is ctx's stop (WithStop): nil, which never closes, when it has none.
func stopOf(ctx context.Context) <-chan struct{} {
	stop, _ := ctx.Value(stopKey{}).(<-chan struct{})
	return stop
}

// waiting returns the context of a wait of ctx's call: ctx, cancelled with ErrStopped as its
// cause once ctx's stop (WithStop) is closed, at once if it is already. Call done when the
// wait is over.
func waiting(ctx context.Context) (wait context.Context, done func()) {
	stop := stopOf(ctx)
	if stop == nil {
		return ctx, func() {}
	}
	wait, cancel := context.WithCancelCause(ctx)
	select {
	case <-stop:
		cancel(ErrStopped)
		return wait, func() {}
	default:
	}
	go func() {
		select {
		case <-stop:
			cancel(ErrStopped)
		case <-wait.Done():
		}
	}()
	return wait, func() { cancel(context.Canceled) }
}

// pause sleeps (sleep.For, or a test's) for d as a wait of ctx's call: it returns
// ErrStopped when ctx's stop is closed first, or ctx's cause when ctx ends.
func pause(ctx context.Context, sleep func(context.Context, time.Duration) error, d time.Duration) error {
	wait, done := waiting(ctx)
	defer done()
	return sleep(wait, d)
}
