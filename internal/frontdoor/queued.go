package frontdoor

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"time"

	"connectrpc.com/connect"
	"github.com/google/uuid"

	elizav1 "github.com/beacon/eventdispatch/internal/gen/connectrpc/eliza/v1"
	"github.com/beacon/eventdispatch/internal/queue"
)

// Texts of the QueueConversation responses that people read.
const (
	TextEnqueued    = "enqueued"
	TextQueueFull   = "queue is full!"
	TextUnavailable = "queue unavailable"
	TextBusy        = "the server is busy, please try again later"
)

// Jobs durably enqueues jobs: Enqueue returns nil only once the job is in the queue.
type Jobs interface {
	Enqueue(ctx context.Context, job queue.Job) error
}

// Replies delivers the replies addressed to this process, by conversation.
type Replies interface {
	// Subscribe returns the replies for conversation until cancel is called.
	Subscribe(conversation string) (replies <-chan queue.Reply, cancel func())
	// Ready reports whether replies are being read; jobs are refused until they are, since
	// their replies could not be delivered.
	Ready() bool
}

// Queue is what QueueConversation needs: where jobs go, where replies come from, the
// admission gate, and how this process is addressed.
type Queue struct {
	Jobs    Jobs
	Replies Replies
	Gate    *queue.Gate
	// Instance names this process in jobs' reply_to, so replies find their way back.
	Instance string
	// MaxHistory bounds the earlier turns sent with each job.
	MaxHistory int
	// EnqueueTimeout bounds one durable write; past it the client hears "queue unavailable".
	EnqueueTimeout time.Duration
	Log            *slog.Logger
}

type inbound struct {
	sentence string
	err      error
}

// QueueConversation queues each sentence and streams back acknowledgements and answers.
func (s *Service) QueueConversation(ctx context.Context, stream *connect.BidiStream[elizav1.QueueConversationRequest, elizav1.QueueConversationResponse]) error {
	q := s.queue
	if q == nil {
		return connect.NewError(connect.CodeUnimplemented, errors.New("queued conversations are not configured on this server"))
	}
	conv := uuid.NewString()
	admission := q.Gate.Open()
	replies, unsubscribe := q.Replies.Subscribe(conv)
	defer unsubscribe()
	pending := map[string]string{} // job id → sentence, enqueued and not yet answered
	defer func() {
		for range pending {
			admission.Release()
		}
	}()
	var history []queue.Turn
	log := q.Log.With("conversation", conv)

	events := make(chan inbound)
	go func() {
		for {
			req, err := stream.Receive()
			ev := inbound{err: err}
			if err == nil {
				ev.sentence = req.GetSentence()
			}
			select {
			case events <- ev:
			case <-ctx.Done():
				return
			}
			if err != nil {
				return
			}
		}
	}()

	halfClosed := false
	for {
		if halfClosed && len(pending) == 0 {
			return nil // every accepted job is answered
		}
		select {
		case <-ctx.Done():
			return connect.NewError(connect.CodeCanceled, ctx.Err())
		case ev := <-events:
			if errors.Is(ev.err, io.EOF) {
				halfClosed, events = true, nil
				continue
			}
			if ev.err != nil {
				return ev.err
			}
			res := s.admit(ctx, q, admission, conv, ev.sentence, history, pending, log)
			if res.GetKind() == elizav1.QueueConversationResponse_KIND_ENQUEUED {
				history = appendTurn(history, queue.Turn{Role: "user", Content: ev.sentence}, q.MaxHistory)
			}
			if err := stream.Send(res); err != nil {
				return fmt.Errorf("send: %w", err)
			}
		case r := <-replies:
			sentence, ok := pending[r.JobID]
			if !ok {
				continue // a duplicate (a job redone after a worker died) or not ours
			}
			delete(pending, r.JobID)
			admission.Release()
			kind := elizav1.QueueConversationResponse_KIND_REPLY
			if r.Error {
				kind = elizav1.QueueConversationResponse_KIND_ERROR
			} else {
				history = appendTurn(history, queue.Turn{Role: "assistant", Content: r.Text}, q.MaxHistory)
			}
			if err := stream.Send(&elizav1.QueueConversationResponse{Sentence: r.Text, Kind: kind, JobId: r.JobID, InReplyTo: sentence}); err != nil {
				return fmt.Errorf("send reply: %w", err)
			}
		}
	}
}

// admit validates, admits and durably enqueues one sentence, and returns the response for it.
func (s *Service) admit(ctx context.Context, q *Queue, admission *queue.Stream, conv, sentence string, history []queue.Turn, pending map[string]string, log *slog.Logger) *elizav1.QueueConversationResponse {
	if err := validateSentence(sentence); err != nil {
		return &elizav1.QueueConversationResponse{Sentence: connect.CodeOf(err).String() + ": " + errorMessage(err), Kind: elizav1.QueueConversationResponse_KIND_ERROR}
	}
	if !waitReady(ctx, q.Replies, q.EnqueueTimeout) {
		return &elizav1.QueueConversationResponse{Sentence: TextUnavailable, Kind: elizav1.QueueConversationResponse_KIND_ERROR}
	}
	switch admission.Admit() {
	case queue.StreamFull:
		return &elizav1.QueueConversationResponse{Sentence: TextQueueFull, Kind: elizav1.QueueConversationResponse_KIND_QUEUE_FULL}
	case queue.ProcessFull:
		return &elizav1.QueueConversationResponse{Sentence: TextBusy, Kind: elizav1.QueueConversationResponse_KIND_QUEUE_FULL}
	}
	job := queue.Job{
		ID: uuid.NewString(), ConversationID: conv, ReplyTo: q.Instance, Sentence: sentence,
		History: append([]queue.Turn(nil), history...), EnqueuedAt: time.Now().UTC(),
	}
	enqueueCtx, cancel := context.WithTimeout(ctx, q.EnqueueTimeout)
	defer cancel()
	if err := q.Jobs.Enqueue(enqueueCtx, job); err != nil {
		admission.Release()
		log.Warn("cannot enqueue job", "job", job.ID, "error", err)
		return &elizav1.QueueConversationResponse{Sentence: TextUnavailable, Kind: elizav1.QueueConversationResponse_KIND_ERROR}
	}
	pending[job.ID] = sentence
	log.Debug("job enqueued", "job", job.ID)
	return &elizav1.QueueConversationResponse{Sentence: TextEnqueued, Kind: elizav1.QueueConversationResponse_KIND_ENQUEUED, JobId: job.ID}
}

func appendTurn(history []queue.Turn, t queue.Turn, limit int) []queue.Turn {
	history = append(history, t)
	if limit >= 0 && len(history) > limit {
		history = history[len(history)-limit:]
	}
	return history
}

func errorMessage(err error) string {
	var ce *connect.Error
	if errors.As(err, &ce) {
		return ce.Message()
	}
	return err.Error()
}

// waitReady waits up to timeout for replies to be read (Kafka may be starting, or a topic's
// leader moving), since a job whose reply could not be delivered must not be accepted.
func waitReady(ctx context.Context, r Replies, timeout time.Duration) bool {
	deadline := time.Now().Add(timeout)
	for !r.Ready() {
		if time.Now().After(deadline) || ctx.Err() != nil {
			return false
		}
		select {
		case <-ctx.Done():
			return false
		case <-time.After(50 * time.Millisecond):
		}
	}
	return true
}
