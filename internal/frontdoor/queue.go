package frontdoor

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"connectrpc.com/connect"
	"github.com/google/uuid"

	"github.com/beacon/eventdispatch/internal/access"
	elizav1 "github.com/beacon/eventdispatch/internal/gen/connectrpc/eliza/v1"
	"github.com/beacon/eventdispatch/internal/queue"
	"github.com/beacon/eventdispatch/internal/transcript"
)

// Texts of the responses people read.
const (
	TextEnqueued  = "enqueued"
	TextQueueFull = "queue is full!"
	// TextUnavailable refuses a sentence: it will not be answered.
	TextUnavailable = "queue unavailable"
	// TextUnconfirmed answers a sentence whose enqueueing could be neither confirmed nor
	// undone: it may still be answered, on the conversation, under the job id it carries.
	TextUnconfirmed = "not confirmed: this sentence may still be answered"
	TextBusy        = "the server is busy, please try again later"
	// TextDraining refuses a sentence sent on a stream whose front door is shutting down.
	TextDraining = "not queued: the front door is shutting down; send it again where you resume the conversation"
)

// Jobs durably enqueues jobs: Enqueue returns nil only once the job is in the queue.
type Jobs interface {
	Enqueue(ctx context.Context, job queue.Job) error
}

// Queue is what queued conversations (QueueConversation, Send, Watch) need: where jobs go,
// the conversations' transcript, and the bounds on admission.
type Queue struct {
	Jobs       Jobs
	Transcript transcript.Store
	// Gate bounds the sentences this process admits at once (MAX_INFLIGHT).
	Gate *queue.Gate
	// Limit is the most jobs a conversation may have waiting for an outcome (QUEUE_LIMIT).
	Limit int
	// EnqueueTimeout bounds one admission; past it the client hears "queue unavailable".
	EnqueueTimeout time.Duration
	// Quotas, when set, hold each client to its queued sentences per minute and (premium) model
	// tokens per day; a sentence over either is answered with an error, the stream stays open.
	Quotas *access.Quotas
	// Usage, when set, counts each client's sentences that reach the queue.
	Usage *access.Usage
	// Metrics, when set, time each admission, whole and by stage.
	Metrics *AdmissionMetrics
	Log     *slog.Logger
}

// errNoQueue answers the queued-conversation RPCs of a server without a queue.
var errNoQueue = connect.NewError(connect.CodeUnimplemented, errors.New("queued conversations are not configured on this server"))

// open finds the conversation named by id (a UUID; empty starts a new one), creating it when
// create is set. The errors are the RPC's.
func (q *Queue) open(ctx context.Context, id string, create bool) (transcript.Info, error) {
	conv, err := parseConversation(id, create)
	if err != nil {
		return transcript.Info{}, err
	}
	return q.openParsed(ctx, conv, create)
}

// openParsed is open for a conversation whose id parseConversation has read.
func (q *Queue) openParsed(ctx context.Context, conv uuid.UUID, create bool) (transcript.Info, error) {
	info, err := q.Transcript.Open(ctx, conv, create, owner(ctx))
	switch {
	case errors.Is(err, transcript.ErrNotFound):
		return info, notFound(conv)
	case err != nil && ctx.Err() != nil:
		return info, ended(ctx) // the caller's doing, not the transcript's
	case err != nil:
		q.Log.Warn("cannot open conversation", "conversation", conv, "error", err)
		return info, connect.NewError(connect.CodeUnavailable, errors.New("conversations are unavailable, please try again later"))
	}
	return info, nil
}

// owner is who a conversation opened on ctx belongs to (when this opening starts it) and who
// may open it: the calling client, uuid.Nil for a caller without a token. A conversation
// started with a token is then another client's unknown conversation (NotFound).
func owner(ctx context.Context) uuid.UUID {
	c, _ := access.ClientFrom(ctx)
	return c.ID
}

// notFound is the error of a conversation the transcript does not have, or does not open for
// the caller (transcript.ErrNotFound): one message for all, so that it says nothing of which.
func notFound(conv uuid.UUID) error {
	return connect.NewError(connect.CodeNotFound, fmt.Errorf("conversation %s is unknown, has expired, or is another client's", conv))
}

// deadlineSlack is how near its deadline a call cancelled by its client is taken as ended by
// that deadline: a client whose deadline passes cancels its call (gRPC's RST_STREAM), which
// reaches the server about when the server's own copy of the deadline does.
const deadlineSlack = 100 * time.Millisecond

// cancelledByCaller reports whether ctx, a call's, was ended by its client leaving, not by
// its deadline: a deadline that passes is the server too slow for the client.
func cancelledByCaller(ctx context.Context) bool {
	if !errors.Is(ctx.Err(), context.Canceled) {
		return false
	}
	deadline, ok := ctx.Deadline()
	return !ok || time.Until(deadline) > deadlineSlack
}

