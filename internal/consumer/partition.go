package consumer

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/beacon/eventdispatch/internal/sleep"
)

// consumePartition reads one partition from its committed offset, handing batches to the
// handler and committing after each. It returns when the generation ends (rebalance) or ctx
// is done (shutdown); a batch in hand is finished first.
func (g *Group) consumePartition(ctx, genCtx context.Context, gen *kafka.Generation, a kafka.PartitionAssignment, pos *position, log *slog.Logger) {
	// stop ends reading on either shutdown or the end of the generation.
	stop, cancel := context.WithCancel(genCtx)
	defer cancel()
	go func() {
		select {
		case <-ctx.Done():
			cancel()
		case <-stop.Done():
		}
	}()

	queue := 0 // kafka-go's default, 100
	if g.processor == nil {
		// The reader's own queue counts messages, not bytes. A batch group gathers ahead
		// itself (bounded by BatchBytes), so a short queue is enough, and it keeps large
		// messages (eeg rows of hundreds of kilobytes) from piling up here.
		queue = batchReaderQueue
	}
	r := kafka.NewReader(kafka.ReaderConfig{
		Brokers:       g.cfg.Brokers,
		Dialer:        ReaderDialer,
		Topic:         g.cfg.Topic,
		Partition:     a.ID,
		MinBytes:      1,
		MaxBytes:      16 << 20,
		MaxWait:       250 * time.Millisecond,
		QueueCapacity: queue,
	})
	defer r.Close()
	if err := r.SetOffset(a.Offset); err != nil {
		log.Error("cannot seek partition", "offset", a.Offset, "error", err)
		return
	}
	from := any(a.Offset)
	if a.Offset == kafka.FirstOffset { // nothing committed yet: kafka-go's -2
		from = "first"
	}
	log.Info("consuming partition", "from_offset", from)
	if g.processor != nil {
		g.pipelinePartition(ctx, stop, gen, a.ID, r, pos, log)
		return
	}
	// The next batch is gathered while one is handled, so reading the partition overlaps the
	// work. Two batches at most are in hand, each in a slice of its own that is reused, and
	// cleared once its batch is handled so that its messages are not kept alive. A batch
	// gathered and not handled when the partition stops is not committed: its next owner
	// reads it again.
	fetching, stopFetching := context.WithCancel(stop)
	batches := make(chan []kafka.Message)
	fetched := make(chan struct{})
	go func() {
		defer close(fetched)
		defer close(batches)
		bufs := [2][]kafka.Message{make([]kafka.Message, 0, g.cfg.BatchSize), make([]kafka.Message, 0, g.cfg.BatchSize)}
		for i := 0; ; i = 1 - i {
			batch, err := g.fetchBatch(fetching, r, bufs[i][:0])
			if err != nil {
				return // shutdown or rebalance
			}
			select {
			case batches <- batch:
			case <-fetching.Done():
				return
			}
		}
	}()
	defer func() {
		stopFetching()
		<-fetched
	}()
	for batch := range batches {
		// A batch whose attempt runs out of HandleTimeout is handled in halves, each committed
		// once handled, down to one message: retried as it was, a batch too large to handle
		// within the timeout (a recording of thousands of signals, say) would stop its
		// partition for good. A part handled in under a quarter of the timeout doubles the
		// next, so that a timeout that was not the batch's size (a database that hung for a
		// while) leaves no run of one-message transactions behind it.
		for rest, n := batch, len(batch); len(rest) > 0; {
			part := rest[:min(n, len(rest))]
			began := time.Now()
			err := g.handle(stop, a.ID, part, log)
			if errors.Is(err, errTooSlow) {
				n = len(part) / 2
				log.Warn("batch ran out of its timeout; handling it in smaller parts", "messages", len(part),
					"first_offset", part[0].Offset, "timeout", g.cfg.HandleTimeout, "part", n)
				continue
			}
			if err != nil {
				log.Warn("batch abandoned uncommitted; "+g.fate(ctx, "it will be redelivered"), "first_offset", part[0].Offset, "error", err)
				return
			}
			next := part[len(part)-1].Offset + 1
			if g.commit(gen, a.ID, next, log) {
				pos.next.Store(next) // the lag counts from here, not from what is gathered ahead
			}
			rest = rest[len(part):]
			if time.Since(began) < g.cfg.HandleTimeout/4 {
				n = min(2*n, len(batch))
			}
			if stop.Err() != nil {
				return
			}
		}
		clear(batch)
	}
}

// errTooSlow is a batch of more than one message whose attempt ran out of HandleTimeout: it is
// handled again in halves.
var errTooSlow = errors.New("the batch ran out of its timeout")

// batchReaderQueue is the most messages a batch group's kafka-go reader holds for a partition
// before they are taken.
const batchReaderQueue = 16

// fetchBatch blocks for one message, then gathers what else arrives within Linger, up to
// BatchSize messages and BatchBytes, appending them to batch.
func (g *Group) fetchBatch(stop context.Context, r *kafka.Reader, batch []kafka.Message) ([]kafka.Message, error) {
	first, err := r.FetchMessage(stop)
	if err != nil {
		return nil, err
	}
	batch = append(batch, first)
	size := len(first.Key) + len(first.Value)
	linger, cancel := context.WithTimeout(stop, g.cfg.Linger)
	defer cancel()
	for len(batch) < g.cfg.BatchSize && size < g.cfg.BatchBytes {
		m, err := r.FetchMessage(linger)
		if err != nil {
			break
		}
		batch = append(batch, m)
		size += len(m.Key) + len(m.Value)
	}
	return batch, nil
}

// handle runs the handler until it succeeds. Each attempt may run to HandleTimeout even after
// stop, so a batch in hand at shutdown is finished; between attempts, stop ends the retries.
// An attempt at more than one message that runs out of HandleTimeout is not retried: it
// returns errTooSlow, for the batch to be handled in smaller parts.
func (g *Group) handle(stop context.Context, partition int, batch []kafka.Message, log *slog.Logger) error {
	retry := newBackoff(g.cfg.MaxBackoff)
	for attempt := 1; ; attempt++ {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(stop), g.cfg.HandleTimeout)
		err := g.handler.HandleBatch(ctx, partition, batch)
		timedOut := errors.Is(ctx.Err(), context.DeadlineExceeded)
		cancel()
		if err == nil {
			return nil
		}
		if m := g.cfg.Metrics; m != nil {
			m.retries.WithLabelValues(g.cfg.GroupID).Inc()
		}
		if timedOut && len(batch) > 1 && stop.Err() == nil {
			return errors.Join(errTooSlow, err)
		}
		wait := retry.next()
		log.Warn("batch failed; retrying", "attempt", attempt, "messages", len(batch),
			"first_offset", batch[0].Offset, "error", err, "retry_in", wait)
		if sleep.For(stop, wait) != nil {
			return errors.Join(errStopped, err)
		}
	}
}

// commit records next as the partition's committed offset in this generation. A failure is
// logged and counted but not fatal: the batch is done, and at worst it is redelivered.
func (g *Group) commit(gen *kafka.Generation, partition int, next int64, log *slog.Logger) bool {
	err := gen.CommitOffsets(map[string]map[int]int64{g.cfg.Topic: {partition: next}})
	if err != nil {
		if m := g.cfg.Metrics; m != nil {
			m.commitErrors.WithLabelValues(g.cfg.GroupID).Inc()
		}
		log.Warn("commit offsets failed; the batch may be redelivered", "offset", next, "error", err)
	}
	return err == nil
}
