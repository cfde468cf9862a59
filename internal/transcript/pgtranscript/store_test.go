package pgtranscript_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/beacon/eventdispatch/internal/kafkatest"
	"github.com/beacon/eventdispatch/internal/proctest"
	"github.com/beacon/eventdispatch/internal/stack"
	"github.com/beacon/eventdispatch/internal/transcript"
	"github.com/beacon/eventdispatch/internal/transcript/pgtranscript"
	"github.com/beacon/eventdispatch/internal/transcript/transcripttest"
	"github.com/beacon/eventdispatch/migrations"
)

// TestStore_PassesTheTranscriptSuite runs the behaviour every transcript store shares against
// the local stack's Postgres. That database holds other tests' and earlier runs' rows, so the
// suite is told it is shared and its conversations are deleted after each subtest. Another
// process is another Store, with a pool and a listener of its own.
func TestStore_PassesTheTranscriptSuite(t *testing.T) {
	pool := newPool(t)
	transcripttest.Run(t, transcripttest.Harness[*pgtranscript.Store]{
		NewStore: func(t *testing.T, ttl time.Duration) *pgtranscript.Store { return listening(t, pool, ttl) },
		Age: func(t *testing.T, _ *pgtranscript.Store, conv uuid.UUID, d time.Duration) {
			_, err := pool.Exec(t.Context(), `
				WITH conversation AS (
				    UPDATE transcript.conversation SET active_at = active_at - $2::interval, created_at = created_at - $2::interval,
				        expired_at = expired_at - $2::interval
				    WHERE id = $1
				), job AS (
				    UPDATE transcript.job SET reserved_at = reserved_at - $2::interval WHERE conversation = $1
				)
				UPDATE transcript.event SET at = at - $2::interval WHERE conversation = $1`,
				conv, pgtype.Interval{Microseconds: d.Microseconds(), Valid: true})
			if err != nil {
				t.Fatalf("age conversation: %v", err)
			}
		},
		Held: func(t *testing.T, _ *pgtranscript.Store, conv uuid.UUID) int {
			var n int
			if err := pool.QueryRow(t.Context(), `
				SELECT (SELECT count(*) FROM transcript.event WHERE conversation = $1)
				     + (SELECT count(*) FROM transcript.job WHERE conversation = $1)`, conv).Scan(&n); err != nil {
				t.Fatalf("count what the store holds of a conversation: %v", err)
			}
			return n
		},
		Forget: func(t *testing.T, convs []uuid.UUID) {
			// In a cleanup: t's context is done. Jobs and events go with their conversation.
			if _, err := pool.Exec(context.Background(), `DELETE FROM transcript.conversation WHERE id = ANY($1)`, convs); err != nil {
				t.Errorf("forget conversations: %v", err)
			}
		},
		Reopen: func(t *testing.T, _ *pgtranscript.Store, ttl time.Duration) *pgtranscript.Store {
			return listening(t, newPool(t), ttl)
		},
		Shared: true,
	})
}

// The listener's connection is killed from the server's side: the watcher is woken (it may
// have missed notifications meanwhile, so Heard no longer claims to know), and appends after
// the reconnection wake it again.
func TestStore_ListenerReconnectsAndWakesItsWatchers(t *testing.T) {
	pool := newPool(t)
	s := listening(t, pool, time.Hour)
	conv := conversation(t, s, pool)
	wake, _, stop, err := s.Watch(t.Context(), conv)
	if err != nil {
		t.Fatal(err)
	}
	defer stop()

	killed := pgtranscript.ListenerPID(s)
	var terminated bool
	if err := pool.QueryRow(t.Context(), `SELECT pg_terminate_backend($1)`, int64(killed)).Scan(&terminated); err != nil || !terminated {
		t.Fatalf("terminate the listener's backend %d: %v, %v", killed, terminated, err)
	}
	awaitWake(t, wake, "after the listener reconnected")
	if heard, ok := s.Heard(conv, 0); ok {
		t.Fatalf("Heard after a reconnection: %v, want unknown (notifications may have been missed)", heard)
	}
	if pid := pgtranscript.ListenerPID(s); pid == 0 || pid == killed {
		t.Fatalf("listener backend %d after the reconnection, want a new one (not %d)", pid, killed)
	}
	if _, err := s.Accept(t.Context(), conv, uuid.New(), "hello"); err != nil {
		t.Fatal(err)
	}
	awaitWake(t, wake, "by an append after the reconnection")
}

// Watch returns only once its conversation is LISTENed, so without a listener it waits; when
// the listener starts, the Watch waiting returns.
func TestStore_WatchWaitsForTheListener(t *testing.T) {
	pool := newPool(t)
	s := pgtranscript.New(pool, time.Hour)
	conv := conversation(t, s, pool)
	short, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
	defer cancel()
	if _, _, _, err := s.Watch(short, conv); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("watch without a listener: %v, want the caller's deadline", err)
	}

	watched := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
		defer cancel()
		_, _, stop, err := s.Watch(ctx, conv)
		if err == nil {
			stop()
		}
		watched <- err
	}()
	listen(t, s)
	if err := <-watched; err != nil {
		t.Fatalf("watch waiting for the listener: %v", err)
	}
	if err := s.Listen(t.Context()); err == nil {
		t.Fatal("a second Listen on one Store did not fail")
	}
}

// Wake-ups announced while a round is waiting for a connection go out together in the next
// round: one notifying transaction for many appends. Every watcher is woken and holds the
// events it was woken for; one too long for a notification arrives as its serial only, and
// its watchers are told to read.
func TestStore_WakeUpsAnnouncedMeanwhileGoInOneRound(t *testing.T) {
	pool := newPool(t)
	s := listening(t, pool, time.Hour)
	convs := make([]uuid.UUID, 20)
	wakes := make([]<-chan struct{}, len(convs))
	for i := range convs {
		convs[i] = conversation(t, s, pool)
		wake, _, stop, err := s.Watch(t.Context(), convs[i])
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(stop)
		wakes[i] = wake
	}
	// Rounds wait while the test holds every connection of the Store's pool.
	release := holdPool(t, pool)
	before := pgtranscript.WakeRounds(s)
	at := time.Now().UTC().Truncate(time.Microsecond)
	announced := make([][]transcript.Event, len(convs))
	for i, conv := range convs {
		for serial := range uint64(2) {
			ev := transcript.Event{Conversation: conv, Serial: serial + 1, Kind: transcript.Accepted, JobID: uuid.New(),
				Text: fmt.Sprintf("sentence %d of conversation %d, with \"quotes\" and ünïcode", serial+1, i), At: at}
			if i == 0 && serial == 1 {
				ev.Text = strings.Repeat("x", 8000) // too long for a notification
			}
			pgtranscript.Announce(s, ev)
			announced[i] = append(announced[i], ev)
		}
	}
	release()
	for i, conv := range convs {
		awaitWake(t, wakes[i], "for an announced event")
		// The two notifications of a conversation may be heard one after the other.
		want := func(evs []transcript.Event, ok bool) bool {
			if i == 0 { // its last event was too long to carry: its watchers must read
				return !ok
			}
			return ok && slices.EqualFunc(evs, announced[i], func(a, b transcript.Event) bool { return a == b })
		}
		var evs []transcript.Event
		var ok bool
		kafkatest.Eventually(t, 10*time.Second, func() bool {
			evs, ok = s.Heard(conv, 0)
			return want(evs, ok)
		}, func() string {
			return fmt.Sprintf("conversation %d: Heard %v (%t), want the events announced (%v), or unknown for the one too long to carry", i, evs, ok, announced[i])
		})
	}
	// The first round may have left with the first wake-up before the others were announced.
	if rounds := pgtranscript.WakeRounds(s) - before; rounds > 2 {
		t.Fatalf("%d wake-ups went out in %d rounds, want at most 2", 2*len(convs), rounds)
	}
}

