package kafkabus_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/segmentio/kafka-go"

	"github.com/beacon/eventdispatch/internal/kafkabus"
	"github.com/beacon/eventdispatch/internal/kafkatest"
)

// sink records what the dead-letter writer was asked to write, failing while err is set.
type sink struct {
	mu   sync.Mutex
	msgs []kafka.Message
	err  error
}

func (s *sink) WriteMessages(_ context.Context, msgs ...kafka.Message) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.err != nil {
		return s.err
	}
	s.msgs = append(s.msgs, msgs...)
	return nil
}

func (s *sink) written() []kafka.Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]kafka.Message(nil), s.msgs...)
}

func newDeadLetters(s *sink) (*kafkabus.DeadLetters, prometheus.Counter) {
	copied := prometheus.NewCounter(prometheus.CounterOpts{Name: "copied_total", Help: "test"})
	return kafkabus.NewDeadLetters(s, copied, slog.New(slog.DiscardHandler)), copied
}

// decodeNumber decodes messages whose value is a number; anything else is poison.
func decodeNumber(m kafka.Message) (int, error) { return strconv.Atoi(string(m.Value)) }

func msg(partition int, offset int64, value string) kafka.Message {
	return kafka.Message{Topic: "in", Partition: partition, Offset: offset, Key: []byte("k" + value), Value: []byte(value),
		Headers: []kafka.Header{{Key: "trace", Value: []byte("t1")}}}
}

func headers(m kafka.Message) map[string]string {
	out := map[string]string{}
	for _, h := range m.Headers {
		out[h.Key] = string(h.Value)
	}
	return out
}

func TestBatches_CopiesUndecodableMessagesWithTheirOriginAndHandsOnTheRest(t *testing.T) {
	s := &sink{}
	dl, copied := newDeadLetters(s)
	var got []int
	h := kafkabus.Batches(dl, decodeNumber, func(_ context.Context, _ int, items []int) error {
		got = append(got, items...)
		return nil
	})
	if err := h.HandleBatch(t.Context(), 2, []kafka.Message{msg(2, 41, "1"), msg(2, 42, "garbage"), msg(2, 43, "3")}); err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0] != 1 || got[1] != 3 {
		t.Fatalf("handled %v, want [1 3] in order", got)
	}
	w := s.written()
	if len(w) != 1 {
		t.Fatalf("copied %d messages, want 1", len(w))
	}
	hd := headers(w[0])
	if hd[kafkabus.HeaderTopic] != "in" || hd[kafkabus.HeaderPartition] != "2" || hd[kafkabus.HeaderOffset] != "42" ||
		hd[kafkabus.HeaderError] == "" || hd["trace"] != "t1" || string(w[0].Key) != "kgarbage" || string(w[0].Value) != "garbage" {
		t.Fatalf("copy: headers %v key %q value %q", hd, w[0].Key, w[0].Value)
	}
	if n := testutil.ToFloat64(copied); n != 1 {
		t.Fatalf("counted %v copies, want 1", n)
	}
}

func TestBatches_FailsWithoutHandlingOrCountingWhenTheCopyFails(t *testing.T) {
	s := &sink{err: errors.New("kafka down")}
	dl, copied := newDeadLetters(s)
	handled := false
	h := kafkabus.Batches(dl, decodeNumber, func(context.Context, int, []int) error { handled = true; return nil })
	if err := h.HandleBatch(t.Context(), 0, []kafka.Message{msg(0, 1, "garbage"), msg(0, 2, "2")}); err == nil {
		t.Fatal("want an error so that the batch is retried")
	}
	if handled || testutil.ToFloat64(copied) != 0 {
		t.Fatalf("handled %v, counted %v: nothing should count before the copy is durable", handled, testutil.ToFloat64(copied))
	}
}

