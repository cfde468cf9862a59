package frontdoor

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"time"

	"connectrpc.com/connect"
	"github.com/google/uuid"
	"google.golang.org/genproto/googleapis/rpc/errdetails"

	elizav1 "github.com/beacon/eventdispatch/internal/gen/connectrpc/eliza/v1"
	"github.com/beacon/eventdispatch/internal/gen/connectrpc/eliza/v1/elizav1connect"
	"github.com/beacon/eventdispatch/internal/transcript"
)

// inbound is a message a stream's client sent, or the error that ended its messages (io.EOF
// at half-close).
type inbound[T any] struct {
	msg *T
	err error
}

// QueueConversation attaches the stream to a conversation (the first message's, or a new
// one), sends the events after resume_after, then queues each sentence and sends every new
// event of the conversation as it happens: its own "enqueued" and answers, and those of
// other streams on the same conversation. After the client half-closes, it ends once no job
// of the conversation is waiting for its outcome and every outcome has been sent — also the
// outcomes of jobs queued on an earlier stream, which a client resuming with grpcurl (whose
// input ends at once) is waiting for.
func (s *Service) QueueConversation(ctx context.Context, stream *connect.BidiStream[elizav1.QueueConversationRequest, elizav1.QueueConversationResponse]) error {
	q := s.queue
	if q == nil {
		return errNoQueue
	}
	first, err := stream.Receive()
	if errors.Is(err, io.EOF) {
		return nil // opened and closed without a word
	}
	if err != nil {
		return err
	}
	// Without a conversation_id the stream starts one; with one and no sentence it only
	// attaches. A first sentence refused as it stands (blank, too long) starts none, as a
	// Send's does not: the stream ends InvalidArgument unless the conversation is there
	// already, which it then follows, the refusal its first event after the history.
	if first.GetConversationId() == "" && first.GetResumeAfter() > 0 {
		// Checked before a conversation is made: one whose id the client never learns.
		return connect.NewError(connect.CodeInvalidArgument, errors.New("resume_after needs the conversation_id of the conversation to resume"))
	}
	invalid := validateSentence(first.GetSentence())
	if invalid != nil && first.GetConversationId() == "" {
		q.Metrics.sentence(OutcomeInvalid)
		return invalid
	}
	create := invalid == nil && first.GetResumeAfter() == 0
	info, err := q.open(ctx, first.GetConversationId(), create)
	if err == nil {
		err = checkAfter(info, first.GetResumeAfter(), "resume_after")
	}
	if err != nil {
		if invalid != nil && first.GetSentence() != "" && connect.CodeOf(err) == connect.CodeNotFound {
			err = invalid // refused for itself, not for a conversation it did not start
		}
		if first.GetSentence() != "" {
			q.countUnopened(ctx, err)
		}
		return err
	}
	// A first sentence is admitted while the stream starts to follow the conversation: its
	// job does not wait for the feed, only its "enqueued" does, which the feed sends in order
	// once it has caught up. A new conversation's first sentence reaches the workers one
	// watch and one read sooner.
	var pending chan admission
	if first.GetConversationId() == "" || first.GetSentence() != "" {
		pending = make(chan admission, 1)
		go func() { pending <- q.admit(ctx, info.ID, first.GetSentence()) }()
	}
	// lost ends a stream that could not follow its conversation, err saying why, once the
	// admission a of its last sentence is known. a's refusal, if it has one, is sent first,
	// whatever the transcript's fault: it has no serial, so a resume would not bring it, and
	// the client would not learn what became of its sentence (the conversation gone, or the
	// transcript down when the sentence came).
	lost := func(a admission, err error) error {
		if a.refusal != nil && ctx.Err() == nil {
			_ = stream.Send(a.refusal)
		}
		return unavailable(ctx, q, info.ID, err)
	}
	f, err := q.openFeed(ctx, info.ID, first.GetResumeAfter())
	if err != nil {
		var a admission
		if pending != nil {
			a = <-pending // its job, if enqueued, is in the transcript: a resume finds it
		}
		return lost(a, err)
	}
	defer f.stop()

	mine := map[uuid.UUID]bool{} // jobs queued on this stream whose outcome is not sent yet
	send := func(ev transcript.Event) error {
		if ev.Kind != transcript.Accepted {
			delete(mine, ev.JobID)
		}
		if err := stream.Send(response(ev)); err != nil {
			return fmt.Errorf("send: %w", err)
		}
		return nil
	}
	// own counts an enqueued sentence's job as the stream's until its outcome is sent; it
	// comes before anything is sent after the admission, which may be that outcome.
	own := func(a admission) admission {
		if a.enqueued {
			mine[a.job] = true
		}
		return a
	}
	// queued sends what became of a sentence: its "enqueued" through the feed, in order
	// with everything else, or its refusal once the feed has caught up.
	queued := func(a admission) error {
		if a.refusal != nil {
			if err := f.catchUp(ctx, send); err != nil {
				return lost(a, err)
			}
			if err := stream.Send(a.refusal); err != nil {
				return err
			}
			// A conversation gone has nothing more to send: the sentence's refusal came first.
			return a.gone
		}
		var err error
		if a.event != nil {
			err = f.deliver(ctx, *a.event, send)
		} else {
			err = f.catchUp(ctx, send)
		}
		if err != nil {
			return unavailable(ctx, q, info.ID, err)
		}
		return nil
	}

	var firstAdmission admission
	if pending != nil {
		firstAdmission = own(<-pending)
	}
	// As a Watch's: where the conversation's history ends, before any event, so that a client
	// resuming knows when it has caught up, and which of the sentences it sent before the
	// break are there (their "enqueued" at or below it) before it sends any again.
	stream.ResponseHeader().Set(HeaderLastSerial, strconv.FormatUint(max(f.watched, f.last), 10))
	if err := stream.Send(nil); err != nil {
		return lost(firstAdmission, err)
	}
	if err := f.replay(ctx, send); err != nil {
		return lost(firstAdmission, err)
	}
	if pending != nil {
		if err := queued(firstAdmission); err != nil {
			return err
		}
	}
	events := make(chan inbound[elizav1.QueueConversationRequest])
	go receive(ctx, stream, events)
	halfClosed, drain := false, s.drain
	var giveUp <-chan time.Time // once draining: when to stop waiting for its answers
	for {
		if drain == nil && len(mine) == 0 {
			return drained(q)
		}
		if halfClosed {
			switch done, err := f.drained(ctx, len(mine), send); {
			case err != nil:
				return unavailable(ctx, q, info.ID, err)
			case done:
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return ended(ctx)
		case <-drain:
			drain = nil
			giveUp = time.After(cmp.Or(s.drainWait, DefaultDrainWait))
		case <-giveUp:
			return drained(q) // its answers come where it resumes
		case ev := <-events:
			if errors.Is(ev.err, io.EOF) {
				halfClosed, events = true, nil
				continue
			}
			if ev.err != nil {
				return ev.err
			}
			var a admission
			if drain != nil {
				a = own(q.admit(ctx, info.ID, ev.msg.GetSentence()))
			} else { // draining: said so, for the client to send it again where it resumes
				a = q.refuse(info.ID, ev.msg.GetSentence(), OutcomeDraining, elizav1.QueueConversationResponse_KIND_ERROR, TextDraining, uuid.Nil)
			}
			if err := queued(a); err != nil {
				return err
			}
		case <-f.wake:
			if err := f.woken(ctx, send); err != nil {
				return unavailable(ctx, q, info.ID, err)
			}
		}
	}
}

// receive reads the stream's further messages into events until an error (io.EOF at
// half-close) or ctx ends.
func receive[Req, Res any](ctx context.Context, stream *connect.BidiStream[Req, Res], events chan<- inbound[Req]) {
	for {
		req, err := stream.Receive()
		ev := inbound[Req]{msg: req, err: err}
		select {
		case events <- ev:
		case <-ctx.Done():
			return
		}
		if err != nil {
			return
		}
	}
}

// Send queues one sentence of a conversation (a new one when conversation_id is empty, or
// names one the server does not know and after_serial is 0).
func (s *Service) Send(ctx context.Context, req *connect.Request[elizav1.SendRequest]) (*connect.Response[elizav1.SendResponse], error) {
	q := s.queue
	if q == nil {
		return nil, errNoQueue
	}
	if err := validateSentence(req.Msg.GetSentence()); err != nil {
		q.Metrics.sentence(OutcomeInvalid) // as admit counts a stream's
		return nil, err
	}
	// A client that has seen the conversation's events wants that conversation, not a new one
	// under its id: one expired meanwhile is NotFound, as for a resumed stream, and so is one
	// started again under its id, which has not reached the serial the client saw.
	after := req.Msg.GetAfterSerial()
	var conv uuid.UUID
	var err error
	if req.Msg.GetConversationId() == "" && after > 0 {
		err = connect.NewError(connect.CodeInvalidArgument, errors.New("after_serial needs the conversation_id of the conversation to go on with"))
	} else {
		conv, err = parseConversation(req.Msg.GetConversationId(), after == 0)
	}
	if err != nil {
		q.countUnopened(ctx, err)
		return nil, err
	}
	// Passed before its conversation is opened: a sentence refused by the front door's load or
	// its client's quota creates none.
	done, refused, ok := q.pass(ctx, uuid.Nil, req.Msg.GetSentence())
	if !ok {
		id := req.Msg.GetConversationId() // empty: none was started for it
		if id != "" {
			id = conv.String() // in the canonical form, as every other response has it
		}
		return connect.NewResponse(&elizav1.SendResponse{ConversationId: id,
			Kind: refused.refusal.GetKind(), Sentence: refused.refusal.GetSentence()}), nil
	}
	queued := false
	defer func() { done(queued) }()
	info, err := q.openParsed(ctx, conv, after == 0)
	if err == nil && after > info.LastSerial {
		// Not the conversation the client saw: it was lost and started again under its id.
		err = connect.NewError(connect.CodeNotFound, fmt.Errorf(
			"conversation %s has no event %d (its last is %d): the one you saw is gone", conv, after, info.LastSerial))
	}
	if err != nil {
		q.countUnopened(ctx, err)
		return nil, err
	}
	a := q.admitPassed(ctx, info.ID, req.Msg.GetSentence())
	queued = a.queued
	if a.gone != nil {
		return nil, a.gone // as if it had expired before the open
	}
	res := &elizav1.SendResponse{ConversationId: info.ID.String()}
	switch {
	case a.refusal != nil:
		res.Kind, res.Sentence, res.JobId = a.refusal.GetKind(), a.refusal.GetSentence(), a.refusal.GetJobId()
	default:
		res.Kind, res.Sentence, res.JobId = elizav1.QueueConversationResponse_KIND_ENQUEUED, TextEnqueued, a.job.String()
		if a.event != nil {
			res.Serial = a.event.Serial
		}
	}
	return connect.NewResponse(res), nil
}

// HeaderLastSerial is the response header of a Watch or a QueueConversation that holds the
// conversation's last serial when the stream began to follow it: the events up to it are its
// history, those after it come as they are appended. It is sent before any event.
const HeaderLastSerial = "Eliza-Last-Serial"

// Watch sends a conversation's events after after_serial, then each new one as it is
// appended, until the client goes away. An idle watch holds no more than its stream.
func (s *Service) Watch(ctx context.Context, req *connect.Request[elizav1.WatchRequest], stream *connect.ServerStream[elizav1.QueueConversationResponse]) error {
	q := s.queue
	if q == nil {
		return errNoQueue
	}
	info, err := q.open(ctx, req.Msg.GetConversationId(), false)
	if err != nil {
		return err
	}
	if err := checkAfter(info, req.Msg.GetAfterSerial(), "after_serial"); err != nil {
		return err
	}
	f, err := q.openFeed(ctx, info.ID, req.Msg.GetAfterSerial())
	if err != nil {
		return unavailable(ctx, q, info.ID, err)
	}
	defer f.stop()
	// The response's headers go at once, before any event, saying up to which serial the
	// events are the conversation's history: a client knows when it has caught up, even on a
	// conversation with nothing new.
	stream.ResponseHeader().Set(HeaderLastSerial, strconv.FormatUint(max(f.watched, f.last), 10))
	if err := stream.Send(nil); err != nil {
		return unavailable(ctx, q, info.ID, err)
	}
	send := func(ev transcript.Event) error {
		if err := stream.Send(response(ev)); err != nil {
			return fmt.Errorf("send: %w", err)
		}
		return nil
	}
	if err := f.replay(ctx, send); err != nil {
		return unavailable(ctx, q, info.ID, err)
	}
	for {
		select {
		case <-ctx.Done():
			return ended(ctx)
		case <-s.drain:
			return drained(q)
		case <-f.wake:
			if err := f.woken(ctx, send); err != nil {
				return unavailable(ctx, q, info.ID, err)
			}
		}
	}
}

// ErrDraining ends a conversation's stream when the front door shuts down (Service.Drain).
// Its message tells a person how to resume; its google.rpc.ErrorInfo tells a program
// (IsDraining).
var ErrDraining = func() *connect.Error {
	err := connect.NewError(connect.CodeUnavailable,
		errors.New("the front door is shutting down: resume the conversation on another (its conversation_id, and the last serial received as resume_after or after_serial)"))
	if detail, derr := connect.NewErrorDetail(&errdetails.ErrorInfo{Reason: drainingReason, Domain: elizav1connect.ElizaServiceName}); derr == nil {
		err.AddDetail(detail)
	}
	return err
}()

// drainingReason is ErrDraining's ErrorInfo reason.
const drainingReason = "FRONT_DOOR_SHUTTING_DOWN"

// IsDraining says whether err ended a stream because its front door was shutting down: the
// conversation goes on, resumed on another.
func IsDraining(err error) bool {
	var ce *connect.Error
	if !errors.As(err, &ce) || ce.Code() != connect.CodeUnavailable {
		return false
	}
	for _, d := range ce.Details() {
		if v, derr := d.Value(); derr == nil {
			if info, ok := v.(*errdetails.ErrorInfo); ok && info.GetReason() == drainingReason && info.GetDomain() == elizav1connect.ElizaServiceName {
				return true
			}
		}
	}
	return false
}

// drained counts a stream ended by the front door's shutdown, and tells its client to resume
// elsewhere, as unavailable does for a transcript's fault.
func drained(q *Queue) error {
	q.Metrics.streamEnded(EndDraining)
	return ErrDraining
}

// unavailable logs a transcript failure and tells the client to come back, naming the
// conversation (a stream that started it may end before it said which); the conversation is
// not lost, and a resume picks it up where the client left it. A failure because ctx
// ended (the call's deadline, or its client leaving) is the caller's doing, and says so; one
// because the conversation expired is NotFound.
func unavailable(ctx context.Context, q *Queue, conv uuid.UUID, err error) error {
	var ce *connect.Error
	if errors.As(err, &ce) {
		return err
	}
	if ctx.Err() != nil {
		return ended(ctx)
	}
	if errors.Is(err, transcript.ErrNotFound) {
		// Idle past its TTL while the stream held it: no fault, and nothing to resume. Said as
		// a request naming it is told (the reads that found it gone are no news to a client).
		return notFound(conv)
	}
	if errors.Is(err, context.Canceled) {
		return connect.NewError(connect.CodeCanceled, err)
	}
	q.Log.Warn("conversation stream ended: transcript unavailable", "error", err)
	q.Metrics.streamEnded(EndTranscriptUnavailable)
	// The id, for a stream that started the conversation and ends before it could say so.
	return connect.NewError(connect.CodeUnavailable, fmt.Errorf("conversations are unavailable: resume conversation %s later (its last serial received as resume_after)", conv))
}