// Accepts called while a round is in flight go together in the next one, and each gets its
// own outcome: an expired conversation or a refused job fails only its own Accept.
func TestStore_AcceptsCalledTogetherShareARoundAndKeepTheirOwnOutcomes(t *testing.T) {
	pool := newPool(t)
	s := listening(t, pool, time.Hour)
	ctx := t.Context()
	type call struct {
		conv, job uuid.UUID
		want      error
	}
	var calls []call
	for i := range 12 {
		conv := conversation(t, s, pool)
		for range 2 { // two jobs of each conversation
			job := uuid.New()
			if err := s.Reserve(ctx, conv, job, fmt.Sprintf("sentence of %d", i), 10); err != nil {
				t.Fatal(err)
			}
			calls = append(calls, call{conv: conv, job: job})
		}
	}
	refused := calls[5]
	if _, _, err := s.Refuse(ctx, refused.conv, refused.job, "sentence of 2"); err != nil {
		t.Fatal(err)
	}
	calls[5].want = transcript.ErrRefused
	calls = append(calls, call{conv: uuid.New(), job: uuid.New(), want: transcript.ErrNotFound}) // never opened

	// Rounds wait while the test holds every connection of the Store's pool.
	release := holdPool(t, pool)
	before, _ := pgtranscript.AcceptRounds(s)
	type result struct {
		ev  transcript.Event
		err error
	}
	results := make([]chan result, len(calls))
	for i, c := range calls {
		results[i] = make(chan result, 1)
		go func() {
			ev, err := s.Accept(ctx, c.conv, c.job, "sentence")
			results[i] <- result{ev, err}
		}()
	}
	kafkatest.Eventually(t, 10*time.Second, func() bool {
		_, waiting := pgtranscript.AcceptRounds(s)
		return waiting == len(calls)
	}, func() string { return "the Accepts are not all waiting for a round" })
	release()
	accepted := map[uuid.UUID]map[uint64]uuid.UUID{} // conversation → serial → job, as Accept returned them
	for i, c := range calls {
		r := <-results[i]
		switch {
		case c.want != nil:
			if !errors.Is(r.err, c.want) {
				t.Errorf("Accept %d: %v, want %v", i, r.err, c.want)
			}
		case r.err != nil:
			t.Errorf("Accept %d: %v", i, r.err)
		case r.ev.Conversation != c.conv || r.ev.JobID != c.job || r.ev.Kind != transcript.Accepted:
			t.Errorf("Accept %d: event %+v, want the Accepted event of job %s of conversation %s", i, r.ev, c.job, c.conv)
		default:
			if accepted[c.conv] == nil {
				accepted[c.conv] = map[uint64]uuid.UUID{}
			}
			accepted[c.conv][r.ev.Serial] = c.job
		}
	}
	// What each Accept returned is what the transcript holds, serials 1, 2, … without a gap.
	for conv, jobs := range accepted {
		events, err := s.Events(ctx, conv, 0, 10)
		if err != nil {
			t.Fatal(err)
		}
		if len(events) != len(jobs) {
			t.Errorf("conversation %s: %d Accepts succeeded, the transcript holds %v", conv, len(jobs), events)
		}
		for i, ev := range events {
			if ev.Serial != uint64(i+1) || jobs[ev.Serial] != ev.JobID {
				t.Errorf("conversation %s: event %+v, but Accept returned serial %d for job %s", conv, ev, ev.Serial, jobs[ev.Serial])
			}
		}
	}
	// The first round may have left with the first Accept before the others were called.
	if rounds, _ := pgtranscript.AcceptRounds(s); rounds-before > 2 {
		t.Fatalf("%d Accepts ran in %d rounds, want at most 2", len(calls), rounds-before)
	}
}

