package access

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"sync"
	"time"

	"connectrpc.com/connect"
	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"golang.org/x/sync/singleflight"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/protobuf/types/known/durationpb"
)

// QuotaConfig holds the default limits: Clients' for clients whose own limit is not set (a
// NULL column), Anonymous's for the caller without a token. A zero field is no limit.
type QuotaConfig struct {
	Clients, Anonymous Limits
	// Now is the clock the allowances fill by; nil is time.Now. Tests set it.
	Now func() time.Time
}

// spentTTL is how long a front door trusts the tokens it read as a client's spending today:
// the daily budget is enforced within that lag (and the jobs already queued still run).
const spentTTL = 2 * time.Second

// Quotas hold each client to its limits. Requests per second (Say, Converse, Introduce) and
// queued sentences per minute are token buckets in this process: each front-door replica
// allows the full limit, so with N replicas a client may reach N times it. Model tokens per
// day (premium clients only) are counted in Postgres by the workers (RecordModelCall) and
// read by every replica, so that limit holds across replicas.
type Quotas struct {
	cfg   QuotaConfig
	store *Store // nil: no tokens-per-day limit (no database)
	usage *Usage // counts refusals; nil counts nothing
	log   *slog.Logger

	mu        sync.Mutex
	requests  map[uuid.UUID]*bucket
	sentences map[uuid.UUID]*bucket
	spent     map[uuid.UUID]spending
	// reading makes the sentences that find a client's spending out of date at the same
	// moment share one read of it.
	reading singleflight.Group
}

// bucket is a token bucket holding at most limit tokens, refilled at limit a period: a
// request or a sentence takes one, and a sentence that was not queued after all gives its
// one back (ReturnSentence). It is read and changed under Quotas.mu.
type bucket struct {
	limit  int     // per second or per minute, as configured
	rate   float64 // tokens a second
	tokens float64
	at     time.Time // when tokens was counted
}

// fill adds what the bucket gained since it was last counted.
func (b *bucket) fill(now time.Time) {
	b.tokens = min(float64(b.limit), b.tokens+now.Sub(b.at).Seconds()*b.rate)
	b.at = now
}

type spending struct {
	tokens int64
	at     time.Time
}

// NewQuotas returns Quotas with cfg's defaults; store may be nil (no daily token limit).
func NewQuotas(cfg QuotaConfig, store *Store, log *slog.Logger) *Quotas {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Quotas{cfg: cfg, store: store, log: log,
		requests: map[uuid.UUID]*bucket{}, sentences: map[uuid.UUID]*bucket{}, spent: map[uuid.UUID]spending{}}
}

// WithUsage counts every refusal in u.
func (q *Quotas) WithUsage(u *Usage) *Quotas {
	q.usage = u
	return q
}

// Limits returns c's limits: its own where set, the defaults elsewhere.
func (q *Quotas) Limits(c Client) Limits {
	l := q.cfg.Clients
	if c.Anonymous() {
		l = q.cfg.Anonymous
	}
	if c.Limits.RequestsPerSecond > 0 {
		l.RequestsPerSecond = c.Limits.RequestsPerSecond
	}
	if c.Limits.SentencesPerMinute > 0 {
		l.SentencesPerMinute = c.Limits.SentencesPerMinute
	}
	if c.Limits.TokensPerDay > 0 {
		l.TokensPerDay = c.Limits.TokensPerDay
	}
	return l
}

// take takes one from c's bucket in buckets, of limit per period, and returns how long to
// wait when it is empty.
func (q *Quotas) take(buckets map[uuid.UUID]*bucket, id uuid.UUID, limit int, period time.Duration) (time.Duration, bool) {
	if limit <= 0 {
		return 0, true
	}
	now := q.cfg.Now()
	q.mu.Lock()
	defer q.mu.Unlock()
	b, ok := buckets[id]
	switch {
	case !ok:
		b = &bucket{limit: limit, rate: float64(limit) / period.Seconds(), tokens: float64(limit), at: now}
		buckets[id] = b
	case b.limit != limit:
		// The client's limit changed: what the bucket holds stays, at most the new limit. The
		// change came at some time since the bucket was last counted, which is not known: that
		// time fills at the faster of the two rates, then the new rate goes on. (At the old
		// rate, a client whose limit was raised after it spent the old one was refused at its
		// next call, told to wait as the new rate counts; a new full bucket at each change let
		// a client whose limit went back and forth send a whole burst again each time.)
		rate := float64(limit) / period.Seconds()
		b.tokens = min(float64(limit), b.tokens+now.Sub(b.at).Seconds()*max(b.rate, rate))
		b.limit, b.rate, b.at = limit, rate, now
	default:
		b.fill(now)
	}
	if b.tokens < 1 {
		return time.Duration((1 - b.tokens) / b.rate * float64(time.Second)), false
	}
	b.tokens--
	return 0, true
}

