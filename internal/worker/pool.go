// Package worker answers queued conversation jobs. A Pool runs at most WORKERS model calls at
// once for the whole process, answers the jobs of one conversation one at a time and in queue
// order, different conversations in parallel, and ends every job in exactly one outcome in
// the conversation's transcript: the answer, or an error a person can read.
//
// Each job is put to the model with the conversation as it stands when the job runs — the
// earlier sentences and their answers, in the order they were answered, from the transcript
// (at most CONTEXT_TURNS turns) — not as it stood when the job was queued: three sentences
// queued back to back are answered as a conversation, each seeing the answers before it.
//
// Only once the outcome is stored is the job done, and only done jobs let the consumer commit
// past them (internal/consumer's pipelined mode), so a worker that dies loses nothing: its
// unfinished jobs are redone elsewhere. A job redone after its outcome was stored (the worker
// died before the commit) finds the outcome in the transcript and is neither asked of the
// model again nor answered twice.
//
// The pool works on decoded jobs; kafkabus.Each puts it on the jobs topic, decoding messages
// with Decode and copying undecodable and failed jobs to the dead-letter topic.
package worker

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/cenkalti/backoff/v5"
	"github.com/google/uuid"
	"github.com/segmentio/kafka-go"

	"github.com/beacon/eventdispatch/internal/access"
	"github.com/beacon/eventdispatch/internal/consumer"
	"github.com/beacon/eventdispatch/internal/llm"
	"github.com/beacon/eventdispatch/internal/queue"
	"github.com/beacon/eventdispatch/internal/sleep"
	"github.com/beacon/eventdispatch/internal/transcript"
)

// UserError is implemented by model errors that carry a message meant for the client, such
// as "the assistant is unavailable, please try again later".
type UserError interface {
	error
	UserMessage() string
}

// FailedText is the reply to a job the model could not answer, when the error has no message
// of its own for the client.
const FailedText = "the assistant could not answer, please try again later"

// RefusedText is the reply to a job whose request the model API refused (llm.RefusesTheRequest):
// sending the same sentence again would be refused again.
const RefusedText = "the assistant could not answer this sentence"

// Transcript is the part of the transcript store the workers use.
type Transcript interface {
	Prepare(ctx context.Context, conversation, job uuid.UUID, sentence string, max int) (transcript.Preparation, error)
	Finish(ctx context.Context, conversation, job uuid.UUID, sentence string, kind transcript.Kind, text string) (transcript.Event, bool, error)
}

// Usage counts the model tokens a job spent, once per job however often it is recorded
// (access.Store, in the transcript's database: see answer).
type Usage interface {
	RecordModelCall(ctx context.Context, job, client uuid.UUID, prompt, completion int) (bool, error)
}

// Decode decodes a message of the jobs topic. An error means there is nobody to answer: no
// job or conversation can be read from it.
func Decode(m kafka.Message) (queue.Job, error) { return queue.UnmarshalJob(m.Value) }

// Config configures a Pool.
type Config struct {
	// Workers is the most model calls at once (WORKERS).
	Workers int
	// ContextTurns is the most earlier turns sent with a sentence (CONTEXT_TURNS).
	ContextTurns int
	// Model is the model behind its policies (llm.NewPolicy), shared by all workers. It
	// answers premium jobs, and jobs that carry no tier.
	Model llm.Call
	// Free answers free-tier jobs (the offline ELIZA responder), without a worker slot: it
	// spends no model. Nil: Model answers them too.
	Free       llm.Call
	Transcript Transcript
	// Usage, when set, counts the tokens of every job the model answered, once per job (a
	// client's tokens per day).
	Usage   Usage
	Metrics *Metrics
	Log     *slog.Logger
}

// Pool answers jobs.
type Pool struct {
	cfg   Config
	slots chan struct{}

	mu     sync.Mutex
	queues map[uuid.UUID][]task // per conversation, the jobs waiting behind the one running
	wg     sync.WaitGroup
}

type task struct {
	ctx  context.Context
	job  queue.Job
	done func(error)
}

// NewPool returns a pool for cfg.
func NewPool(cfg Config) *Pool {
	return &Pool{cfg: cfg, slots: make(chan struct{}, cfg.Workers), queues: map[uuid.UUID][]task{}}
}

// Process takes one job and returns at once; done is called once its outcome is stored,
// with the model's error when the job failed.
func (p *Pool) Process(ctx context.Context, job queue.Job, done func(error)) {
	p.mu.Lock()
	waiting, running := p.queues[job.ConversationID]
	p.queues[job.ConversationID] = append(waiting, task{ctx: ctx, job: job, done: done})
	p.mu.Unlock()
	if !running {
		p.wg.Go(func() { p.runConversation(job.ConversationID) })
	}
}

