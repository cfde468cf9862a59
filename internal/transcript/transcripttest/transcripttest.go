// Package transcripttest is the conformance suite for transcript.Store: the behaviour every
// implementation must have, written once and run against each of them (transcript.Memory and
// pgtranscript.Store), as River runs riverdrivertest against every driver. A behaviour added
// here is checked on both stores; a test left in one store's package is one that only that
// store can have (pgtranscript's lost listener connection, say).
//
// A store's tests call Run with a Harness that builds the store and can age what it holds:
//
//	func TestMemory_PassesTheTranscriptSuite(t *testing.T) {
//		transcripttest.Run(t, transcripttest.Harness[*transcript.Memory]{
//			NewStore: func(_ *testing.T, ttl time.Duration) *transcript.Memory { return transcript.NewMemory(ttl) },
//			Age: func(_ *testing.T, m *transcript.Memory, conv uuid.UUID, d time.Duration) { m.Age(conv, d) },
//			Held: func(_ *testing.T, m *transcript.Memory, conv uuid.UUID) int { return m.Held(conv) },
//		})
//	}
//
// pgtranscript's harness shows the rest (Forget, Reopen, Shared) for a store in a database.
//
// The suite can run on a database that other tests and earlier runs also write. It uses only
// conversations with fresh random ids and asks the Harness to forget them afterwards. Expire,
// which reaches every idle conversation of a store, runs only with a TTL of a century, so that
// it finds no conversation but those the suite aged that far back (see
// ExpireTakesOnlyIdleConversationsAtMostBatch).
package transcripttest

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/beacon/eventdispatch/internal/transcript"
)

// Harness is what the suite needs to know of one implementation of transcript.Store.
type Harness[S transcript.Store] struct {
	// NewStore returns a store for one subtest whose conversations expire after ttl without
	// an append, ready to Watch (a listener it needs runs until t ends). Required.
	NewStore func(t *testing.T, ttl time.Duration) S
	// Age moves everything s holds of conversation into the past by d — its last activity,
	// its jobs' reservations, its events, its expiry — as if nothing had happened to it for d.
	// Required.
	Age func(t *testing.T, s S, conversation uuid.UUID, d time.Duration)
	// Held returns how many events and jobs s holds of conversation, whatever its state (an
	// expired conversation's are deleted, and no method reads them). Required.
	Held func(t *testing.T, s S, conversation uuid.UUID) int
	// Forget deletes what the suite wrote for conversations; it runs in a cleanup, after the
	// subtest's context is done. Nil when nothing outlives the subtest's store.
	Forget func(t *testing.T, conversations []uuid.UUID)
	// Reopen returns a second store on the state of s, with conversations expiring after
	// ttl, as another process has it (its listener running until t ends). Nil for a store
	// whose state no other can share: subtests that need it are skipped.
	Reopen func(t *testing.T, s S, ttl time.Duration) S
	// Shared is true when other tests and earlier runs write to the same state. Expire may
	// then take another run's century-old conversation rather than one of the suite's, and
	// other processes' sweeps the suite's, so the suite checks which of its own Expire took
	// only as bounds.
	Shared bool
}

