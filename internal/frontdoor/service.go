package frontdoor

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"connectrpc.com/connect"

	elizav1 "github.com/beacon/eventdispatch/internal/gen/connectrpc/eliza/v1"
	"github.com/beacon/eventdispatch/internal/gen/connectrpc/eliza/v1/elizav1connect"
)

// Responder answers sentences. internal/eliza's Engine is the production implementation.
type Responder interface {
	// Reply answers one sentence; end reports that the conversation is over.
	Reply(sentence string) (reply string, end bool)
	// Introduce returns the sentences of an introduction addressed to name.
	Introduce(name string) []string
}

// Service implements ElizaService on top of Responders.
type Service struct {
	newResponder func() Responder
	queue        *Queue
	drain        chan struct{} // closed by Drain
	drainOnce    sync.Once
	drainWait    time.Duration // WithDrainWait
}

var _ elizav1connect.ElizaServiceHandler = (*Service)(nil)

// NewService returns a Service that answers each call with a Responder from newResponder.
// Responders remember what was said, so every Say call and every Converse stream gets its own:
// one person's conversation never leaks into another's.
func NewService(newResponder func() Responder) *Service {
	return &Service{newResponder: newResponder, drain: make(chan struct{})}
}

// Drain ends the streams of queued conversations, which the shutdown would otherwise wait
// for until its grace runs out (a Watch, or a QueueConversation the client keeps open, ends
// only when the client leaves). Nothing of them is lost: the transcript holds every event,
// and the client resumes on another front door. A Watch ends at once; a QueueConversation
// queues no more sentences (each sent from then on is refused with TextDraining) and ends
// once the answers to those it queued are sent, or, if they have not all come within
// WithDrainWait's wait, then (they come on the resumed stream). Both end with ErrDraining,
// before the shutdown's grace is out, rather than be cut with it. Say and Converse are not affected: a Converse conversation lives in its
// stream, so it is left to finish within the grace.
func (s *Service) Drain() {
	s.drainOnce.Do(func() { close(s.drain) })
}

// DefaultDrainWait is how long a draining QueueConversation waits for the answers to its own
// sentences unless WithDrainWait says.
const DefaultDrainWait = 5 * time.Second

// WithDrainWait sets how long a draining QueueConversation waits for the answers to its own
// sentences before it ends: well within the shutdown's grace, which would otherwise cut the
// stream without a word of resuming (a model slower than the grace, or none answering).
func (s *Service) WithDrainWait(d time.Duration) *Service {
	s.drainWait = d
	return s
}

// Draining is closed once Drain has been called (Options.Drain).
func (s *Service) Draining() <-chan struct{} { return s.drain }

// WithQueue enables QueueConversation on top of q. Without it the RPC answers Unimplemented.
func (s *Service) WithQueue(q *Queue) *Service {
	s.queue = q
	return s
}

// Say answers one sentence.
func (s *Service) Say(_ context.Context, req *connect.Request[elizav1.SayRequest]) (*connect.Response[elizav1.SayResponse], error) {
	if err := validateSentence(req.Msg.GetSentence()); err != nil {
		return nil, err
	}
	reply, _ := s.newResponder().Reply(req.Msg.GetSentence())
	return connect.NewResponse(&elizav1.SayResponse{Sentence: reply}), nil
}

// Converse answers each sentence in turn until the client half-closes or says goodbye; the
// stream ends right after the goodbye reply. It also ends when its context does, while the
// client is silent: a stream whose token is revoked (access) ends then, not at the client's
// next sentence, which it used to answer first.
func (s *Service) Converse(ctx context.Context, stream *connect.BidiStream[elizav1.ConverseRequest, elizav1.ConverseResponse]) error {
	responder := s.newResponder()
	events := make(chan inbound[elizav1.ConverseRequest])
	go receive(ctx, stream, events)
	for {
		var ev inbound[elizav1.ConverseRequest]
		select {
		case ev = <-events:
		case <-ctx.Done():
			return ended(ctx)
		}
		if errors.Is(ev.err, io.EOF) {
			return nil // the client half-closed: a normal end
		}
		if ev.err != nil {
			return ev.err
		}
		req := ev.msg
		if err := validateSentence(req.GetSentence()); err != nil {
			return err
		}
		reply, end := responder.Reply(req.GetSentence())
		if err := stream.Send(&elizav1.ConverseResponse{Sentence: reply}); err != nil {
			return fmt.Errorf("send reply: %w", err)
		}
		if end {
			return nil
		}
	}
}

// Introduce streams a short introduction addressed to the given name.
func (s *Service) Introduce(ctx context.Context, req *connect.Request[elizav1.IntroduceRequest], stream *connect.ServerStream[elizav1.IntroduceResponse]) error {
	if len(req.Msg.GetName()) > MaxSentenceBytes {
		return connect.NewError(connect.CodeInvalidArgument,
			fmt.Errorf("name is %d bytes long; the limit is %d", len(req.Msg.GetName()), MaxSentenceBytes))
	}
	for _, sentence := range s.newResponder().Introduce(req.Msg.GetName()) {
		if err := ctx.Err(); err != nil {
			return connect.NewError(connect.CodeCanceled, err)
		}
		if err := stream.Send(&elizav1.IntroduceResponse{Sentence: sentence}); err != nil {
			return fmt.Errorf("send introduction: %w", err)
		}
	}
	return nil
}