func TestStore_FinishesCalledTogetherShareARoundAndKeepTheirOwnOutcomes(t *testing.T) {
	pool := newPool(t)
	s := listening(t, pool, time.Hour)
	ctx := t.Context()
	type call struct {
		conv, job uuid.UUID
		kind      transcript.Kind
		text      string
		want      error
		// accepted: the job's Accepted event is in the transcript before the round.
		accepted bool
		// again: the job's outcome is recorded before the round, so Finish records nothing.
		again bool
	}
	var calls []call
	for i := range 12 {
		conv := conversation(t, s, pool)
		for j := range 2 { // two jobs of each conversation
			c := call{conv: conv, job: uuid.New(), kind: transcript.Reply, text: fmt.Sprintf("answer %d.%d", i, j), accepted: true}
			if err := s.Reserve(ctx, c.conv, c.job, "sentence", 10); err != nil {
				t.Fatal(err)
			}
			calls = append(calls, c)
		}
	}
	calls[3].kind, calls[3].text = transcript.Failed, "the model is away"
	calls[5].want = transcript.ErrRefused
	if _, _, err := s.Refuse(ctx, calls[5].conv, calls[5].job, "sentence"); err != nil {
		t.Fatal(err)
	}
	calls[7].accepted = false // reserved only: Finish appends its Accepted event first
	calls[8].again = true
	for _, c := range calls {
		if c.want == nil && c.accepted {
			if _, err := s.Accept(ctx, c.conv, c.job, "sentence"); err != nil {
				t.Fatal(err)
			}
		}
	}
	first, _, err := s.Finish(ctx, calls[8].conv, calls[8].job, "sentence", transcript.Reply, "the first answer")
	if err != nil {
		t.Fatal(err)
	}
	calls[8].text = "the first answer"
	calls = append(calls, call{conv: uuid.New(), job: uuid.New(), kind: transcript.Reply, want: transcript.ErrNotFound}) // never opened

	// Rounds wait while the test holds every connection of the Store's pool.
	release := holdPool(t, pool)
	before, _ := pgtranscript.FinishRounds(s)
	type result struct {
		ev       transcript.Event
		recorded bool
		err      error
	}
	results := make([]chan result, len(calls))
	for i, c := range calls {
		results[i] = make(chan result, 1)
		text := c.text
		if c.again {
			text = "a second answer, not recorded"
		}
		go func() {
			ev, recorded, err := s.Finish(ctx, c.conv, c.job, "sentence", c.kind, text)
			results[i] <- result{ev, recorded, err}
		}()
	}
	kafkatest.Eventually(t, 10*time.Second, func() bool {
		_, waiting := pgtranscript.FinishRounds(s)
		return waiting == len(calls)
	}, func() string { return "the Finishes are not all waiting for a round" })
	release()
	for i, c := range calls {
		r := <-results[i]
		switch {
		case c.want != nil:
			if !errors.Is(r.err, c.want) {
				t.Errorf("Finish %d: %v, want %v", i, r.err, c.want)
			}
			continue
		case r.err != nil:
			t.Errorf("Finish %d: %v", i, r.err)
			continue
		case r.ev.Conversation != c.conv || r.ev.JobID != c.job || r.ev.Kind != c.kind || r.ev.Text != c.text || r.ev.InReplyTo != "sentence":
			t.Errorf("Finish %d: event %+v, want job %s's %s %q of conversation %s", i, r.ev, c.job, c.kind, c.text, c.conv)
		case r.recorded == c.again:
			t.Errorf("Finish %d: recorded %v, want %v", i, r.recorded, !c.again)
		case c.again && r.ev != first:
			t.Errorf("Finish %d, called again: event %+v, want the first outcome %+v", i, r.ev, first)
		}
		// The event Finish returned is the transcript's, and the job's Accepted event is
		// before it.
		events, err := s.Events(ctx, c.conv, 0, 10)
		if err != nil {
			t.Fatal(err)
		}
		var acceptedAt, outcomes int
		for _, ev := range events {
			if ev.JobID != c.job {
				continue
			}
			switch ev.Kind {
			case transcript.Accepted:
				acceptedAt = int(ev.Serial)
			default:
				outcomes++
				if ev != r.ev {
					t.Errorf("Finish %d: returned %+v, the transcript holds %+v", i, r.ev, ev)
				}
			}
		}
		if outcomes != 1 || acceptedAt == 0 || uint64(acceptedAt) > r.ev.Serial {
			t.Errorf("Finish %d: job %s has %d outcomes and its Accepted event at serial %d in %+v", i, c.job, outcomes, acceptedAt, events)
		}
	}
	// The first round may have left with the first Finish before the others were called.
	if rounds, _ := pgtranscript.FinishRounds(s); rounds-before > 2 {
		t.Fatalf("%d Finishes ran in %d rounds, want at most 2", len(calls), rounds-before)
	}
}