// Run runs every behaviour of the suite as a subtest of t, named for the behaviour.
func Run[S transcript.Store](t *testing.T, h Harness[S]) {
	t.Helper()
	if h.NewStore == nil || h.Age == nil || h.Held == nil {
		t.Fatal("transcripttest: Harness.NewStore, Harness.Age and Harness.Held are required")
	}
	behaviours := []struct {
		name string
		test func(t *testing.T)
	}{
		{"AnswersPing", h.answersPing},
		{"SerialsStartAtOneAndIncreaseByOneAcrossAcceptAndFinish", h.serialsIncreaseByOne},
		{"OpenCreatesAConversationOnlyWhenAsked", h.openCreatesOnlyWhenAsked},
		{"UnknownConversationIsNotFound", h.unknownConversationIsNotFound},
		{"AConversationStartedByAClientIsNotFoundToAnyOther", h.ownedConversationIsNotFoundToOthers},
		{"IdleConversationIsNotFoundEvenWithCreate", h.idleConversationIsNotFound},
		{"ReserveCountsAcceptedJobsAndFreshReservations", h.reserveCountsAcceptedAndFresh},
		{"ConcurrentReservesTakeAtMostTheLimit", h.concurrentReservesTakeAtMostLimit},
		{"ReservingAJobTwiceTakesOneSlot", h.reservingTwiceTakesOneSlot},
		{"RefusedJobFreesItsSlotAndIsNeverAnswered", h.refusedJobFreesItsSlotAndIsNeverAnswered},
		{"PrepareTakesAJobBeforeRefuseCanRefuseIt", h.prepareTakesTheJobBeforeRefuse},
		{"RefuseAndPrepareRacingAgreeOnEachJob", h.refuseAndPrepareRacing},
		{"FinishFreesTheSlot", h.finishFreesTheSlot},
		{"AcceptTwiceReturnsTheSameEvent", h.acceptTwiceReturnsTheSameEvent},
		{"FinishTwiceRecordsTheFirstOutcomeOnly", h.finishTwiceRecordsTheFirstOutcome},
		{"FinishRefusesWhatIsNotAnOutcome", h.finishRefusesWhatIsNotAnOutcome},
		{"FinishWithoutAcceptAppendsTheAcceptedEventFirst", h.finishWithoutAcceptAppendsAccepted},
		{"PrepareReadsTheRecordedOutcome", h.prepareReadsTheRecordedOutcome},
		{"WaitingListsAcceptedJobsWithoutOutcomeInAcceptedOrder", h.waitingListsAcceptedWithoutOutcome},
		{"LostListsTheOldestAcceptedJobsLeftWithoutOutcome", h.lostListsAcceptedJobsLeftWithoutOutcome},
		{"ConcurrentAcceptsAndFinishesKeepSerialsGaplessAndOneOutcomePerJob", h.concurrentAcceptsAndFinishes},
		{"PrepareReadsTheRepliesAnsweredBeforeTheJobInTheOrderAnswered", h.exchangesAnsweredBeforeTheJob},
		{"EventsAreThoseAfterASerialUpToALimit", h.eventsAfterUpToLimit},
		{"EventsStopAtPageBytesWhateverTheLimit", h.eventsStopAtPageBytes},
		{"WatchWakesForAnAppendAfterItReturned", h.watchWakesForAppends},
		{"WatchSaysHowFarTheConversationIsAndWakesForWhatComesAfter", h.watchReturnsTheLastSerial},
		{"WakeUpsAreCoalesced", h.wakeUpsAreCoalesced},
		{"AcceptAndFinishCalledAgainWakeTheWatchers", h.callingAgainWakes},
		{"HeardIsWhatAWatcherWasWokenFor", h.heardIsWhatAWatcherWasWokenFor},
		{"StoppedWatchIsNotWoken", h.stoppedWatchIsNotWoken},
		{"WatchIsNotWokenByAnotherConversation", h.watchIgnoresOtherConversations},
		{"WatcherIsWokenByAnAppendThroughAnotherStore", h.wokenThroughAnotherStore},
		{"ExpireTakesOnlyIdleConversationsAtMostBatch", h.expireTakesOnlyIdle},
		{"ExpireWakesItsWatchersAndStartsNothingUnderTheIDForATTL", h.expireWakesTheWatchersOfWhatItExpires},
		{"AnEarlierConversationsJobIsNotRecordedInALaterOneUnderItsID", h.earlierConversationsJobIsNotRecorded},
	}
	for _, b := range behaviours {
		t.Run(b.name, b.test)
	}
}

// ttl is the TTL of the subtests' stores, except Expire's: long enough that no subtest's
// conversation goes idle by itself, longer than transcript.ReservationLease so that a
// reservation can lapse in a conversation that stays active.
const ttl = time.Hour

func (h Harness[S]) answersPing(t *testing.T) {
	if err := h.NewStore(t, ttl).Ping(t.Context()); err != nil {
		t.Fatalf("ping: %v", err)
	}
}