func TestBatches_ARetriedBatchDoesNotCopyItsPoisonAgain(t *testing.T) {
	s := &sink{}
	dl, _ := newDeadLetters(s)
	fail := true
	h := kafkabus.Batches(dl, decodeNumber, func(context.Context, int, []int) error {
		if fail {
			return errors.New("database down")
		}
		return nil
	})
	batch := []kafka.Message{msg(0, 7, "garbage"), msg(0, 8, "8")}
	for range 3 {
		if err := h.HandleBatch(t.Context(), 0, batch); err == nil {
			t.Fatal("want the handler's error")
		}
	}
	fail = false
	if err := h.HandleBatch(t.Context(), 0, batch); err != nil {
		t.Fatal(err)
	}
	// The same offset on another partition is another message.
	if err := h.HandleBatch(t.Context(), 1, []kafka.Message{msg(1, 7, "garbage")}); err != nil {
		t.Fatal(err)
	}
	if n := len(s.written()); n != 2 {
		t.Fatalf("copied %d messages over four attempts and another partition, want 2", n)
	}
}

func TestEach_CopiesUndecodableAndFailedMessagesBeforeTheyCountAsDone(t *testing.T) {
	s := &sink{}
	dl, copied := newDeadLetters(s)
	p := kafkabus.Each(dl, decodeNumber, func(_ context.Context, n int, done func(error)) {
		if n < 0 {
			done(errors.New("the model could not answer"))
			return
		}
		done(nil)
	})
	var done []int64
	for _, m := range []kafka.Message{msg(0, 1, "1"), msg(0, 2, "garbage"), msg(0, 3, "-3")} {
		p.Process(t.Context(), m, func() {
			if len(s.written()) < len(done) {
				t.Errorf("offset %d done before its copy was written", m.Offset)
			}
			done = append(done, m.Offset)
		})
	}
	if len(done) != 3 {
		t.Fatalf("done %v, want all three", done)
	}
	w := s.written()
	if len(w) != 2 || headers(w[0])[kafkabus.HeaderOffset] != "2" || headers(w[1])[kafkabus.HeaderError] != "the model could not answer" {
		t.Fatalf("copies %v", w)
	}
	if n := testutil.ToFloat64(copied); n != 2 {
		t.Fatalf("counted %v copies, want 2", n)
	}
}

func TestEach_AMessageWhoseCopyFailsStillCountsAsDone(t *testing.T) {
	dl, copied := newDeadLetters(&sink{err: errors.New("kafka down")})
	p := kafkabus.Each(dl, decodeNumber, func(_ context.Context, _ int, done func(error)) { done(nil) })
	finished := false
	p.Process(t.Context(), msg(0, 1, "garbage"), func() { finished = true })
	if !finished || testutil.ToFloat64(copied) != 0 {
		t.Fatalf("done %v, counted %v: the partition must not stall on a copy that failed", finished, testutil.ToFloat64(copied))
	}
}

// A poison message larger than the dead-letter topic takes is copied without its value,
// which the copy says, and the batch goes on. Before, the copy failed on every retry, and the
// partition stopped at it for ever.
func TestBatches_APoisonMessageTooLargeToCopyIsCopiedWithoutItsValue(t *testing.T) {
	broker := kafkatest.Start(t, 1, "in", "in.dlq")
	w := kafkabus.New(kafkabus.Config{Brokers: broker.Addrs, Partitions: 1}).Writer("in.dlq")
	defer w.Close()
	copied := prometheus.NewCounter(prometheus.CounterOpts{Name: "copied_total", Help: "test"})
	dead := kafkabus.NewDeadLetters(w, copied, slog.New(slog.DiscardHandler))
	var handled []int
	h := kafkabus.Batches(dead, decodeNumber, func(_ context.Context, _ int, items []int) error {
		handled = append(handled, items...)
		return nil
	})
	big := msg(0, 7, strings.Repeat("x", 2<<20)) // past the writer's 1 MiB and the topic's
	big.Key = []byte("recording-7")
	bigKey := msg(0, 9, strings.Repeat("y", 2<<20)) // its key is as large (msg's key is "k" + the value)
	if err := h.HandleBatch(t.Context(), 0, []kafka.Message{msg(0, 6, "not a number"), big, msg(0, 8, "42"), bigKey}); err != nil {
		t.Fatalf("the batch: %v", err)
	}
	if len(handled) != 1 || handled[0] != 42 {
		t.Fatalf("handled %v, want the good message", handled)
	}
	copies := broker.Read("in.dlq", 3, 10*time.Second)
	var whole, cut, keyless int
	for _, c := range copies {
		hd := headers(c)
		switch {
		case hd[kafkabus.HeaderOffset] == "9" && len(c.Value) == 0 && len(c.Key) == 0 && hd[kafkabus.HeaderKeyDropped] == strconv.Itoa(2<<20+1):
			keyless++
		case hd[kafkabus.HeaderOffset] == "7" && len(c.Value) == 0 && hd[kafkabus.HeaderDropped] == strconv.Itoa(2<<20) &&
			string(c.Key) == string(big.Key) && hd[kafkabus.HeaderError] != "":
			cut++
		case hd[kafkabus.HeaderOffset] == "6" && string(c.Value) == "not a number":
			whole++
		}
	}
	if whole != 1 || cut != 1 || keyless != 1 {
		t.Fatalf("%d copies: %d whole, %d without the value, %d without the key either; want one of each", len(copies), whole, cut, keyless)
	}
}