// parseConversation is the conversation a request names by id: a new one's, when id is empty
// and a conversation may be created; InvalidArgument when id is not a UUID, is the nil UUID
// (which a job cannot carry: its workers would refuse it, and no answer would ever come), or
// is empty and must name one.
func parseConversation(id string, create bool) (uuid.UUID, error) {
	switch {
	case id != "":
		conv, err := uuid.Parse(id)
		if err != nil {
			return uuid.Nil, connect.NewError(connect.CodeInvalidArgument, fmt.Errorf("conversation_id %s is not a UUID", quoteCut(id)))
		}
		if conv == uuid.Nil {
			return uuid.Nil, connect.NewError(connect.CodeInvalidArgument, fmt.Errorf("conversation_id %s is the nil UUID, which names no conversation", quoteCut(id)))
		}
		return conv, nil
	case !create:
		return uuid.Nil, connect.NewError(connect.CodeInvalidArgument, errors.New("conversation_id is required"))
	}
	return uuid.New(), nil
}

// quoteCut is a short value a request gives (an id, a day) quoted for an error (and the log
// line of the call): one far longer than any form of a UUID (urn:uuid:…, 45 bytes) is cut, so
// that a request of up to MaxMessageBytes is not sent back whole.
func quoteCut(v string) string {
	const keep = 48
	if len(v) <= keep {
		return strconv.Quote(v)
	}
	return fmt.Sprintf("%s… (%d bytes)", strconv.Quote(strings.ToValidUTF8(v[:keep], "")), len(v))
}

// detached is a context for a step of admission that must run to its end whether or not the
// client still waits (its effect may land anyway: it is recorded or undone), bounded by
// EnqueueTimeout of its own.
func (q *Queue) detached(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.WithoutCancel(ctx), q.EnqueueTimeout)
}

// ended is the error of a call whose context ended: its deadline passed, or its caller left.
func ended(ctx context.Context) error {
	return connect.NewError(callerEnded(ctx, ctx.Err()), ctx.Err())
}

// checkAfter refuses a resume point the conversation has not reached.
func checkAfter(info transcript.Info, after uint64, field string) error {
	if after > info.LastSerial {
		return connect.NewError(connect.CodeInvalidArgument,
			fmt.Errorf("%s %d is beyond the conversation's last event, %d", field, after, info.LastSerial))
	}
	return nil
}

// admission is what became of a sentence: a job enqueued (and its event, when the transcript
// could record it), or a refusal to send back.
type admission struct {
	job      uuid.UUID
	event    *transcript.Event
	refusal  *elizav1.QueueConversationResponse
	enqueued bool
	// queued: the job is in Kafka, or may be (enqueued, or not confirmed either way); such a
	// sentence has spent its client's allowance.
	queued bool
	// gone is the NotFound error of a conversation that went idle past its TTL while its
	// client held it (an open stream, or between a Send's open and its admission): nothing can
	// be added to it any more.
	gone error
}

// admit validates sentence, takes a slot in the conversation, enqueues the job durably and
// records it in the transcript. "enqueued" is only ever said of a job that is in Kafka, and
// "queue unavailable" only of one that will never be answered: a Kafka write that failed may
// still land (the producer keeps the message), so the transcript settles it (Refuse). If the
// transcript cannot record the acceptance after a write that succeeded, the worker records it
// when it takes the job, and the client sees it then.
func (q *Queue) admit(ctx context.Context, conv uuid.UUID, sentence string) (a admission) {
	ctx = access.Refreshed(ctx) // a stream's client, as it is now: its tier and limits
	done, refused, ok := q.pass(ctx, conv, sentence)
	if !ok {
		return refused
	}
	defer func() { done(a.queued) }()
	return q.admitPassed(ctx, conv, sentence)
}

// countUnopened counts a sentence whose conversation could not be opened, err being the RPC's
// error: the transcript unavailable, its client gone, no such conversation, or a request that
// names none.
func (q *Queue) countUnopened(ctx context.Context, err error) {
	switch {
	case connect.CodeOf(err) == connect.CodeInvalidArgument:
		q.Metrics.sentence(OutcomeInvalid)
	case connect.CodeOf(err) == connect.CodeNotFound:
		q.Metrics.sentence(OutcomeNotFound)
	case ctx.Err() != nil && cancelledByCaller(ctx):
		q.Metrics.sentence(OutcomeLeft)
	default:
		q.Metrics.sentence(OutcomeUnavailable)
	}
}

// refuse is the refusal of sentence, counted under outcome; job is the job it names, if any.
func (q *Queue) refuse(conv uuid.UUID, sentence, outcome string, kind elizav1.QueueConversationResponse_Kind, text string, job uuid.UUID) admission {
	q.Metrics.sentence(outcome)
	res := &elizav1.QueueConversationResponse{Sentence: text, Kind: kind, InReplyTo: sentence}
	if conv != uuid.Nil {
		res.ConversationId = conv.String()
	}
	if job != uuid.Nil {
		res.JobId = job.String()
	}
	return admission{refusal: res}
}