// ReturnSentence gives back the sentence of c's per-minute allowance that AdmitSentence took,
// for a sentence that was not queued after all: refused because its conversation was full or
// the queue unavailable, or whose conversation could not be opened. The allowance counts
// sentences queued, not tries.
func (q *Quotas) ReturnSentence(c Client) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if b, ok := q.sentences[c.ID]; ok {
		b.fill(q.cfg.Now())
		b.tokens = min(float64(b.limit), b.tokens+1)
	}
}

// AllowRequest takes a request of c's per-second allowance, or returns the ResourceExhausted
// error (with a RetryInfo detail) to answer it with.
func (q *Quotas) AllowRequest(c Client) error {
	limit := q.Limits(c).RequestsPerSecond
	wait, ok := q.take(q.requests, c.ID, limit, time.Second)
	if ok {
		return nil
	}
	q.usage.Refused(c.ID, "requests")
	return exhausted(fmt.Sprintf("quota exceeded: %s a second, in bursts of at most %d; try again in %s", count(limit, "request"), limit, roundUp(wait)), wait)
}

// AdmitSentence takes a queued sentence of c's per-minute allowance and, for a premium client,
// checks its model tokens today. It returns the words to refuse the sentence with, or "".
func (q *Quotas) AdmitSentence(ctx context.Context, c Client) string {
	l := q.Limits(c)
	if c.Tier == Premium && l.TokensPerDay > 0 && q.store != nil {
		spent, err := q.spentToday(ctx, c.ID)
		switch {
		case err != nil:
			// Let it in: a quota that cannot be read is not a reason to refuse service.
			q.log.Warn("cannot read a client's model tokens today; not limiting", "client", c.ID, "error", err)
		case spent >= l.TokensPerDay:
			q.usage.Refused(c.ID, "tokens")
			return fmt.Sprintf("quota exceeded: today's model tokens (%d a day) are spent; they renew at 00:00 UTC, in %s",
				l.TokensPerDay, roundUp(untilMidnightUTC(q.cfg.Now())))
		}
	}
	if wait, ok := q.take(q.sentences, c.ID, l.SentencesPerMinute, time.Minute); !ok {
		q.usage.Refused(c.ID, "sentences")
		return fmt.Sprintf("quota exceeded: %s a minute, in bursts of at most %d; try again in %s", count(l.SentencesPerMinute, "sentence"),
			l.SentencesPerMinute, roundUp(wait))
	}
	return ""
}

// count says n of a thing in English: "1 sentence", "2 sentences".
func count(n int, thing string) string {
	if n == 1 {
		return "1 " + thing
	}
	return fmt.Sprintf("%d %ss", n, thing)
}

func (q *Quotas) spentToday(ctx context.Context, client uuid.UUID) (int64, error) {
	q.mu.Lock()
	s, ok := q.spent[client]
	q.mu.Unlock()
	if ok && q.cfg.Now().Sub(s.at) < spentTTL {
		return s.tokens, nil
	}
	// A client's streams admitting at once when the spending goes out of date read it once,
	// not once each. They share the first one's read, and its error (which lets them in).
	v, err, _ := q.reading.Do(client.String(), func() (any, error) {
		tokens, _, err := q.store.TokensToday(ctx, client)
		if err != nil {
			return int64(0), err
		}
		q.mu.Lock()
		q.spent[client] = spending{tokens: tokens, at: q.cfg.Now()}
		q.mu.Unlock()
		return tokens, nil
	})
	if err != nil {
		return 0, err
	}
	return v.(int64), nil
}

func untilMidnightUTC(now time.Time) time.Duration {
	now = now.UTC()
	return time.Date(now.Year(), now.Month(), now.Day()+1, 0, 0, 0, 0, time.UTC).Sub(now)
}

// roundUp shows a wait in whole seconds (at least one), or minutes past an hour.
func roundUp(d time.Duration) time.Duration {
	if d > time.Hour {
		return d.Round(time.Minute)
	}
	return max(time.Second, (d + time.Second - 1).Truncate(time.Second))
}

// exhausted is ResourceExhausted with a RetryInfo detail saying when to come back: wait to
// the millisecond, rounded up (the message rounds it to seconds, for a person; a program
// that waited as long would wait up to a second more than it needs to).
func exhausted(msg string, wait time.Duration) error {
	err := connect.NewError(connect.CodeResourceExhausted, errors.New(msg))
	delay := max(time.Millisecond, (wait + time.Millisecond - 1).Truncate(time.Millisecond))
	if detail, derr := connect.NewErrorDetail(&errdetails.RetryInfo{RetryDelay: durationpb.New(delay)}); derr == nil {
		err.AddDetail(detail)
	}
	return err
}