// Prepares called together share a round for the jobs accepted already, and each gets its own
// preparation: its exchanges to its own limit, its outcome, or its refusal; a job not accepted
// yet is read again in the next rounds and then taken on its own (its Accepted event
// appended), and an unknown conversation fails only its own Prepare.
func TestStore_PreparesCalledTogetherShareARoundAndKeepTheirOwnOutcomes(t *testing.T) {
	pool := newPool(t)
	s := listening(t, pool, time.Hour)
	ctx := t.Context()
	// A conversation with three answered exchanges, then a job accepted and not answered.
	conv := conversation(t, s, pool)
	var answered []uuid.UUID
	for i := range 3 {
		job := uuid.New()
		if err := s.Reserve(ctx, conv, job, fmt.Sprint("sentence ", i), 10); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Accept(ctx, conv, job, fmt.Sprint("sentence ", i)); err != nil {
			t.Fatal(err)
		}
		if _, _, err := s.Finish(ctx, conv, job, fmt.Sprint("sentence ", i), transcript.Reply, fmt.Sprint("answer ", i)); err != nil {
			t.Fatal(err)
		}
		answered = append(answered, job)
	}
	open := uuid.New()
	if err := s.Reserve(ctx, conv, open, "sentence 3", 10); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Accept(ctx, conv, open, "sentence 3"); err != nil {
		t.Fatal(err)
	}
	// In another conversation, a job only reserved and one refused.
	other := conversation(t, s, pool)
	reserved, refused := uuid.New(), uuid.New()
	for _, job := range []uuid.UUID{reserved, refused} {
		if err := s.Reserve(ctx, other, job, "other sentence", 10); err != nil {
			t.Fatal(err)
		}
	}
	if _, _, err := s.Refuse(ctx, other, refused, "other sentence"); err != nil {
		t.Fatal(err)
	}
	exchanges := func(n int) []transcript.Exchange {
		var out []transcript.Exchange
		for i := 3 - n; i < 3; i++ {
			out = append(out, transcript.Exchange{Sentence: fmt.Sprint("sentence ", i), Answer: fmt.Sprint("answer ", i)})
		}
		return out
	}
	type call struct {
		conv, job uuid.UUID
		most      int
		want      transcript.Preparation
		wantErr   error
	}
	calls := []call{
		{conv: conv, job: open, most: -1, want: transcript.Preparation{Exchanges: exchanges(3)}},
		{conv: conv, job: open, most: 2, want: transcript.Preparation{Exchanges: exchanges(2)}},
		{conv: conv, job: open, most: 0, want: transcript.Preparation{}},
		{conv: conv, job: answered[1], most: 5, want: transcript.Preparation{Outcome: &transcript.Event{}}},
		{conv: other, job: reserved, most: 5, want: transcript.Preparation{}},
		{conv: other, job: refused, most: 5, want: transcript.Preparation{Refused: true}},
		{conv: uuid.New(), job: uuid.New(), most: 5, wantErr: transcript.ErrNotFound},
	}
	release := holdPool(t, pool)
	before, _ := pgtranscript.PrepareRounds(s)
	type result struct {
		p   transcript.Preparation
		err error
	}
	results := make([]chan result, len(calls))
	for i, c := range calls {
		results[i] = make(chan result, 1)
		go func() {
			p, err := s.Prepare(ctx, c.conv, c.job, "other sentence", c.most)
			results[i] <- result{p, err}
		}()
	}
	kafkatest.Eventually(t, 10*time.Second, func() bool {
		_, waiting := pgtranscript.PrepareRounds(s)
		return waiting == len(calls)
	}, func() string { return "the Prepares are not all waiting for a round" })
	release()
	for i, c := range calls {
		r := <-results[i]
		switch {
		case c.wantErr != nil:
			if !errors.Is(r.err, c.wantErr) {
				t.Errorf("Prepare %d: %v, want %v", i, r.err, c.wantErr)
			}
		case r.err != nil:
			t.Errorf("Prepare %d: %v", i, r.err)
		case c.want.Outcome != nil:
			if r.p.Outcome == nil || r.p.Outcome.JobID != c.job || r.p.Outcome.Text != "answer 1" || len(r.p.Exchanges) != 0 || r.p.Refused {
				t.Errorf("Prepare %d: %+v, want the job's outcome alone", i, r.p)
			}
		case r.p.Refused != c.want.Refused || r.p.Outcome != nil || !slices.Equal(r.p.Exchanges, c.want.Exchanges):
			t.Errorf("Prepare %d: %+v, want %+v", i, r.p, c.want)
		}
	}
	// The reserved job was taken: its Accepted event is in the transcript.
	events, err := s.Events(ctx, other, 0, 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(events) != 1 || events[0].JobID != reserved || events[0].Kind != transcript.Accepted {
		t.Errorf("the other conversation holds %+v, want the reserved job's Accepted event alone", events)
	}
	// The first round may have left with the first Prepare before the others were called; the
	// two jobs not accepted are read again, each in at most UnsettledRounds-1 rounds more.
	if rounds, _ := pgtranscript.PrepareRounds(s); rounds-before > 2+2*(pgtranscript.UnsettledRounds-1) {
		t.Fatalf("%d Prepares ran in %d rounds, want at most %d", len(calls), rounds-before, 2+2*(pgtranscript.UnsettledRounds-1))
	}
}

// A job that reaches a worker before its front door's Accept round has committed (under load,
// most of them) is read again in later rounds, after pauses; accepted meanwhile, it is
// prepared from a round, not on its own under its conversation's lock.
func TestStore_PrepareReadsAJobAgainUntilItsAcceptCommits(t *testing.T) {
	pool := newPool(t)
	s := listening(t, pool, time.Hour)
	ctx := t.Context()
	conv := conversation(t, s, pool)
	job := uuid.New()
	if err := s.Reserve(ctx, conv, job, "sentence", 10); err != nil {
		t.Fatal(err)
	}
	before, _ := pgtranscript.PrepareRounds(s)
	type result struct {
		p   transcript.Preparation
		err error
	}
	done := make(chan result, 1)
	go func() {
		p, err := s.Prepare(ctx, conv, job, "sentence", -1)
		done <- result{p, err}
	}()
	// A second round taken: the first found the job not accepted.
	kafkatest.Eventually(t, 10*time.Second, func() bool {
		rounds, _ := pgtranscript.PrepareRounds(s)
		return rounds-before >= 2
	}, func() string { return "Prepare has not read the job again" })
	accepted, err := s.Accept(ctx, conv, job, "sentence")
	if err != nil {
		t.Fatal(err)
	}
	r := <-done
	if r.err != nil || r.p.Refused || r.p.Outcome != nil || len(r.p.Exchanges) != 0 {
		t.Fatalf("Prepare: %+v, %v; want the job to answer, with nothing before it", r.p, r.err)
	}
	rounds, _ := pgtranscript.PrepareRounds(s)
	if n := rounds - before; n < 2 || n >= pgtranscript.UnsettledRounds {
		t.Errorf("Prepare read the job in %d rounds, want it found accepted after the first, before the last of %d", n, pgtranscript.UnsettledRounds)
	}
	events, err := s.Events(ctx, conv, 0, 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(events) != 1 || events[0].Serial != accepted.Serial || events[0].JobID != job || events[0].Kind != transcript.Accepted {
		t.Errorf("the conversation holds %+v, want the Accept's event alone %+v", events, accepted)
	}
}

// Two stores' rounds lock the conversations they share in the same order (their ids), so
// that however their Reserves, Accepts and Finishes are grouped, no two rounds wait for each other in a
// cycle: Postgres would end one of them with a deadlock error, which here would fail a call.
func TestStore_RoundsOfTwoStoresOverTheSameConversationsDoNotDeadlock(t *testing.T) {
	stores := []*pgtranscript.Store{listening(t, newPool(t), time.Hour), listening(t, newPool(t), time.Hour)}
	convs := make([]uuid.UUID, 12)
	for i := range convs {
		convs[i] = conversation(t, stores[0], newPool(t))
	}
	const callers, each = 24, 20 // per store
	errs := make(chan error, 2*callers)
	var wg sync.WaitGroup
	for si, s := range stores {
		for c := range callers {
			wg.Go(func() {
				for i := range each {
					// Each caller walks the conversations in an order of its own, so that the
					// rounds gather them in every order.
					conv := convs[(c*7+i*(si+c+1))%len(convs)]
					job := uuid.New()
					if err := s.Reserve(t.Context(), conv, job, "sentence", 1_000_000); err != nil {
						errs <- fmt.Errorf("reserve: %w", err)
						return
					}
					if _, err := s.Accept(t.Context(), conv, job, "sentence"); err != nil {
						errs <- fmt.Errorf("accept: %w", err)
						return
					}
					if _, _, err := s.Finish(t.Context(), conv, job, "sentence", transcript.Reply, "answer"); err != nil {
						errs <- fmt.Errorf("finish: %w", err)
						return
					}
				}
			})
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	reserveRounds, _ := pgtranscript.ReserveRounds(stores[0])
	acceptRounds, _ := pgtranscript.AcceptRounds(stores[0])
	finishRounds, _ := pgtranscript.FinishRounds(stores[0])
	if reserveRounds >= callers*each || acceptRounds >= callers*each || finishRounds >= callers*each {
		t.Fatalf("%d Reserves, Accepts and Finishes ran in %d, %d and %d rounds: the rounds gathered nothing",
			callers*each, reserveRounds, acceptRounds, finishRounds)
	}
}

// holdPool acquires every connection of pool, so that the Store's rounds wait and gather
// what is called meanwhile; the returned func releases them, as t's end does if the test
// fails before.
func holdPool(t *testing.T, pool *pgxpool.Pool) func() {
	t.Helper()
	var held []*pgxpool.Conn
	var once sync.Once
	release := func() {
		once.Do(func() {
			for _, c := range held {
				c.Release()
			}
		})
	}
	t.Cleanup(release)
	for range pool.Config().MaxConns {
		c, err := pool.Acquire(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		held = append(held, c)
	}
	return release
}

func TestStore_ReservesCalledTogetherShareARoundAndKeepTheirOwnOutcomes(t *testing.T) {
	pool := newPool(t)
	s := listening(t, pool, time.Hour)
	ctx := t.Context()
	const limit = 2
	type call struct{ conv, job uuid.UUID }
	var calls []call
	convs := make([]uuid.UUID, 8)
	for i := range convs {
		convs[i] = conversation(t, s, pool)
		for range limit + 1 { // one more than the limit: one of each conversation's is full
			calls = append(calls, call{conv: convs[i], job: uuid.New()})
		}
	}
	// A job that holds a slot already keeps it, even with the conversation at its limit.
	heldConv := conversation(t, s, pool)
	held := uuid.New()
	if err := s.Reserve(ctx, heldConv, held, "held", limit); err != nil {
		t.Fatal(err)
	}
	if err := s.Reserve(ctx, heldConv, uuid.New(), "second", limit); err != nil {
		t.Fatal(err)
	}
	calls = append(calls, call{conv: heldConv, job: held})
	unknown := call{conv: uuid.New(), job: uuid.New()} // never opened
	calls = append(calls, unknown)

	release := holdPool(t, pool)
	before, _ := pgtranscript.ReserveRounds(s)
	results := make([]chan error, len(calls))
	for i, c := range calls {
		results[i] = make(chan error, 1)
		go func() { results[i] <- s.Reserve(ctx, c.conv, c.job, "sentence", limit) }()
	}
	kafkatest.Eventually(t, 10*time.Second, func() bool {
		_, waiting := pgtranscript.ReserveRounds(s)
		return waiting == len(calls)
	}, func() string { return "the Reserves are not all waiting for a round" })
	release()

	reserved := map[uuid.UUID]map[uuid.UUID]bool{} // conversation → the jobs Reserve said hold a slot
	for i, c := range calls {
		err := <-results[i]
		switch {
		case c == unknown:
			if !errors.Is(err, transcript.ErrNotFound) {
				t.Errorf("Reserve on a conversation never opened: %v, want ErrNotFound", err)
			}
		case c.job == held:
			if err != nil {
				t.Errorf("Reserve of a job that holds a slot: %v, want nil", err)
			}
		case errors.Is(err, transcript.ErrFull):
		case err != nil:
			t.Errorf("Reserve %d: %v", i, err)
		default:
			if reserved[c.conv] == nil {
				reserved[c.conv] = map[uuid.UUID]bool{}
			}
			reserved[c.conv][c.job] = true
		}
	}
	// Each conversation took exactly its limit, and the jobs that Reserve said hold a slot are
	// the ones the transcript holds.
	for _, conv := range convs {
		rows, _ := pool.Query(ctx, `SELECT job FROM transcript.job WHERE conversation = $1`, conv)
		jobs, err := pgx.CollectRows(rows, pgx.RowTo[uuid.UUID])
		if err != nil {
			t.Fatal(err)
		}
		if len(reserved[conv]) != limit || len(jobs) != limit {
			t.Errorf("conversation %s: Reserve succeeded for %d jobs and the transcript holds %d, want %d", conv, len(reserved[conv]), len(jobs), limit)
		}
		for _, j := range jobs {
			if !reserved[conv][j] {
				t.Errorf("conversation %s holds job %s, for which Reserve said full", conv, j)
			}
		}
	}
	// The first round may have left with the first Reserve before the others were called.
	if rounds, _ := pgtranscript.ReserveRounds(s); rounds-before > 2 {
		t.Fatalf("%d Reserves ran in %d rounds, want at most 2", len(calls), rounds-before)
	}
}

// newPool returns a pool on the local stack's database, migrated, closed when t ends.
func newPool(t *testing.T) *pgxpool.Pool {
	t.Helper()
	url := stack.Require(t, stack.Postgres).DatabaseURL
	if _, err := migrations.Up(t.Context(), url, slog.New(slog.DiscardHandler)); err != nil {
		t.Fatalf("migrate: %v", err)
	}
	return stack.Pool(t, url)
}

// listening returns a Store on pool whose listener runs until t ends.
func listening(t *testing.T, pool *pgxpool.Pool, ttl time.Duration) *pgtranscript.Store {
	t.Helper()
	s := pgtranscript.New(pool, ttl)
	s.SetLog(proctest.Log(t)) // a wake-up's round may outlive t
	listen(t, s)
	return s
}

// listen runs s's listener until t ends.
func listen(t *testing.T, s *pgtranscript.Store) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Listen(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("listen: %v", err)
		}
	})
}

// conversation creates a conversation, deleted when t ends.
func conversation(t *testing.T, s transcript.Store, pool *pgxpool.Pool) uuid.UUID {
	t.Helper()
	id := uuid.New()
	t.Cleanup(func() {
		if _, err := pool.Exec(context.Background(), `DELETE FROM transcript.conversation WHERE id = $1`, id); err != nil {
			t.Errorf("delete conversation: %v", err)
		}
	})
	if _, err := s.Open(t.Context(), id, true, uuid.Nil); err != nil {
		t.Fatal(err)
	}
	return id
}

func awaitWake(t *testing.T, wake <-chan struct{}, what string) {
	t.Helper()
	select {
	case <-wake:
	case <-time.After(10 * time.Second):
		t.Fatalf("no wake-up %s", what)
	}
}

// Every statement of the transcript's functions finds its rows through an index, whatever the
// planner makes of the tables' statistics (migration 00013). A connection keeps a function's
// plans for its life, and plans made while the statistics say a table is nearly empty scan
// it, however large it grows. Here a fresh connection is told that random reads cost a
// million times a sequential one, which makes any scan look cheaper than an index, and the
// transaction's own counts must show no scan of a transcript table.
func TestFunctions_FindRowsThroughIndexesWhateverTheStatistics(t *testing.T) {
	pool := newPool(t)
	ctx := t.Context()
	tx, err := pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = tx.Rollback(context.Background()) }()
	exec := func(sql string, args ...any) {
		t.Helper()
		if _, err := tx.Exec(ctx, sql, args...); err != nil {
			t.Fatalf("%s: %v", sql, err)
		}
	}
	const ttl, lease = 24 * time.Hour, time.Minute
	conv, answered, refused := uuid.New(), uuid.New(), uuid.New()
	exec(`SET LOCAL random_page_cost = 1000000`)
	exec(`SELECT transcript.open_conversation($1, true, $2)`, conv, ttl)
	exec(`SELECT transcript.reserve($1, $2, 'hello', 10, $3, $4)`, conv, answered, ttl, lease)
	exec(`SELECT * FROM transcript.accept($1, $2, 'hello', $3)`, conv, answered, ttl)
	exec(`SELECT * FROM transcript.accept_many(ARRAY[$1::uuid], ARRAY[$2::uuid], ARRAY['again'], $3)`, conv, uuid.New(), ttl)
	exec(`SELECT * FROM transcript.reserve_many(ARRAY[$1::uuid], ARRAY[$2::uuid], ARRAY['more'], ARRAY[10], $3, $4)`, conv, uuid.New(), ttl, lease)
	exec(`SELECT * FROM transcript.prepare($1, $2, 'hello', 10, $3)`, conv, answered, ttl)
	exec(`SELECT * FROM transcript.finish($1, $2, 'hello', 'reply', 'hi', $3)`, conv, answered, ttl)
	second := uuid.New()
	exec(`SELECT * FROM transcript.accept($1, $2, 'and you?', $3)`, conv, second, ttl)
	exec(`SELECT * FROM transcript.prepare_many(ARRAY[$1::uuid, $1], ARRAY[$2::uuid, $3], ARRAY[10, NULL], $4)`, conv, answered, second, ttl)
	exec(`SELECT * FROM transcript.finish_many(ARRAY[$1::uuid], ARRAY[$2::uuid], ARRAY['and you?'], ARRAY['reply'], ARRAY['me too'], $3)`,
		conv, second, ttl)
	exec(`SELECT transcript.reserve($1, $2, 'again', 10, $3, $4)`, conv, refused, ttl, lease)
	exec(`SELECT * FROM transcript.refuse($1, $2, 'again', $3)`, conv, refused, ttl)
	exec(`SELECT * FROM transcript.events($1, 0, 100, $2)`, conv, ttl)
	exec(`SELECT transcript.waiting($1, $2)`, conv, ttl)
	exec(`SELECT transcript.live_conversation($1, $2)`, conv, ttl)

	rows, _ := tx.Query(ctx, `SELECT relname || ': ' || seq_scan FROM pg_stat_xact_user_tables
		WHERE schemaname = 'transcript' AND seq_scan > 0 ORDER BY relname`)
	scanned, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	if len(scanned) > 0 {
		t.Fatalf("the transcript's functions scanned tables (sequential scans): %v", scanned)
	}
}

// A job's earlier exchanges are read backward along job_unanswered_idx from the last answer,
// one job and one event each, however long the conversation and whatever the statistics say
// (migrations 00019 and 00029). The database is a new one, analyzed while empty, as after
// many conversations expired: with a join of jobs and events, the planner then matched each
// exchange's answer by scanning all of the conversation's events (60 exchanges, 3 read: 354
// events fetched instead of 3).
func TestPrepare_ReadsEachExchangeOnceWhateverTheStatistics(t *testing.T) {
	url, db := freshConnection(t)
	ctx := t.Context()
	const ttl, exchanges, read = 24 * time.Hour, 60, 3
	conv, last := uuid.New(), uuid.New()
	// Statistics of the empty tables, kept: autovacuum would analyze the tables again once the
	// exchanges below are written, and the test would then pass whatever the functions' plans.
	for _, table := range []string{"conversation", "job", "event"} {
		if _, err := db.Exec(ctx, `ALTER TABLE transcript.`+table+` SET (autovacuum_enabled = false)`); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := db.Exec(ctx, `ANALYZE`); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(ctx, `SELECT transcript.open_conversation($1, true, $2)`, conv, ttl); err != nil {
		t.Fatal(err)
	}
	for i := range exchanges {
		job, s := uuid.New(), fmt.Sprintf("sentence %d", i)
		if _, err := db.Exec(ctx, `SELECT * FROM transcript.accept_many(ARRAY[$1::uuid], ARRAY[$2::uuid], ARRAY[$3], $4)`, conv, job, s, ttl); err != nil {
			t.Fatal(err)
		}
		if _, err := db.Exec(ctx, `SELECT * FROM transcript.finish_many(ARRAY[$1::uuid], ARRAY[$2::uuid], ARRAY[$3], ARRAY['reply'], ARRAY['answer'], $4)`,
			conv, job, s, ttl); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := db.Exec(ctx, `SELECT * FROM transcript.accept_many(ARRAY[$1::uuid], ARRAY[$2::uuid], ARRAY['the last'], $3)`, conv, last, ttl); err != nil {
		t.Fatal(err)
	}

	// Each function on a connection of its own, which plans it afresh with these statistics.
	// What the job's exchanges read is what a call that reads them fetches beyond one that
	// reads none: the job's own lookups are not theirs to count.
	for _, call := range []struct{ name, sql string }{
		{"prepare_many", `SELECT count(*) FILTER (WHERE what = 'exchange') FROM transcript.prepare_many(ARRAY[$1::uuid], ARRAY[$2::uuid], ARRAY[$3::integer], $4)`},
		{"prepare", `SELECT count(*) FILTER (WHERE sentence IS NOT NULL) FROM transcript.prepare($1, $2, 'the last', $3, $4)`},
	} {
		t.Run(call.name, func(t *testing.T) {
			tx := newConnectionTx(t, url)
			fetched := func(most int) (got, events, jobs int64) {
				t.Helper()
				var before [2]int64
				stats := `SELECT coalesce(sum(idx_tup_fetch) FILTER (WHERE relname = 'event'), 0),
					coalesce(sum(idx_tup_fetch) FILTER (WHERE relname = 'job'), 0)
					FROM pg_stat_xact_user_tables WHERE schemaname = 'transcript'`
				if err := tx.QueryRow(ctx, stats).Scan(&before[0], &before[1]); err != nil {
					t.Fatal(err)
				}
				if err := tx.QueryRow(ctx, call.sql, conv, last, most, ttl).Scan(&got); err != nil {
					t.Fatal(err)
				}
				if err := tx.QueryRow(ctx, stats).Scan(&events, &jobs); err != nil {
					t.Fatal(err)
				}
				return got, events - before[0], jobs - before[1]
			}
			_, noEvents, noJobs := fetched(0)
			got, events, jobs := fetched(read)
			if got != read || events-noEvents > read || jobs-noJobs > read {
				t.Fatalf("%d exchanges read, %d events and %d jobs fetched for them; want %d, at most %d and %d",
					got, events-noEvents, jobs-noJobs, read, read, read)
			}
		})
	}
}

// Prepare reads a job, then its exchanges, in two statements. Another worker redoing the job
// at a rebalance may record its answer in between; the job's own exchange is still not among
// them. Here the read of the exchanges is held on a lock of the events until that answer is
// committed.
func TestPrepare_LeavesOutTheJobsOwnAnswerRecordedWhileItReads(t *testing.T) {
	url, db := freshConnection(t)
	ctx := t.Context()
	const ttl = 24 * time.Hour
	conv, earlier, job := uuid.New(), uuid.New(), uuid.New()
	if _, err := db.Exec(ctx, `SELECT transcript.open_conversation($1, true, $2)`, conv, ttl); err != nil {
		t.Fatal(err)
	}
	for _, j := range []uuid.UUID{earlier, job} {
		if _, err := db.Exec(ctx, `SELECT * FROM transcript.accept_many(ARRAY[$1::uuid], ARRAY[$2::uuid], ARRAY[$3], $4)`, conv, j, j.String(), ttl); err != nil {
			t.Fatal(err)
		}
	}
	finish := func(q interface {
		Exec(context.Context, string, ...any) (pgconn.CommandTag, error)
	}, j uuid.UUID, answer string) {
		t.Helper()
		if _, err := q.Exec(ctx, `SELECT * FROM transcript.finish_many(ARRAY[$1::uuid], ARRAY[$2::uuid], ARRAY[$3], ARRAY['reply'], ARRAY[$4], $5)`,
			conv, j, j.String(), answer, ttl); err != nil {
			t.Fatal(err)
		}
	}
	finish(db, earlier, "the earlier answer")

	other, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = other.Close(context.Background()) }()
	// The reader compiles prepare before the lock (a variable of the events' row type needs
	// that table), on the earlier job: its outcome, read without the exchanges. Outside a
	// transaction, which would hold a lock of the events until its end.
	reader, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = reader.Close(context.Background()) }()
	var pid int
	if err := reader.QueryRow(ctx, `SELECT pg_backend_pid() FROM transcript.prepare($1, $2, $3, 10, $4)`, conv, earlier, earlier.String(), ttl).Scan(&pid); err != nil {
		t.Fatal(err)
	}
	tx, err := other.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = tx.Rollback(context.Background()) }()
	if _, err := tx.Exec(ctx, `LOCK TABLE transcript.event IN ACCESS EXCLUSIVE MODE`); err != nil {
		t.Fatal(err)
	}
	type result struct {
		sentences []string
		err       error
	}
	read := make(chan result, 1)
	go func() {
		rows, _ := reader.Query(ctx, `SELECT sentence FROM transcript.prepare($1, $2, $3, 10, $4) WHERE sentence IS NOT NULL`, conv, job, job.String(), ttl)
		sentences, err := pgx.CollectRows(rows, pgx.RowTo[string])
		read <- result{sentences, err}
	}()
	kafkatest.Eventually(t, 10*time.Second, func() bool {
		var waiting bool
		err := db.QueryRow(ctx, `SELECT wait_event_type = 'Lock' FROM pg_stat_activity WHERE pid = $1`, pid).Scan(&waiting)
		return err == nil && waiting
	}, func() string { return "prepare never waited for the events' lock" })
	finish(tx, job, "its own answer, by another worker")
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	r := <-read
	if r.err != nil || !slices.Equal(r.sentences, []string{earlier.String()}) {
		t.Fatalf("prepare read the exchanges %v, %v; want the earlier one only", r.sentences, r.err)
	}
}