// Wait waits for every job handed to the pool to finish.
func (p *Pool) Wait() { p.wg.Wait() }

// Busy returns how many conversations have jobs in the pool, running or waiting their turn.
func (p *Pool) Busy() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.queues)
}

// runConversation answers a conversation's jobs in order until none is waiting. A job whose
// partition has stopped taking jobs (a rebalance, or shutdown: consumer.Stopping) before its
// turn, or while it waits for a worker, is not begun: it is given back (consumer.Release), not
// done, and stays uncommitted for the partition's next owner, which reads it again. Begun, it
// would be asked of the model twice, by both.
func (p *Pool) runConversation(conv uuid.UUID) {
	for {
		p.mu.Lock()
		tasks := p.queues[conv]
		if len(tasks) == 0 {
			delete(p.queues, conv)
			p.mu.Unlock()
			return
		}
		t := tasks[0]
		p.mu.Unlock()

		switch err := p.answer(t.ctx, t.job); {
		case errors.Is(err, llm.ErrStopped):
			// With why it waited, and its failed attempt's error if it had one.
			p.cfg.Log.Info("job given back undone: its partition stopped while it waited for the model",
				"job", t.job.ID, "conversation", conv, "error", err)
			consumer.Release(t.ctx)
		case errors.Is(err, errNotBegun):
			p.cfg.Log.Debug("job given back undone: its partition stopped before it began", "job", t.job.ID, "conversation", conv)
			consumer.Release(t.ctx)
		case err != nil:
			t.done(jobFailure{job: t.job.ID, err: err})
		default:
			t.done(nil)
		}

		p.mu.Lock()
		p.queues[conv] = p.queues[conv][1:]
		p.mu.Unlock()
	}
}

// jobFailure is a failed job's reason for the dead-letter topic: its error, and its id for the
// copy's log line (kafkabus.LogAttrs), whose key is the job's conversation.
type jobFailure struct {
	job uuid.UUID
	err error
}

func (f jobFailure) Error() string   { return f.err.Error() }
func (f jobFailure) Unwrap() error   { return f.err }
func (f jobFailure) LogAttrs() []any { return []any{"job", f.job} }

// errNotBegun is answer's error for a job it did not begin, its partition having stopped.
var errNotBegun = errors.New("not begun: its partition has stopped")

// stopped reports whether the partition that handed the pool ctx's job has stopped.
func stopped(ctx context.Context) bool {
	select {
	case <-consumer.Stopping(ctx):
		return true
	default:
		return false
	}
}

