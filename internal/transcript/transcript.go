// Package transcript is the durable record of queued conversations: every event a client sees
// on a conversation — a sentence accepted into the queue, its reply, or its error — with a
// serial that increases by one within the conversation and is never reused. It is what lets a
// conversation outlive a stream: a client that comes back with the last serial it saw gets
// the rest, in order, exactly once, then the new events as they are appended, on whichever
// front door it reaches.
//
// The Store is written by both ends of the queue: the front door reserves a slot for a
// sentence (Reserve, bounded per conversation), records it once it is durably enqueued
// (Accept) or refuses it when it could not be (Refuse), and reads events (Events, Watch); the
// worker takes the job and reads the conversation so far and whether the job is answered
// already (Prepare), and records each job's outcome exactly once (Finish), so a job redone
// after a crash neither adds a second reply nor asks the model again.
//
// Refuse and Prepare settle, under one lock, whether a job whose enqueueing the front door
// could not confirm runs or not: a Kafka write that timed out may still land later, and
// whichever of the two comes first decides. A refused job is never answered; a job a worker
// has taken is accepted, and the front door that tries to refuse it says "enqueued" instead.
//
// Memory (this package) keeps it in the process, for standalone mode;
// internal/transcript/pgtranscript keeps it in Postgres and wakes watchers with
// LISTEN/NOTIFY. Both pass internal/transcript/transcripttest.
package transcript

import (
	"context"
	"errors"
	"fmt"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"
)

// Kind says what an event records.
type Kind string

// The kinds of events.
const (
	// Accepted: the sentence (Text) was durably enqueued as JobID.
	Accepted Kind = "accepted"
	// Reply: JobID was answered with Text; InReplyTo is its sentence.
	Reply Kind = "reply"
	// Failed: JobID could not be answered; Text says why, to a person.
	Failed Kind = "error"
)

// MaxAnswerBytes is the longest answer, in bytes of UTF-8, that a Reply event holds: 256 KiB,
// about 64,000 tokens of English, beyond what a chat model answers unless it has gone wrong.
// A worker cuts a longer answer (Fit) before storing it, so that an event of the transcript
// always fits in one message to a client (frontdoor.MaxResponseBytes), even escaped as JSON,
// and the model's context does not carry it whole into every later exchange.
const MaxAnswerBytes = 256 << 10

// CutMark ends an answer that Fit cut.
const CutMark = "\n\n[the answer was cut here: it was too long]"

// Fit returns answer if it is at most MaxAnswerBytes long, or else its longest prefix, cut
// between characters, that leaves room for CutMark, then CutMark; and whether it cut.
func Fit(answer string) (string, bool) {
	if len(answer) <= MaxAnswerBytes {
		return answer, false
	}
	end := MaxAnswerBytes - len(CutMark)
	for end > 0 && !utf8.RuneStart(answer[end]) {
		end--
	}
	return answer[:end] + CutMark, true
}

// PageBytes bounds one read of events (Store.Events): it stops after the event that brings
// their text (TextBytes) to PageBytes or more, so that a reader holds about that much at a
// time whatever the events' sizes (an answer may be MaxAnswerBytes). A read that returns
// fewer events than it asked for, and less text than this, has reached the end.
const PageBytes = 1 << 20

// TextBytes is the text of events, as PageBytes counts it (Event.TextBytes).
func TextBytes(events []Event) int {
	n := 0
	for _, ev := range events {
		n += ev.TextBytes()
	}
	return n
}

// TextBytes is the event's text as PageBytes counts it: its Text and InReplyTo.
func (e Event) TextBytes() int { return len(e.Text) + len(e.InReplyTo) }

// Event is one entry of a conversation's transcript.
type Event struct {
	Conversation uuid.UUID
	// Serial is 1 for the conversation's first event and one more for each after it.
	Serial uint64
	Kind   Kind
	JobID  uuid.UUID
	// Text is the sentence (Accepted), the answer (Reply) or the error message (Failed).
	Text string
	// InReplyTo is the job's sentence, for Reply and Failed.
	InReplyTo string
	// At is when the event was appended.
	At time.Time
}

// Info describes a conversation.
type Info struct {
	ID uuid.UUID
	// LastSerial is the serial of its last event, 0 when it has none yet.
	LastSerial uint64
}

// Exchange is an earlier sentence of a conversation and the reply it got.
type Exchange struct {
	Sentence, Answer string
}

// Job is a job of a conversation, as Lost lists it: what Finish needs to record its outcome.
type Job struct {
	Conversation, ID uuid.UUID
	Sentence         string
}