// A copy's log line names the message's key (a job's conversation, a signal's recording), cut
// when long, so that it can be found beside the lines that name the same: it named only the
// topic, partition and offset.
func TestDeadLetters_LogTheKeyOfEachCopy(t *testing.T) {
	var logged strings.Builder
	dl := kafkabus.NewDeadLetters(&sink{}, prometheus.NewCounter(prometheus.CounterOpts{Name: "c", Help: "test"}),
		slog.New(slog.NewTextHandler(&logged, nil)))
	short := kafka.Message{Topic: "in", Key: []byte("0192a5e4-7c1d-7000-8000-000000000001"), Value: []byte("x")}
	long := kafka.Message{Topic: "in", Key: []byte(strings.Repeat("k", 600)), Value: []byte("x")}
	for _, m := range []kafka.Message{short, long} {
		if err := dl.Copy(t.Context(), m, errors.New("bad")); err != nil {
			t.Fatal(err)
		}
	}
	if !strings.Contains(logged.String(), `key=0192a5e4-7c1d-7000-8000-000000000001 `) ||
		!strings.Contains(logged.String(), `key="`+strings.Repeat("k", 512)+`… (600 bytes)"`) || strings.Contains(logged.String(), strings.Repeat("k", 513)) {
		t.Fatalf("logged %s", logged.String())
	}
}

// reasonWithAttrs is a reason that names more than its text (kafkabus.LogAttrs).
type reasonWithAttrs struct{ error }

func (reasonWithAttrs) LogAttrs() []any { return []any{"job", "01a25339-95ae-7604-b222-fd57b629eed9"} }

// A reason that says what failed (a job's id, which its key, the conversation's, does not give)
// has it on the copy's log line, wrapped or not, so that a search by it finds the line.
func TestDeadLetters_LogWhatTheReasonNames(t *testing.T) {
	var logged strings.Builder
	dl := kafkabus.NewDeadLetters(&sink{}, prometheus.NewCounter(prometheus.CounterOpts{Name: "c", Help: "test"}),
		slog.New(slog.NewTextHandler(&logged, nil)))
	cause := fmt.Errorf("answer: %w", reasonWithAttrs{errors.New("model API answered 400")})
	if err := dl.Copy(t.Context(), kafka.Message{Topic: "in", Key: []byte("c1"), Value: []byte("x")}, cause); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(logged.String(), ` key=c1 job=01a25339-95ae-7604-b222-fd57b629eed9 error="answer: model API answered 400"`) {
		t.Fatalf("logged %s", logged.String())
	}

	// And so does the line of a copy that could not be written, which is all there is of it.
	logged.Reset()
	failing := kafkabus.NewDeadLetters(&sink{err: errors.New("broker down")}, prometheus.NewCounter(prometheus.CounterOpts{Name: "c", Help: "test"}),
		slog.New(slog.NewTextHandler(&logged, nil)))
	each := kafkabus.Each(failing, func(kafka.Message) (string, error) { return "", cause }, func(context.Context, string, func(error)) {})
	each.Process(t.Context(), kafka.Message{Topic: "in", Key: []byte("c1"), Value: []byte("x")}, func() {})
	if !strings.Contains(logged.String(), ` key=c1 job=01a25339-95ae-7604-b222-fd57b629eed9 reason="answer: model API answered 400"`) {
		t.Fatalf("logged %s", logged.String())
	}
}