// RecordModelCall counts the tokens of a job the model answered for client, once per job
// however often it is recorded (a job redone after a crash). It reports whether this call
// counted them. The calls recorded while one round is in flight go together in the next
// (access.record_model_calls, migration 00017): one statement, one transaction and one update
// of each client's row for the day per round, not per call. A round may wait callsHold for
// company before it runs.
func (s *Store) RecordModelCall(ctx context.Context, job, client uuid.UUID, prompt, completion int) (bool, error) {
	counted, err := s.calls.DoHeld(ctx, modelCall{job: job, client: client, prompt: prompt, completion: completion})
	if err != nil {
		return false, fmt.Errorf("record model call: %w", err)
	}
	return counted, nil
}

// modelCall is one RecordModelCall's job and tokens.
type modelCall struct {
	job, client        uuid.UUID
	prompt, completion int
}

// callsHold is how long a round of model calls may wait, from its first, for more before it
// runs (rounds.Group.Hold). The caller is a worker between its model call and the job's
// outcome: a few milliseconds more are nothing to the answer, and without the wait a worker
// process answering 1,000 sentences a second recorded them in about 500 transactions a second
// (BENCHMARKS.md, "Seventeenth round").
const callsHold = 10 * time.Millisecond

// maxCallsRound is the most model calls one round records; the rest wait for the next.
const maxCallsRound = 256

// callsRoundTimeout bounds one round of model calls. A round serves many callers and outlives
// each one's context.
const callsRoundTimeout = 10 * time.Second

// recordCalls records a round of model calls in one statement and reports, for each, whether
// it counted the job's tokens (a job recorded twice in one round is counted for the first).
func (s *Store) recordCalls(calls []modelCall) ([]bool, error) {
	n := len(calls)
	jobs, clients, prompts, completions := make([]uuid.UUID, n), make([]uuid.UUID, n), make([]int32, n), make([]int32, n)
	for i, c := range calls {
		jobs[i], clients[i] = c.job, c.client
		prompts[i], completions[i] = int32(min(c.prompt, math.MaxInt32)), int32(min(c.completion, math.MaxInt32))
	}
	ctx, cancel := context.WithTimeout(context.Background(), callsRoundTimeout)
	defer cancel()
	rows, _ := s.pool.Query(ctx, `SELECT counted FROM access.record_model_calls($1, $2, $3, $4)`, jobs, clients, prompts, completions)
	counted, err := pgx.CollectRows(rows, pgx.RowTo[uuid.UUID])
	if err != nil {
		return nil, fmt.Errorf("a round of %d model calls: %w", n, err)
	}
	fresh := make(map[uuid.UUID]bool, len(counted))
	for _, job := range counted {
		fresh[job] = true
	}
	out := make([]bool, n)
	for i, c := range calls {
		out[i] = fresh[c.job]
		delete(fresh, c.job) // a job given twice was counted once
	}
	return out, nil
}

// TokensToday returns the model tokens client has spent today (UTC) and in how many calls.
func (s *Store) TokensToday(ctx context.Context, client uuid.UUID) (tokens, calls int64, err error) {
	err = s.pool.QueryRow(ctx, `SELECT coalesce(sum(tokens), 0), coalesce(sum(calls), 0) FROM access.daily_tokens
		WHERE client = $1 AND day = (now() AT TIME ZONE 'UTC')::date`, client).Scan(&tokens, &calls)
	if err != nil {
		return 0, 0, fmt.Errorf("read model tokens today: %w", err)
	}
	return tokens, calls, nil
}

// ForgetModelCalls deletes at most batch of the per-job rows of access.model_call recorded more
// than olderThan ago, and returns how many it deleted. Those rows exist only so that a job
// redone after a crash is counted once; the day's totals (access.daily_tokens) keep what the
// client spent. The dispatchers call it with CONVERSATION_TTL. A job is redone when its
// partition's next owner reaches it, seconds or minutes after a worker died between the count
// and the outcome, and not at all once its conversation has expired; only a job left
// unanswered longer than the TTL while its conversation stayed active could be counted twice.
// Rows that another transaction holds are skipped, so that concurrent callers share the work.
func (s *Store) ForgetModelCalls(ctx context.Context, olderThan time.Duration, batch int) (int, error) {
	if batch <= 0 {
		return 0, nil
	}
	// The victims are chosen and locked once, in a materialized CTE, as the transcript's
	// Expire does (internal/transcript/pgtranscript), through model_call_at_idx.
	tag, err := s.pool.Exec(ctx, `
		WITH old AS MATERIALIZED (
		    SELECT job FROM access.model_call WHERE at < now() - $1::interval
		    ORDER BY at LIMIT $2 FOR UPDATE SKIP LOCKED)
		DELETE FROM access.model_call WHERE job = ANY (ARRAY (SELECT job FROM old))`, olderThan, batch)
	if err != nil {
		return 0, fmt.Errorf("forget model calls: %w", err)
	}
	return int(tag.RowsAffected()), nil
}