// pass is what a sentence must get through before it touches the transcript: it must be
// valid, the front door must have fewer than MAX_INFLIGHT sentences in hand, and its client's
// quota must let it in. It returns done, to be called once the sentence is queued or refused:
// it releases the front door's slot the sentence took and, for a sentence that was not queued,
// gives back what it took of its client's quota. Or it returns the sentence's refusal (ok
// false). Send passes a sentence before it opens its conversation, so that a sentence refused
// here creates none (a client over its quota would otherwise make one each time it tried).
func (q *Queue) pass(ctx context.Context, conv uuid.UUID, sentence string) (done func(queued bool), refused admission, ok bool) {
	if err := validateSentence(sentence); err != nil {
		return nil, q.refuse(conv, sentence, OutcomeInvalid, elizav1.QueueConversationResponse_KIND_ERROR, connect.CodeOf(err).String()+": "+errorMessage(err), uuid.Nil), false
	}
	if !q.Gate.Take() {
		return nil, q.refuse(conv, sentence, OutcomeBusy, elizav1.QueueConversationResponse_KIND_QUEUE_FULL, TextBusy, uuid.Nil), false
	}
	c, ok := access.ClientFrom(ctx)
	if !ok || q.Quotas == nil {
		return func(bool) { q.Gate.Release() }, admission{}, true
	}
	quotaCtx, cancel := context.WithTimeout(ctx, q.EnqueueTimeout) // it may read a day's tokens
	why := q.Quotas.AdmitSentence(quotaCtx, c)
	cancel()
	if why != "" {
		q.Gate.Release()
		return nil, q.refuse(conv, sentence, OutcomeOverQuota, elizav1.QueueConversationResponse_KIND_ERROR, why, uuid.Nil), false
	}
	return func(queued bool) {
		q.Gate.Release()
		if !queued {
			q.Quotas.ReturnSentence(c)
		}
	}, admission{}, true
}