// Preparation is what Prepare reads for a job.
type Preparation struct {
	// Outcome is the job's outcome event, nil while it has none. A job with an outcome must
	// not be asked of the model again.
	Outcome *Event
	// Refused is true when the front door refused the job (its enqueueing could not be
	// confirmed): it must not be answered, and Outcome and Exchanges are empty.
	Refused bool
	// Exchanges are the conversation's answered exchanges (a sentence and its Reply; failed
	// jobs are left out) in the order of their replies, at most the last max: a
	// conversation's jobs are answered one at a time in their queue's order, so these are the
	// exchanges answered before the job, whichever order the Accepts of the jobs came in
	// (sentences sent at once, or an Accept made by the worker after one failed). Empty when
	// the job has an outcome.
	Exchanges []Exchange
}

// Errors the stores return, to be told apart with errors.Is.
var (
	// ErrNotFound: the conversation does not exist, or has been idle longer than the TTL.
	ErrNotFound = errors.New("unknown or expired conversation")
	// ErrFull: the conversation has as many jobs without an outcome as it may.
	ErrFull = errors.New("the conversation has as many unanswered jobs as it may")
	// ErrRefused: the job was refused (Refuse) and records nothing more.
	ErrRefused = errors.New("the job was refused: its enqueueing could not be confirmed")
	// ErrInvalid: the store refused a value of the call (a text it cannot hold, a number out
	// of its range). Trying again fails again; the other calls of its round go on.
	ErrInvalid = errors.New("the transcript store refused a value")
	// ErrNotSent: the call failed before anything of it reached the store (no connection
	// could be made), so it recorded nothing, and nothing of it needs undoing.
	ErrNotSent = errors.New("the transcript store could not be reached")
)

// CheckOutcome refuses, as ErrInvalid, a kind that Finish cannot record: only Reply and
// Failed are outcomes. (A caller retrying its Finish stops at it.)
func CheckOutcome(job uuid.UUID, kind Kind) error {
	if kind != Reply && kind != Failed {
		return fmt.Errorf("%w: finish job %s: %q is not an outcome", ErrInvalid, job, kind)
	}
	return nil
}

// Predates reports whether job, a job unknown to the conversation created at created, was
// made for an earlier conversation under the same id: its id is a UUIDv7 (as the front
// doors' are), whose time is more than half of ttl before created. An id starts a new
// conversation only once the earlier one has expired and its id has been kept for a TTL more
// (Expire), and a job is made only while its conversation is live (it is reserved then), so
// a job of the earlier one was made at least a TTL before the new conversation; one made for
// the new one is made after it. Half a TTL between the two leaves half a TTL for the clocks
// of a front door and the store to differ by, either way. Jobs with other ids are never taken
// for an earlier conversation's.
func Predates(job uuid.UUID, created time.Time, ttl time.Duration) bool {
	if job.Version() != 7 {
		return false
	}
	sec, nsec := job.Time().UnixTime()
	return time.Unix(sec, nsec).Before(created.Add(-ttl / 2))
}

// ReservationLease is how long a reservation that was never accepted (its front door died
// between Reserve and Accept) keeps its slot.
const ReservationLease = time.Minute