// A Reserve whose round found no connection to run on says that nothing was sent
// (transcript.ErrNotSent): its caller has no reservation to undo. Nothing listens on the
// address, so this needs no stack.
func TestReserve_WithoutAConnectionSaysNothingWasSent(t *testing.T) {
	pool, err := pgxpool.New(t.Context(), "postgres://nobody@127.0.0.1:1/nowhere?connect_timeout=2&sslmode=disable")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	s := pgtranscript.New(pool, time.Hour)
	err = s.Reserve(t.Context(), uuid.New(), uuid.New(), "hello", 3)
	if !errors.Is(err, transcript.ErrNotSent) {
		t.Fatalf("Reserve without a connection: %v, want ErrNotSent", err)
	}
}

// freshConnection creates a database of its own for t (stack.FreshDatabase) and returns its URL and
// a connection to it, closed when t ends.
func freshConnection(t *testing.T) (string, *pgx.Conn) {
	t.Helper()
	url := stack.FreshDatabase(t)
	db, err := pgx.Connect(t.Context(), url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close(context.Background()) })
	return url, db
}

// newConnectionTx opens a connection of its own to url, which plans the functions afresh, and
// returns a transaction on it; both end with t, the transaction rolled back.
func newConnectionTx(t *testing.T, url string) pgx.Tx {
	t.Helper()
	conn, err := pgx.Connect(t.Context(), url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close(context.Background()) })
	tx, err := conn.Begin(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = tx.Rollback(context.Background()) })
	return tx
}

