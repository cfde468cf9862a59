package kafkabus

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"sync"
	"unicode/utf8"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/segmentio/kafka-go"
)

// Headers set on a dead-lettered copy, beside the original key, value and headers.
const (
	HeaderError     = "dlq.error"
	HeaderTopic     = "dlq.original.topic"
	HeaderPartition = "dlq.original.partition"
	HeaderOffset    = "dlq.original.offset"
	// HeaderDropped is set, to the value's size in bytes, on a copy that goes without the
	// original's value and headers, which are larger than the dead-letter topic takes;
	// HeaderKeyDropped, to the key's size, when the key was too (larger than 4 KiB).
	HeaderDropped    = "dlq.value.dropped"
	HeaderKeyDropped = "dlq.key.dropped"
)

// DeadLetterTopic names the dead-letter topic of topic.
func DeadLetterTopic(topic string) string { return topic + ".dlq" }

// MessageWriter durably writes messages; a *kafka.Writer from Bus.Writer is one.
type MessageWriter interface {
	WriteMessages(ctx context.Context, msgs ...kafka.Message) error
}

// DeadLetters keeps copies of messages that cannot be handled: undecodable ones, and those
// whose handling failed for good. Each copy carries the original key, value and headers, plus
// the reason and where the original was (the Header* names). A DeadLetters serves one source
// topic and is safe for concurrent use.
type DeadLetters struct {
	w      MessageWriter
	copied prometheus.Counter
	log    *slog.Logger
}

// NewDeadLetters returns DeadLetters writing through w and counting each durable copy in
// copied.
func NewDeadLetters(w MessageWriter, copied prometheus.Counter, log *slog.Logger) *DeadLetters {
	return &DeadLetters{w: w, copied: copied, log: log}
}

// poison is a message and why it cannot be handled.
type poison struct {
	msg   kafka.Message
	cause error
}

// Copy durably writes the copy of msg with cause as its reason.
func (d *DeadLetters) Copy(ctx context.Context, msg kafka.Message, cause error) error {
	return d.copyAll(ctx, []poison{{msg, cause}})
}

func (d *DeadLetters) copyAll(ctx context.Context, msgs []poison) error {
	copies := make([]kafka.Message, len(msgs))
	for i, p := range msgs {
		copies[i] = copyOf(p.msg, p.cause)
	}
	if err := d.w.WriteMessages(ctx, copies...); err != nil {
		if !tooLarge(err) {
			return fmt.Errorf("copy %d messages to the dead-letter topic: %w", len(copies), err)
		}
		// A copy is larger than the topic (or the writer) takes: tried again it would fail
		// again, and its partition would stop for ever. Each copy goes alone, and one too
		// large goes without the original's value and headers, which the original's topic
		// keeps for as long as its retention does. (The copies written before are written
		// again: at least once.)
		for i, p := range msgs {
			err := d.w.WriteMessages(ctx, copies[i])
			if tooLarge(err) {
				copies[i] = withoutValue(p.msg, p.cause)
				err = d.w.WriteMessages(ctx, copies[i])
			}
			if err != nil {
				return fmt.Errorf("copy a message to the dead-letter topic: %w", err)
			}
		}
	}
	d.copied.Add(float64(len(copies)))
	for _, p := range msgs {
		attrs := append([]any{"topic", p.msg.Topic, "partition", p.msg.Partition, "offset", p.msg.Offset, "key", logKey(p.msg.Key)}, reasonAttrs(p.cause)...)
		d.log.Error("message copied to the dead-letter topic", append(attrs, "error", p.cause)...)
	}
	return nil
}

// LogAttrs is implemented by the reasons of messages that say more of what failed than their
// text: the attributes (key, value pairs, as slog takes them) go on the copy's log line, so
// that a search by them finds it (a job's id, which its key, the conversation's, does not give).
type LogAttrs interface {
	error
	LogAttrs() []any
}

// reasonAttrs is what cause says of itself through LogAttrs, if anything.
func reasonAttrs(cause error) []any {
	if la, ok := errors.AsType[LogAttrs](cause); ok {
		return la.LogAttrs()
	}
	return nil
}

// logKey is a message's key as the log shows it (which quotes what needs it): at most 512
// bytes of it (a job's is its conversation's id, a signal's its recording's, after the key's
// schema), so that the copy's line can be found beside the lines that name the same
// conversation or recording.
func logKey(key []byte) string {
	const most = 512
	if len(key) > most {
		cut := most
		for cut > 0 && !utf8.RuneStart(key[cut]) { // not inside a character
			cut--
		}
		return fmt.Sprintf("%s… (%d bytes)", key[:cut], len(key))
	}
	return string(key)
}

func copyOf(m kafka.Message, cause error) kafka.Message {
	headers := make([]kafka.Header, 0, len(m.Headers)+4)
	headers = append(headers, m.Headers...)
	headers = append(headers, origin(m, cause)...)
	return kafka.Message{Key: m.Key, Value: m.Value, Headers: headers}
}

// maxReason bounds the reason a copy gives: a decoding error may quote the whole value.
const maxReason = 4 << 10

// origin is the headers that say why m was copied and where it was.
func origin(m kafka.Message, cause error) []kafka.Header {
	reason := cause.Error()
	if len(reason) > maxReason {
		reason = strings.ToValidUTF8(reason[:maxReason], "") + "…" // not a character cut in two
	}
	return []kafka.Header{
		{Key: HeaderError, Value: []byte(reason)},
		{Key: HeaderTopic, Value: []byte(m.Topic)},
		{Key: HeaderPartition, Value: []byte(strconv.Itoa(m.Partition))},
		{Key: HeaderOffset, Value: []byte(strconv.FormatInt(m.Offset, 10))},
	}
}