// fresh returns n new conversation ids, not created yet, forgotten when t ends.
func (h Harness[S]) fresh(t *testing.T, n int) []uuid.UUID {
	t.Helper()
	ids := make([]uuid.UUID, n)
	for i := range ids {
		ids[i] = uuid.New()
	}
	if h.Forget != nil {
		t.Cleanup(func() { h.Forget(t, ids) })
	}
	return ids
}

// conversation creates a new, empty conversation in s, forgotten when t ends.
func (h Harness[S]) conversation(t *testing.T, s S) uuid.UUID {
	t.Helper()
	id := h.fresh(t, 1)[0]
	if info, err := s.Open(t.Context(), id, true, uuid.Nil); err != nil || info != (transcript.Info{ID: id}) {
		t.Fatalf("create conversation: %+v, %v", info, err)
	}
	return id
}

// storeWithConversation returns a store of the suite's ttl and a new conversation in it.
func (h Harness[S]) storeWithConversation(t *testing.T) (S, uuid.UUID) {
	t.Helper()
	s := h.NewStore(t, ttl)
	return s, h.conversation(t, s)
}

func reserve(t *testing.T, s transcript.Store, conv, job uuid.UUID, limit int) error {
	t.Helper()
	err := s.Reserve(t.Context(), conv, job, sentence(job), limit)
	if err != nil && !errors.Is(err, transcript.ErrFull) {
		t.Fatalf("reserve: %v", err)
	}
	return err
}

func accept(t *testing.T, s transcript.Store, conv, job uuid.UUID) transcript.Event {
	t.Helper()
	ev, err := s.Accept(t.Context(), conv, job, sentence(job))
	if err != nil {
		t.Fatalf("accept: %v", err)
	}
	return ev
}

// answer finishes job with a Reply whose text is answer(job).
func answer(t *testing.T, s transcript.Store, conv, job uuid.UUID) transcript.Event {
	t.Helper()
	return finish(t, s, conv, job, transcript.Reply, answerTo(job))
}

func finish(t *testing.T, s transcript.Store, conv, job uuid.UUID, kind transcript.Kind, text string) transcript.Event {
	t.Helper()
	ev, recorded, err := s.Finish(t.Context(), conv, job, sentence(job), kind, text)
	if err != nil || !recorded {
		t.Fatalf("finish: recorded %v, %v", recorded, err)
	}
	return ev
}

// events returns all the conversation's events.
func events(t *testing.T, s transcript.Store, conv uuid.UUID) []transcript.Event {
	t.Helper()
	evs, err := s.Events(t.Context(), conv, 0, 1000)
	if err != nil {
		t.Fatalf("events: %v", err)
	}
	return evs
}

// sentence and answerTo are the texts the suite gives a job, so that a wrong one is seen.
func sentence(job uuid.UUID) string { return "sentence " + job.String() }
func answerTo(job uuid.UUID) string { return "answer to " + job.String() }

// sameEvent tells whether a and b are the same event (times compared as instants).
func sameEvent(a, b transcript.Event) bool {
	at := a.At.Equal(b.At)
	a.At, b.At = time.Time{}, time.Time{}
	return at && a == b
}

// checkEvent fails t unless ev is the event serial of conv recording kind for job, with text
// and inReplyTo.
func checkEvent(t *testing.T, ev transcript.Event, conv uuid.UUID, serial uint64, kind transcript.Kind, job uuid.UUID, text, inReplyTo string) {
	t.Helper()
	got := ev
	got.At = time.Time{}
	want := transcript.Event{Conversation: conv, Serial: serial, Kind: kind, JobID: job, Text: text, InReplyTo: inReplyTo}
	if got != want || ev.At.IsZero() {
		t.Fatalf("event %+v, want %+v with a time", ev, want)
	}
}

// orDeadline is how long the suite waits for something that should happen.
const orDeadline = 10 * time.Second

// withDeadline returns a context of t that ends after orDeadline.
func withDeadline(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), orDeadline)
	t.Cleanup(cancel)
	return ctx
}
