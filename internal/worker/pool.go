// Package worker answers queued conversation jobs. A Pool runs at most WORKERS model calls at
// once for the whole process, answers the jobs of one conversation one at a time and in queue
// order, different conversations in parallel, and ends every job in exactly one published
// reply: the answer, or an error a person can read. Only then is the job done, and only done
// jobs let the consumer commit past them (internal/consumer's pipelined mode), so a worker
// that dies loses nothing: its unfinished jobs are redone elsewhere, and the front door drops
// the duplicate replies by job id.
//
// The pool works on decoded jobs; kafkabus.Each puts it on the jobs topic, decoding messages
// with Decode and copying undecodable and failed jobs to the dead-letter topic.
package worker

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/cenkalti/backoff/v5"
	"github.com/segmentio/kafka-go"

	"github.com/beacon/eventdispatch/internal/queue"
)

// Model answers one job.
type Model func(ctx context.Context, job queue.Job) (string, error)

// UserError is implemented by model errors that carry a message meant for the client, such
// as "the assistant is unavailable, please try again later".
type UserError interface {
	error
	UserMessage() string
}

// FailedText is the reply to a job the model could not answer, when the error has no message
// of its own for the client.
const FailedText = "the assistant could not answer, please try again later"

// Publisher durably publishes replies.
type Publisher interface {
	Publish(ctx context.Context, r queue.Reply) error
}

// Decode decodes a message of the jobs topic. An error means there is nobody to answer: no
// conversation or reply_to can be read from it.
func Decode(m kafka.Message) (queue.Job, error) { return queue.UnmarshalJob(m.Value) }

// Pool answers jobs.
type Pool struct {
	slots   chan struct{}
	model   Model
	replies Publisher
	metrics *Metrics
	log     *slog.Logger

	mu     sync.Mutex
	queues map[string][]task // per conversation, the jobs waiting behind the one running
	wg     sync.WaitGroup
}

type task struct {
	job  queue.Job
	done func(error)
}

// NewPool returns a pool of workers concurrent model calls.
func NewPool(workers int, model Model, replies Publisher, m *Metrics, log *slog.Logger) *Pool {
	return &Pool{slots: make(chan struct{}, workers), model: model, replies: replies, metrics: m, log: log, queues: map[string][]task{}}
}

// Process takes one job and returns at once; done is called once its reply is published,
// with the model's error when the reply says the job failed.
func (p *Pool) Process(ctx context.Context, job queue.Job, done func(error)) {
	p.mu.Lock()
	waiting, running := p.queues[job.ConversationID]
	p.queues[job.ConversationID] = append(waiting, task{job: job, done: done})
	p.mu.Unlock()
	if !running {
		p.wg.Go(func() { p.runConversation(ctx, job.ConversationID) })
	}
}

// Wait waits for every job handed to the pool to finish.
func (p *Pool) Wait() { p.wg.Wait() }

// runConversation answers a conversation's jobs in order until none is waiting.
func (p *Pool) runConversation(ctx context.Context, conv string) {
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

		t.done(p.answer(ctx, t.job))

		p.mu.Lock()
		p.queues[conv] = p.queues[conv][1:]
		p.mu.Unlock()
	}
}

// answer asks the model, publishes the reply and returns the model's error, if any.
func (p *Pool) answer(ctx context.Context, job queue.Job) error {
	p.slots <- struct{}{}
	p.metrics.busy.Inc()
	start := time.Now()
	text, err := p.model(ctx, job)
	p.metrics.busy.Dec()
	<-p.slots
	p.metrics.duration.Observe(time.Since(start).Seconds())

	reply := queue.Reply{JobID: job.ID, ConversationID: job.ConversationID, ReplyTo: job.ReplyTo, InReplyTo: job.Sentence, Text: text}
	outcome := "answered"
	if err != nil {
		outcome = "failed"
		reply.Error, reply.Text = true, FailedText
		var ue UserError
		if errors.As(err, &ue) {
			reply.Text = ue.UserMessage()
		}
		p.log.Warn("job failed", "job", job.ID, "conversation", job.ConversationID, "error", err)
	}
	p.publish(ctx, reply)
	p.metrics.jobs.WithLabelValues(outcome).Inc()
	p.log.Info("job answered", "job", job.ID, "conversation", job.ConversationID, "error", reply.Error, "took", time.Since(start))
	return err
}

// publish retries until the reply is stored: a job is not done before its reply is.
func (p *Pool) publish(ctx context.Context, r queue.Reply) {
	retry := backoff.NewExponentialBackOff()
	retry.MaxInterval = 5 * time.Second
	for {
		err := p.replies.Publish(ctx, r)
		if err == nil {
			return
		}
		wait := retry.NextBackOff()
		p.log.Warn("cannot publish reply; retrying", "job", r.JobID, "error", err, "retry_in", wait)
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
	}
}