// admitPassed is admit for a sentence that has passed (pass).
func (q *Queue) admitPassed(ctx context.Context, conv uuid.UUID, sentence string) admission {
	refuse := func(outcome string, kind elizav1.QueueConversationResponse_Kind, text string, job uuid.UUID) admission {
		return q.refuse(conv, sentence, outcome, kind, text, job)
	}
	enqueued := func(a admission) admission {
		q.Metrics.sentence(OutcomeEnqueued)
		a.enqueued, a.queued = true, true
		return a
	}
	caller := ctx
	ctx, cancel := context.WithTimeout(ctx, q.EnqueueTimeout)
	defer cancel()
	log := q.Log.With("conversation", conv)

	// A job's id is a UUIDv7, ordered by when it was made: the tables keyed by it (the
	// workers' access.model_call, a conversation's transcript.job rows) then grow at one end
	// of their indexes instead of writing to a random page of them for every job.
	job := queue.Job{ID: uuid.Must(uuid.NewV7()), ConversationID: conv, Sentence: sentence, EnqueuedAt: time.Now().UTC()}
	if c, ok := access.ClientFrom(ctx); ok {
		job.ClientID, job.Tier = c.ID, string(c.Tier)
	}
	began := time.Now()
	defer q.Metrics.admitted(began) // from here on, whatever the outcome
	start := began
	// Not on the caller's context: a reservation whose caller leaves may still be made with
	// its round, and nothing would undo it, leaving the conversation's slot taken until the
	// lease ends ("queue is full!" for a minute). Made, it is undone below, as any whose job
	// cannot be enqueued (a client gone by then fails the write).
	reserveCtx, cancelReserve := q.detached(ctx)
	err := q.Transcript.Reserve(reserveCtx, conv, job.ID, sentence, q.Limit)
	cancelReserve()
	q.Metrics.since(StageReserve, start)
	switch {
	case errors.Is(err, transcript.ErrFull):
		return refuse(OutcomeQueueFull, elizav1.QueueConversationResponse_KIND_QUEUE_FULL, TextQueueFull, uuid.Nil)
	case errors.Is(err, transcript.ErrNotFound):
		return q.goneFor(conv, sentence, uuid.Nil)
	case err != nil:
		log.Warn("cannot reserve a slot for a job", "error", err)
		// Failed, the reservation may still be made: given up on, with its round, or
		// committed with its answer lost with the connection. Refused first, the job holds no
		// slot when it is. A reservation never sent (no connection) needs no undoing.
		if !errors.Is(err, transcript.ErrNotSent) {
			undoCtx, cancelUndo := q.detached(ctx)
			if _, _, err := q.Transcript.Refuse(undoCtx, conv, job.ID, sentence); err != nil {
				log.Warn("cannot refuse a job whose reservation failed: if it was made after all, its conversation counts it until the reservation's lease ends",
					"job", job.ID, "error", err)
			}
			cancelUndo()
		}
		return refuse(OutcomeUnavailable, elizav1.QueueConversationResponse_KIND_ERROR, TextUnavailable, uuid.Nil)
	}
	start = time.Now()
	err = q.Jobs.Enqueue(ctx, job)
	q.Metrics.since(StageEnqueue, start)
	// The job may be in Kafka now, whatever Enqueue said: the transcript is told, within a
	// bound of its own (the write may have used up ctx's), even if the client has gone.
	recordCtx, cancelRecord := q.detached(ctx)
	defer cancelRecord()
	left := err != nil && cancelledByCaller(caller)
	if err != nil {
		if left {
			log.Info("the client left before its job was enqueued", "job", job.ID, "error", err)
		} else {
			log.Warn("cannot enqueue job", "job", job.ID, "error", err)
		}
		start = time.Now()
		accepted, refused, err := q.Transcript.Refuse(recordCtx, conv, job.ID, sentence)
		q.Metrics.since(StageRefuse, start)
		switch {
		case errors.Is(err, transcript.ErrNotFound):
			return q.goneFor(conv, sentence, job.ID) // its worker, if the write landed, drops the job
		case err != nil:
			log.Warn("cannot refuse the job: it may still be answered", "job", job.ID, "error", err)
			a := refuse(OutcomeUnconfirmed, elizav1.QueueConversationResponse_KIND_ERROR, TextUnconfirmed, job.ID)
			a.queued = true // it may be answered
			return a
		case refused && left:
			return refuse(OutcomeLeft, elizav1.QueueConversationResponse_KIND_ERROR, TextUnavailable, job.ID)
		case refused:
			return refuse(OutcomeUnavailable, elizav1.QueueConversationResponse_KIND_ERROR, TextUnavailable, job.ID)
		}
		log.Info("job reached the queue after all: a worker has taken it", "job", job.ID, "serial", accepted.Serial)
		q.Usage.Queued(job.ClientID)
		return enqueued(admission{job: job.ID, event: &accepted})
	}
	start = time.Now()
	ev, err := q.Transcript.Accept(recordCtx, conv, job.ID, sentence)
	q.Metrics.since(StageAccept, start)
	switch {
	case errors.Is(err, transcript.ErrNotFound):
		// Gone since its Reserve, idle past the TTL: its worker drops the job, unanswered.
		return q.goneFor(conv, sentence, job.ID)
	case err != nil:
		q.Usage.Queued(job.ClientID)
		log.Warn("job enqueued but not recorded; its worker will record it", "job", job.ID, "error", err)
		return enqueued(admission{job: job.ID})
	}
	q.Usage.Queued(job.ClientID)
	log.Debug("job enqueued", "job", job.ID, "serial", ev.Serial)
	return enqueued(admission{job: job.ID, event: &ev})
}

// goneFor is the refusal of sentence because its conversation is gone (transcript.ErrNotFound):
// it went idle past its TTL while its client held it, and nothing can be added to it. job is
// the sentence's, if it was written to Kafka (its worker drops it).
func (q *Queue) goneFor(conv uuid.UUID, sentence string, job uuid.UUID) admission {
	gone := notFound(conv)
	a := q.refuse(conv, sentence, OutcomeNotFound, elizav1.QueueConversationResponse_KIND_ERROR, connect.CodeNotFound.String()+": "+errorMessage(gone), job)
	a.gone = gone
	return a
}

// response is how an event of the transcript is sent to clients.
func response(ev transcript.Event) *elizav1.QueueConversationResponse {
	res := &elizav1.QueueConversationResponse{
		JobId: ev.JobID.String(), ConversationId: ev.Conversation.String(), Serial: ev.Serial, InReplyTo: ev.InReplyTo,
	}
	switch ev.Kind {
	case transcript.Accepted:
		res.Sentence, res.Kind, res.InReplyTo = TextEnqueued, elizav1.QueueConversationResponse_KIND_ENQUEUED, ev.Text
	case transcript.Reply:
		// Workers cut long answers before storing them; this cuts one stored before they did,
		// which no client could otherwise be sent.
		text, _ := transcript.Fit(ev.Text)
		res.Sentence, res.Kind = text, elizav1.QueueConversationResponse_KIND_REPLY
	default:
		res.Sentence, res.Kind = ev.Text, elizav1.QueueConversationResponse_KIND_ERROR
	}
	return res
}

func errorMessage(err error) string {
	var ce *connect.Error
	if errors.As(err, &ce) {
		return ce.Message()
	}
	return err.Error()
}