// Reserve counts a conversation's open jobs, and Waiting lists them, reading those jobs and
// not every job the conversation ever had, whatever churn has done to the indexes: here a
// thousand conversations' jobs answered and vacuumed away, and a long conversation of 2,000
// answered jobs and 2 open, with the plans a pooled connection settles on (generic ones).
func TestReserve_ReadsTheOpenJobsNotTheWholeConversation(t *testing.T) {
	url, db := freshConnection(t)
	ctx := t.Context()
	const ttl, lease, answered = 24 * time.Hour, time.Minute, 2000
	long := uuid.New()
	for _, sql := range []string{
		`ALTER TABLE transcript.job SET (autovacuum_enabled = false)`,
		`INSERT INTO transcript.conversation (id) SELECT gen_random_uuid() FROM generate_series(1, 1000)`,
		`INSERT INTO transcript.conversation (id) VALUES ('` + long.String() + `')`,
		// Every job enters the open jobs' index when accepted and leaves it when answered.
		`INSERT INTO transcript.job (conversation, job, sentence, accepted_serial)
		 SELECT c.id, gen_random_uuid(), 's', n FROM transcript.conversation c, generate_series(1, 10) n
		 WHERE c.id <> '` + long.String() + `'`,
		`INSERT INTO transcript.job (conversation, job, sentence, accepted_serial)
		 SELECT '` + long.String() + `', gen_random_uuid(), 's', n FROM generate_series(1, ` + fmt.Sprint(answered+2) + `) n`,
		`UPDATE transcript.job SET outcome_serial = accepted_serial + 100000
		 WHERE conversation <> '` + long.String() + `' OR accepted_serial <= ` + fmt.Sprint(answered),
	} {
		if _, err := db.Exec(ctx, sql); err != nil {
			t.Fatalf("%s: %v", sql, err)
		}
	}
	// Vacuumed until the answered jobs' old versions are gone. A vacuum may leave them: while
	// another test of the stack creates a replication slot (a Debezium connector), the slot
	// holds back what any database's vacuum may remove, and their index entries, still read,
	// would be taken for the plan's.
	var dead int64
	kafkatest.Eventually(t, 30*time.Second, func() bool {
		if _, err := db.Exec(ctx, `VACUUM ANALYZE transcript.job`); err != nil {
			t.Fatal(err)
		}
		err := db.QueryRow(ctx, `SELECT n_dead_tup FROM pg_stat_user_tables WHERE relid = 'transcript.job'::regclass`).Scan(&dead)
		return err == nil && dead == 0
	}, func() string { return fmt.Sprintf("transcript.job keeps %d dead rows after vacuums", dead) })
	for _, call := range []struct{ name, sql string }{
		{"reserve_many", `SELECT count(*) FILTER (WHERE outcome = 'ok') FROM transcript.reserve_many(ARRAY[$1::uuid], ARRAY[gen_random_uuid()], ARRAY['t'], ARRAY[10], $2, $3)`},
		{"waiting", `SELECT count(*) FROM transcript.waiting($1, $2) WHERE $3::interval IS NOT NULL`},
	} {
		t.Run(call.name, func(t *testing.T) {
			tx := newConnectionTx(t, url)
			if _, err := tx.Exec(ctx, `SET LOCAL plan_cache_mode = force_generic_plan`); err != nil {
				t.Fatal(err)
			}
			var got, read int64
			if err := tx.QueryRow(ctx, call.sql, long, ttl, lease).Scan(&got); err != nil {
				t.Fatal(err)
			}
			// Index entries returned by the transaction's scans of transcript.job's indexes.
			if err := tx.QueryRow(ctx, `SELECT coalesce(sum(pg_stat_get_xact_tuples_returned(indexrelid)), 0)::bigint
				FROM pg_index WHERE indrelid = 'transcript.job'::regclass`).Scan(&read); err != nil {
				t.Fatal(err)
			}
			if want := map[string]int64{"reserve_many": 1, "waiting": 2}[call.name]; got != want {
				t.Fatalf("%d, want %d", got, want)
			}
			if read > 20 {
				t.Fatalf("%d index entries of transcript.job read for a conversation with 2 open jobs of %d: the whole conversation", read, answered+2)
			}
		})
	}
}

