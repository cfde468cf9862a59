package llm

import (
	"context"
	"errors"
	"testing"
	"time"
)

// slow answers after d, or fails with its context's error.
func slow(d time.Duration) Call {
	return func(ctx context.Context, req Request) (Response, error) {
		select {
		case <-time.After(d):
			return Response{Text: "late answer"}, nil
		case <-ctx.Done():
			return Response{}, ctx.Err()
		}
	}
}

func TestTimeout_CutsASlowCallShortWithARetryableError(t *testing.T) {
	start := time.Now()
	_, err := Chain(slow(time.Minute), Timeout(50*time.Millisecond))(context.Background(), Request{})
	if !errors.Is(err, ErrTimeout) || !IsRetryable(err) || reasonOf(err) != "timeout" {
		t.Errorf("err = %v, want a retryable ErrTimeout", err)
	}
	if took := time.Since(start); took < 50*time.Millisecond || took > 5*time.Second {
		t.Errorf("took %v", took)
	}
}

func TestTimeout_LetsAFastCallAnswer(t *testing.T) {
	resp, err := Chain(slow(time.Millisecond), Timeout(time.Second))(context.Background(), Request{})
	if err != nil || resp.Text != "late answer" {
		t.Errorf("got %+v, %v", resp, err)
	}
}

func TestTimeout_LeavesTheCallersOwnCancellationAlone(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(20*time.Millisecond, cancel)
	_, err := Chain(slow(time.Minute), Timeout(time.Minute))(ctx, Request{})
	if !errors.Is(err, context.Canceled) || errors.Is(err, ErrTimeout) || IsRetryable(err) {
		t.Errorf("err = %v, want the caller's cancellation, not retryable", err)
	}
}

func TestTimeout_ZeroDisablesIt(t *testing.T) {
	var hasDeadline bool
	model := func(ctx context.Context, _ Request) (Response, error) {
		_, hasDeadline = ctx.Deadline()
		return Response{}, nil
	}
	if _, err := Timeout(0)(model)(context.Background(), Request{}); err != nil || hasDeadline {
		t.Errorf("err %v, deadline set: %v", err, hasDeadline)
	}
}