// Store is a transcript store. Implementations are safe for concurrent use, by several
// processes at once where they share state (pgtranscript). The methods that record a job the
// conversation does not know (Refuse, Accept, Finish, Prepare) find the conversation gone
// (ErrNotFound) to a job made for an earlier conversation under its id (Predates).
type Store interface {
	// Open returns the conversation id, for owner: the client opening it, uuid.Nil for none.
	// Without create, a conversation that does not exist or has been idle longer than the TTL
	// is ErrNotFound; with create, one that does not exist is created empty, owned by owner
	// (an idle one is still ErrNotFound: its serials must not be reused, and so is an expired
	// one until Expire forgets it). A conversation owned by a client is ErrNotFound to every
	// other owner, uuid.Nil included; one created with uuid.Nil is open to all.
	Open(ctx context.Context, id uuid.UUID, create bool, owner uuid.UUID) (Info, error)
	// Reserve takes a slot for job in conversation, or returns ErrFull when the conversation
	// already has limit jobs without an outcome (reservations older than ReservationLease
	// that were never accepted and refused jobs do not count). Reserving a job twice takes
	// one slot. Any other error but ErrNotFound and ErrNotSent may come after the slot was
	// taken (a commit whose answer was lost, a wait given up on): Refuse undoes it.
	Reserve(ctx context.Context, conversation, job uuid.UUID, sentence string, limit int) error
	// Refuse records that job's enqueueing could not be confirmed, unless the job is accepted
	// already: a refused job frees its slot, Prepare reports it refused (however late it
	// reaches a worker), and Accept and Finish return ErrRefused for it. When the job was
	// accepted first (a worker took it: it reached the queue after all), Refuse changes
	// nothing and returns its Accepted event with refused false. Refusing twice refuses once.
	Refuse(ctx context.Context, conversation, job uuid.UUID, sentence string) (accepted Event, refused bool, err error)
	// Accept records that job was durably enqueued: it appends the job's Accepted event, once;
	// called again, it returns the same event and wakes the conversation's watchers again.
	Accept(ctx context.Context, conversation, job uuid.UUID, sentence string) (Event, error)
	// Finish records job's outcome (kind Reply or Failed, with text), once. It appends the
	// Accepted event first if nobody has, then the outcome, and frees the job's slot. Called
	// again, it appends nothing, returns the first outcome with recorded false and wakes the
	// conversation's watchers again (a job redone after a crash between storing its outcome
	// and waking them is how they learn of it in pgtranscript).
	Finish(ctx context.Context, conversation, job uuid.UUID, sentence string, kind Kind, text string) (ev Event, recorded bool, err error)
	// Waiting returns the conversation's accepted jobs that have no outcome yet, in the
	// order they were accepted.
	Waiting(ctx context.Context, conversation uuid.UUID) ([]uuid.UUID, error)
	// Lost returns at most batch accepted jobs that have had no outcome since their slot was
	// taken (Reserve) more than after ago, oldest first, of live conversations only (neither
	// refused jobs nor reservations never accepted). A worker should have answered them long
	// before: they were lost on the way to one, and the dispatchers' sweep records an error
	// for each with Finish (worker.FailLost).
	Lost(ctx context.Context, after time.Duration, batch int) ([]Job, error)
	// Prepare takes job for a worker and returns, in one call, what the worker needs before
	// it answers: whether the job was refused, its outcome if it has one, and the
	// conversation's answered exchanges before it. A job neither accepted nor refused yet (its
	// front door has not recorded it, or could not confirm it) is accepted here, as Accept
	// would, so that Refuse can no longer refuse it. A negative max means no limit.
	Prepare(ctx context.Context, conversation, job uuid.UUID, sentence string, max int) (Preparation, error)
	// Events returns the events with a serial above after, oldest first, at most limit, and
	// stops after the event that brings their text to PageBytes or more.
	Events(ctx context.Context, conversation uuid.UUID, after uint64, limit int) ([]Event, error)
	// Watch returns a channel that receives a value whenever events are appended to
	// conversation after last, or Accept or Finish is called again (wake-ups are coalesced:
	// read Events to see how many), until stop is called; last is the conversation's last
	// serial at a moment after the watch began. Events up to last are read with Events, and
	// only those: a watcher that has sent them all has nothing to read until it is woken.
	Watch(ctx context.Context, conversation uuid.UUID) (wake <-chan struct{}, last uint64, stop func(), err error)
	// Heard returns the events of conversation after serial after that this store's watchers
	// of it have been woken for, oldest first, and true when the store holds every one of
	// them (none, when the wake-ups were for events up to after: a watcher's own append, or
	// one it has read already). It returns false when it cannot tell or does not hold them
	// (nobody watches the conversation through this store, wake-ups may have been missed, or
	// did not carry their events): then read Events. A watcher that is woken sends what Heard
	// returns, without a read, in the common case.
	Heard(conversation uuid.UUID, after uint64) ([]Event, bool)
	// Expire expires at most batch conversations idle longer than the TTL: it deletes their
	// events and jobs and keeps their ids, so that none of them can start a new conversation
	// while anything of the old one may still be about (a watcher that has not read since, a
	// job still in Kafka). It wakes their watchers, through every store on the same state:
	// they read the conversation and find it gone (ErrNotFound). With the room left in batch
	// it forgets the ids expired longer ago than the TTL, which Open with create may then start
	// again. It returns how many conversations it expired and forgot.
	Expire(ctx context.Context, batch int) (int, error)
	// Ping reports whether the store answers.
	Ping(ctx context.Context) error
}

// ExchangesFor is how many whole exchanges fit in a context of turns earlier turns
// (CONTEXT_TURNS): a sentence and its answer are two turns, and are sent together or not at
// all.
func ExchangesFor(turns int) int { return max(turns, 0) / 2 }