// A value Postgres refuses (a NUL in a text, which no text holds) fails its own call with
// transcript.ErrInvalid, and not the calls that shared its round: the round is run again one
// call at a time. Before, every call of the round failed, and a worker retrying such a job
// failed every round it joined, for ever.
func TestStore_AValueRefusedFailsItsOwnCallNotItsRound(t *testing.T) {
	pool := newPool(t)
	s := listening(t, pool, time.Hour)
	ctx := t.Context()
	conv := conversation(t, s, pool)
	sentences := []string{"fine", "nul\x00here", "also fine"}

	release := holdPool(t, pool)
	before, _ := pgtranscript.ReserveRounds(s)
	results := make([]chan error, len(sentences))
	for i, sentence := range sentences {
		results[i] = make(chan error, 1)
		go func() { results[i] <- s.Reserve(ctx, conv, uuid.New(), sentence, 10) }()
		// The first leaves in a round of its own, which waits for a connection: the others
		// gather in the next.
		kafkatest.Eventually(t, 10*time.Second, func() bool {
			_, waiting := pgtranscript.ReserveRounds(s)
			return waiting == i+1
		}, func() string { return "the Reserves are not all waiting for a round" })
	}
	release()
	for i, sentence := range sentences {
		err := <-results[i]
		if strings.ContainsRune(sentence, 0) != errors.Is(err, transcript.ErrInvalid) || (err != nil && !errors.Is(err, transcript.ErrInvalid)) {
			t.Errorf("Reserve of %q: %v", sentence, err)
		}
	}
	if rounds, _ := pgtranscript.ReserveRounds(s); rounds-before != 2 {
		t.Fatalf("the Reserves ran in %d rounds, want two (the second run again one call at a time)", rounds-before)
	}
}