// tooLarge reports whether a write failed because a message was larger than the broker's
// topic, or the writer, takes.
func tooLarge(err error) bool {
	if errors.Is(err, kafka.MessageSizeTooLarge) {
		return true
	}
	if werrs, ok := errors.AsType[kafka.WriteErrors](err); ok {
		return slices.ContainsFunc(werrs, func(err error) bool { return errors.Is(err, kafka.MessageSizeTooLarge) })
	}
	return false
}

// withoutValue is the copy of m without its value and headers, and without its key if that
// is larger than maxReason, saying how large what it left out was.
func withoutValue(m kafka.Message, cause error) kafka.Message {
	c := kafka.Message{Key: m.Key, Headers: append(origin(m, cause), kafka.Header{Key: HeaderDropped, Value: []byte(strconv.Itoa(len(m.Value)))})}
	if len(m.Key) > maxReason {
		c.Key, c.Headers = nil, append(c.Headers, kafka.Header{Key: HeaderKeyDropped, Value: []byte(strconv.Itoa(len(m.Key)))})
	}
	return c
}

// Decoder turns a message into what a handler works on. An error means the message can never
// be handled: it is dead-lettered and skipped.
type Decoder[T any] func(kafka.Message) (T, error)

// BatchFunc handles the decoded messages of one batch of one partition, in offset order, and
// returns nil only when their effects are durable (internal/consumer's Handler contract).
type BatchFunc[T any] func(ctx context.Context, partition int, items []T) error

// Batches wraps handle as a batch handler of raw messages (a consumer.Handler): each message
// is decoded; those that cannot be are copied to the dead-letter topic and the rest go to
// handle. The copies are durable before handle runs, and an error from either makes the
// batch fail, to be retried (whole, or in parts), so nothing is skipped without a copy. A
// retried batch, or a part of it, does not copy its poison messages again (a long database outage would otherwise fill the
// dead-letter topic with copies of one message).
func Batches[T any](d *DeadLetters, decode Decoder[T], handle BatchFunc[T]) *BatchHandler[T] {
	return &BatchHandler[T]{dead: d, decode: decode, handle: handle, copied: map[int]int64{}}
}

// BatchHandler is what Batches returns. It is safe for concurrent use by the partitions of
// one topic.
type BatchHandler[T any] struct {
	dead   *DeadLetters
	decode Decoder[T]
	handle BatchFunc[T]

	mu sync.Mutex
	// copied is, per partition, the highest offset whose copy is durable. Batches of a
	// partition come in offset order, so anything at or below it was copied already.
	copied map[int]int64
}

// HandleBatch decodes msgs, dead-letters the undecodable ones and hands the rest on.
func (h *BatchHandler[T]) HandleBatch(ctx context.Context, partition int, msgs []kafka.Message) error {
	items := make([]T, 0, len(msgs))
	var bad []poison
	h.mu.Lock()
	last, seen := h.copied[partition]
	h.mu.Unlock()
	for _, m := range msgs {
		v, err := h.decode(m)
		if err == nil {
			items = append(items, v)
		} else if !seen || m.Offset > last {
			bad = append(bad, poison{m, err})
		}
	}
	if len(bad) > 0 {
		if err := h.dead.copyAll(ctx, bad); err != nil {
			return err
		}
		h.mu.Lock()
		h.copied[partition] = max(h.copied[partition], bad[len(bad)-1].msg.Offset)
		h.mu.Unlock()
	}
	if len(items) == 0 {
		return nil
	}
	return h.handle(ctx, partition, items)
}

// EachFunc starts the work on one decoded message and returns at once; done is called once
// when the work is over, with nil on success or the reason the message failed for good.
type EachFunc[T any] func(ctx context.Context, item T, done func(error))

// Each wraps process as a processor of raw messages (a consumer.Processor in pipelined mode):
// each message is decoded and handed on; one that cannot be decoded, or whose work ends in an
// error, is copied to the dead-letter topic before it counts as done. A copy that cannot be
// written is logged and the message counts as done anyway: a failed message has already had
// its answer (an error reply, say), and holding its offset would stall the partition.
func Each[T any](d *DeadLetters, decode Decoder[T], process EachFunc[T]) *EachProcessor[T] {
	return &EachProcessor[T]{dead: d, decode: decode, process: process}
}

// EachProcessor is what Each returns.
type EachProcessor[T any] struct {
	dead    *DeadLetters
	decode  Decoder[T]
	process EachFunc[T]
}

// Process decodes msg and hands it on; done is called once the message is finished.
func (p *EachProcessor[T]) Process(ctx context.Context, msg kafka.Message, done func()) {
	v, err := p.decode(msg)
	if err != nil {
		p.copy(ctx, msg, err)
		done()
		return
	}
	p.process(ctx, v, func(err error) {
		if err != nil {
			p.copy(ctx, msg, err)
		}
		done()
	})
}

func (p *EachProcessor[T]) copy(ctx context.Context, msg kafka.Message, cause error) {
	if err := p.dead.Copy(ctx, msg, cause); err != nil {
		// With what the reason names: without a copy, this line is all there is of it.
		attrs := append([]any{"topic", msg.Topic, "partition", msg.Partition, "offset", msg.Offset, "key", logKey(msg.Key)}, reasonAttrs(cause)...)
		p.dead.log.Error("message not copied to the dead-letter topic", append(attrs, "reason", cause, "error", err)...)
	}
}