// answer asks the model unless the job already has an outcome or was refused, stores the
// outcome, and returns the model's error, if any; or errNotBegun, for a job whose partition
// stopped before its turn or while it waited for a worker; or an error wrapping
// llm.ErrStopped, for one whose partition stopped while it waited for the model's rate limit,
// breaker or a retry (llm.WithStop). Neither has an outcome: whoever reads its partition next
// takes it (in standalone with its broker in memory, no one after a shutdown).
func (p *Pool) answer(ctx context.Context, job queue.Job) error {
	if stopped(ctx) {
		return errNotBegun
	}
	log := p.cfg.Log.With("job", job.ID, "conversation", job.ConversationID)
	var prep transcript.Preparation
	if err := p.retry(ctx, log, "read the conversation", func() (err error) {
		prep, err = p.cfg.Transcript.Prepare(ctx, job.ConversationID, job.ID, job.Sentence, transcript.ExchangesFor(p.cfg.ContextTurns))
		return err
	}); err != nil {
		if errors.Is(err, transcript.ErrInvalid) {
			// Its client, if it was told "enqueued", hears that it will not be answered,
			// if a failure can be stored (its row holds the sentence already).
			if _, _, ferr := p.cfg.Transcript.Finish(ctx, job.ConversationID, job.ID, storable(log, job.Sentence), transcript.Failed, FailedText); ferr != nil {
				log.Warn("cannot store the failure of a job the transcript refused", "error", ferr)
			}
		}
		return p.gone(log, err)
	}
	if prep.Refused {
		p.cfg.Metrics.jobs.WithLabelValues("refused").Inc()
		log.Info("job skipped: the front door could not confirm it and told the client so")
		return nil
	}
	if prep.Outcome != nil {
		// Its outcome's watchers may never have been woken: the worker that stored it may have
		// died between the outcome's commit and the wake-up (pgtranscript's are two
		// transactions). Finish again appends nothing and wakes them.
		if err := p.retry(ctx, log, "wake the watchers of the stored outcome", func() error {
			_, _, e := p.cfg.Transcript.Finish(ctx, job.ConversationID, job.ID, job.Sentence, prep.Outcome.Kind, prep.Outcome.Text)
			return e
		}); err != nil && !errors.Is(err, transcript.ErrNotFound) { // expired: nobody to wake
			log.Warn("cannot wake the watchers of the job's stored outcome: they see it at their next event or resume", "error", err)
		}
		if prep.Outcome.Kind == transcript.Failed && failedAsLost(prep.Outcome.Text) {
			// Only slow after all: its client was told to send it again, which stands. The
			// sweep counted it (outcome "lost"); counted again here, one job would be two.
			log.Warn("job reached a worker after it was failed as lost; not answering it", "serial", prep.Outcome.Serial)
			return nil
		}
		p.cfg.Metrics.jobs.WithLabelValues("already_answered").Inc()
		log.Info("job already answered; not asking the model again", "serial", prep.Outcome.Serial)
		if prep.Outcome.Kind == transcript.Failed {
			// Its worker stored the failure and may have died before copying the job to the
			// dead-letter topic: copied again, it is there at least once.
			return errFailedBefore
		}
		return nil
	}

	req := llm.Request{
		JobID: job.ID.String(), ConversationID: job.ConversationID.String(), Sentence: job.Sentence,
		History: history(prep.Exchanges), EnqueuedAt: job.EnqueuedAt,
	}
	start := time.Now()
	var res llm.Response
	var err error
	// A job still waiting for the rate limit, the breaker or a retry when its partition stops
	// is left to the partition's next owner, as one that has not reached a worker is.
	modelCtx := llm.WithStop(ctx, consumer.Stopping(ctx))
	if free := p.cfg.Free; free != nil && job.Tier == string(access.Free) {
		res, err = free(modelCtx, req)
		if errors.Is(err, llm.ErrStopped) {
			return err
		}
		p.cfg.Metrics.tiers.WithLabelValues(string(access.Free)).Inc()
	} else {
		// A worker may come free only after the partition stopped: then the job is not begun.
		select {
		case p.slots <- struct{}{}:
		case <-consumer.Stopping(ctx):
			return errNotBegun
		}
		if stopped(ctx) {
			<-p.slots
			return errNotBegun
		}
		p.cfg.Metrics.busy.Inc()
		res, err = p.cfg.Model(modelCtx, req)
		p.cfg.Metrics.busy.Dec()
		<-p.slots
		if errors.Is(err, llm.ErrStopped) {
			return err
		}
		p.cfg.Metrics.tiers.WithLabelValues(string(access.Premium)).Inc()
		p.cfg.Metrics.duration.Observe(time.Since(start).Seconds())
		if p.cfg.Usage != nil && (err == nil || res.PromptTokens+res.CompletionTokens > 0) {
			// Also for an answer declined (llm.ErrDeclined), which the API billed.
			// Before the outcome: a worker that dies in between leaves the job to be redone,
			// and the redo counts nothing twice. The count's commit does not wait for the
			// disk; the outcome's, in the same database, does, and takes the count with it.
			// A count that cannot be written is logged, and does not cost the client its
			// answer.
			if rerr := p.retry(ctx, log, "count the model tokens", func() error {
				_, e := p.cfg.Usage.RecordModelCall(ctx, job.ID, job.ClientID, res.PromptTokens, res.CompletionTokens)
				return e
			}); rerr != nil {
				log.Warn("model tokens not counted", "error", rerr, "prompt_tokens", res.PromptTokens, "completion_tokens", res.CompletionTokens)
			}
		}
	}

	kind, text, outcome := transcript.Reply, storable(log, res.Text), "answered"
	if err != nil {
		kind, text, outcome = transcript.Failed, FailedText, "failed"
		var ue UserError
		switch {
		case errors.As(err, &ue):
			text = ue.UserMessage()
		case llm.RefusesTheRequest(err):
			text = RefusedText
		}
		if llm.Misconfigured(err) {
			// Every job fails so until an operator mends it: not the client's doing.
			log.Error("job failed: the model API refuses this process's settings (OPENAI_BASE_URL, OPENAI_API_KEY or OPENAI_MODEL)", "error", err)
		} else {
			log.Warn("job failed", "error", err)
		}
	}
	var ev transcript.Event
	var recorded bool
	store := func() error {
		failedBefore := false // an attempt failed, perhaps after its outcome was stored
		return p.retry(ctx, log, "store the outcome", func() (e error) {
			ev, recorded, e = p.cfg.Transcript.Finish(ctx, job.ConversationID, job.ID, job.Sentence, kind, text)
			if e == nil && !recorded && failedBefore && ev.Kind == kind && ev.Text == text {
				// Stored by the attempt that failed after (its wake-up, in pgtranscript a
				// transaction of its own): this worker's outcome, not another's.
				recorded = true
			}
			failedBefore = failedBefore || e != nil
			return e
		})
	}
	serr := store()
	if errors.Is(serr, transcript.ErrInvalid) && kind == transcript.Reply {
		// Something in the answer that storable does not mend: the client hears that it
		// could not be answered, rather than nothing.
		log.Error("the model's answer cannot be stored; storing a failure instead", "error", serr)
		kind, text, outcome, err = transcript.Failed, FailedText, "failed", serr
		serr = store()
	}
	if serr != nil {
		return p.gone(log, serr)
	}
	if !recorded {
		// Another worker stored one first (the job redone after a rebalance): the job has
		// exactly one, that one, and this outcome is dropped. (Or the sweep failed it as
		// lost, which its cutoff keeps from a job still in a worker's hands, and counted it.)
		if ev.Kind != transcript.Failed || !failedAsLost(ev.Text) {
			p.cfg.Metrics.jobs.WithLabelValues("already_answered").Inc()
		}
		log.Info("job answered already; this outcome was dropped", "serial", ev.Serial, "took", time.Since(start))
		return err
	}
	p.cfg.Metrics.jobs.WithLabelValues(outcome).Inc()
	msg := "job answered"
	if kind == transcript.Failed {
		msg = "job answered with its error" // the client's error reply, logged above as failed
	}
	log.Info(msg, "serial", ev.Serial, "error", kind == transcript.Failed, "took", time.Since(start))
	return err
}