// Two deployments on one database, each with its jobs topic (its queue, SetQueue): each one's
// Lost lists its own lost jobs and those of no queue (added by a process from before
// migration 00027), not the other's, which its sweep could not tell from a backlog. A store
// of no queue lists them all, as before.
func TestLost_ListsTheJobsOfItsOwnQueueAndOfNone(t *testing.T) {
	base := newPool(t)
	url := stack.Require(t, stack.Postgres).DatabaseURL
	storeOf := func(queue string) *pgtranscript.Store {
		cfg, err := pgxpool.ParseConfig(url)
		if err != nil {
			t.Fatal(err)
		}
		if queue != "" {
			pgtranscript.SetQueue(&cfg.ConnConfig.Config, queue)
		}
		pool, err := pgxpool.NewWithConfig(t.Context(), cfg)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(pool.Close)
		return pgtranscript.New(pool, time.Hour)
	}
	suffix := uuid.NewString()
	a, b, none := storeOf("a."+suffix), storeOf("b."+suffix), storeOf("")
	conv := conversation(t, none, base)
	jobOf := map[*pgtranscript.Store]uuid.UUID{a: uuid.New(), b: uuid.New(), none: uuid.New()}
	for s, job := range jobOf {
		if err := s.Reserve(t.Context(), conv, job, "s", 10); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Accept(t.Context(), conv, job, "s"); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := base.Exec(t.Context(), `UPDATE transcript.job SET reserved_at = reserved_at - interval '15 minutes' WHERE conversation = $1`, conv); err != nil {
		t.Fatal(err)
	}
	sorted := func(ids ...uuid.UUID) []uuid.UUID {
		slices.SortFunc(ids, func(x, y uuid.UUID) int { return strings.Compare(x.String(), y.String()) })
		return ids
	}
	listed := func(s *pgtranscript.Store) []uuid.UUID {
		jobs, err := s.Lost(t.Context(), 10*time.Minute, 1<<20)
		if err != nil {
			t.Fatal(err)
		}
		var ours []uuid.UUID
		for _, j := range jobs {
			if j.Conversation == conv {
				ours = append(ours, j.ID)
			}
		}
		return sorted(ours...)
	}
	for name, c := range map[string]struct {
		s    *pgtranscript.Store
		want []uuid.UUID
	}{
		"queue a":  {a, sorted(jobOf[a], jobOf[none])},
		"queue b":  {b, sorted(jobOf[b], jobOf[none])},
		"no queue": {none, sorted(jobOf[a], jobOf[b], jobOf[none])},
	} {
		if got := listed(c.s); !slices.Equal(got, c.want) {
			t.Errorf("%s lists %v, want %v", name, got, c.want)
		}
	}
}
