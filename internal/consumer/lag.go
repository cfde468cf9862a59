package consumer

import (
	"context"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/segmentio/kafka-go"
)

// lagEvery is how often a member reads the ends of the partitions it owns, to report its lag.
const lagEvery = time.Second

// position is the next offset a member has to handle in a partition it owns: the group's
// committed offset as this member last committed it (or found it at the assignment), -1
// until known (a group with no offset committed, which starts at the partition's first).
type position struct{ next atomic.Int64 }

func newPosition(assigned int64) *position {
	p := &position{}
	p.next.Store(max(assigned, -1))
	return p
}

// reportLag sets kafka_consumer_lag for each partition of owned (with Metrics), and which are
// caught up (Partitions), every lagEvery until the generation ends, as the partition's end
// less its position: what has not been committed, whether it is not fetched yet, in hand, or
// stuck in a batch that keeps failing (the ends are asked of the broker, so the lag grows
// while nothing is handled). When the generation ends the partitions' series are removed, so
// that a partition is reported by its owner only. It returns only when the generation ends.
func (g *Group) reportLag(genCtx context.Context, gen int32, owned map[int]*position, log *slog.Logger) {
	m := g.cfg.Metrics
	defer func() {
		if m == nil {
			return
		}
		for p := range owned {
			m.lag.DeleteLabelValues(g.cfg.GroupID, g.cfg.Topic, partitionLabel(p))
		}
	}()
	transport := &kafka.Transport{}
	defer transport.CloseIdleConnections()
	client := &kafka.Client{Addr: kafka.TCP(g.cfg.Brokers...), Transport: transport}
	tick := time.NewTicker(lagEvery)
	defer tick.Stop()
	for {
		ctx, cancel := context.WithTimeout(genCtx, lagEvery)
		g.readLag(ctx, client, gen, owned, log)
		cancel()
		select {
		case <-genCtx.Done():
			return
		case <-tick.C:
		}
	}
}

// readLag asks the broker for the ends of the owned partitions (and the first offsets of those
// whose position is not known yet) and sets their lag. A failed read leaves the last values.
func (g *Group) readLag(ctx context.Context, client *kafka.Client, gen int32, owned map[int]*position, log *slog.Logger) {
	ends, err := g.offsetsOf(ctx, client, owned, kafka.LastOffset)
	if err != nil {
		log.Debug("cannot read the partitions' ends for the lag", "error", err)
		return
	}
	unknown := map[int]*position{}
	for p, pos := range owned {
		if pos.next.Load() < 0 {
			unknown[p] = pos
		}
	}
	if len(unknown) > 0 {
		firsts, err := g.offsetsOf(ctx, client, unknown, kafka.FirstOffset)
		if err != nil {
			log.Debug("cannot read the partitions' first offsets for the lag", "error", err)
		}
		for p, first := range firsts {
			unknown[p].next.CompareAndSwap(-1, first) // unless a commit came meanwhile
		}
	}
	caughtUp := make(map[int]bool, len(owned))
	for p := range owned {
		caughtUp[p] = false
	}
	for p, end := range ends {
		if next := owned[p].next.Load(); next >= 0 {
			caughtUp[p] = next >= end
			if g.cfg.Metrics != nil {
				g.cfg.Metrics.lag.WithLabelValues(g.cfg.GroupID, g.cfg.Topic, partitionLabel(p)).Set(float64(max(end-next, 0)))
			}
		}
	}
	g.seeLag(gen, caughtUp)
}

// offsetsOf returns the first or last offset (at: kafka.FirstOffset or kafka.LastOffset) of
// each of partitions that the broker answered for.
func (g *Group) offsetsOf(ctx context.Context, client *kafka.Client, partitions map[int]*position, at int64) (map[int]int64, error) {
	req := &kafka.ListOffsetsRequest{Topics: map[string][]kafka.OffsetRequest{}}
	for p := range partitions {
		req.Topics[g.cfg.Topic] = append(req.Topics[g.cfg.Topic], kafka.OffsetRequest{Partition: p, Timestamp: at})
	}
	res, err := client.ListOffsets(ctx, req)
	if err != nil {
		return nil, err
	}
	out := map[int]int64{}
	for _, po := range res.Topics[g.cfg.Topic] {
		offset := po.LastOffset
		if at == kafka.FirstOffset {
			offset = po.FirstOffset
		}
		if po.Error == nil && offset >= 0 {
			out[po.Partition] = offset
		}
	}
	return out, nil
}