// storable is a model's answer as the transcript can hold it. The NUL characters a model may
// answer with (JSON allows "\u0000") become U+FFFD: no Postgres text holds one, so the outcome
// could never be stored, and the job, retried for ever, would hold its conversation and its
// partition. An answer longer than transcript.MaxAnswerBytes is cut, and says so.
func storable(log *slog.Logger, answer string) string {
	text, cut := transcript.Fit(strings.ReplaceAll(answer, "\x00", "\uFFFD"))
	if cut {
		log.Warn("the model's answer was cut: it was too long", "bytes", len(answer), "kept", len(text))
	}
	return text
}

// errFailedBefore is the dead-letter reason of a job redone after its worker stored its failure.
var errFailedBefore = errors.New("the job had failed before this worker took it over (its error reply is stored; " +
	"the earlier worker's log and dead-letter copy, if it made one, say why)")

// history turns the answered exchanges into the model's earlier turns, oldest first.
func history(exchanges []transcript.Exchange) []llm.Turn {
	turns := make([]llm.Turn, 0, 2*len(exchanges))
	for _, e := range exchanges {
		turns = append(turns, llm.Turn{Role: llm.RoleUser, Content: e.Sentence}, llm.Turn{Role: llm.RoleAssistant, Content: e.Answer})
	}
	return turns
}

// gone ends a job that retry gave up on. A job of an expired conversation has nobody left to
// answer, and a refused one's client was told it would not be: it is done, without an
// outcome, so that it does not hold back its partition. At shutdown the job is left for the
// partition's next owner (its done comes too late to be committed).
func (p *Pool) gone(log *slog.Logger, err error) error {
	switch {
	case errors.Is(err, transcript.ErrNotFound):
		p.cfg.Metrics.jobs.WithLabelValues("expired").Inc()
		log.Warn("job dropped: its conversation has expired")
	case errors.Is(err, transcript.ErrRefused):
		p.cfg.Metrics.jobs.WithLabelValues("refused").Inc()
		log.Warn("job dropped: the front door refused it")
	case errors.Is(err, transcript.ErrInvalid):
		// Tried again it would fail again, holding its conversation and its partition for
		// ever: it is copied to the dead-letter topic, with the reason, and done.
		p.cfg.Metrics.jobs.WithLabelValues("unstorable").Inc()
		log.Error("job dead-lettered: the transcript store refused it", "error", err)
		return err
	}
	return nil
}

// retry runs op until it succeeds. It gives up, returning the reason, when ctx is done, the
// conversation turns out to have expired (transcript.ErrNotFound), the job to have been
// refused (transcript.ErrRefused) or the store refuses one of its values
// (transcript.ErrInvalid); any other failure (the transcript store unreachable) delays the
// job, it does not end it.
func (p *Pool) retry(ctx context.Context, log *slog.Logger, what string, op func() error) error {
	wait := backoff.NewExponentialBackOff()
	wait.MaxInterval = 5 * time.Second
	for {
		err := op()
		if err == nil || errors.Is(err, transcript.ErrNotFound) || errors.Is(err, transcript.ErrRefused) || errors.Is(err, transcript.ErrInvalid) {
			return err
		}
		next := wait.NextBackOff()
		log.Warn("cannot "+what+"; retrying", "error", err, "retry_in", next)
		if sleep.For(ctx, next) != nil {
			return ctx.Err()
		}
	}
}
