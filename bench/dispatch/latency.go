package main

import (
	"time"

	"github.com/google/uuid"

	"github.com/beacon/eventdispatch/bench/internal/benchkit"
)

// latencyPart is one part of the path from commit to processed row, and its distribution.
type latencyPart struct {
	Name string
	Dist benchkit.Distribution
}

// latencyResult is the latency workload's outcome.
type latencyResult struct {
	Recordings int
	Rate       float64 // achieved recordings per second
	Elapsed    time.Duration
	// Unmatched recordings lack the Kafka event of their completing row or a processed row.
	Unmatched int
	Parts     []latencyPart
	// Debezium and Dispatcher are the two parts the targets speak of.
	Debezium, Dispatcher, DispatcherVisible benchkit.Distribution
	// Samples are the parts' latencies, by part name, for the plot.
	Samples map[string][]time.Duration
	// Batches and ApplySeconds are the dispatcher's, over the measured window.
	Batches, Events, ApplySeconds float64
}

// Names of the latency parts, as the report prints them.
const (
	partDebezium          = "Debezium: Kafka record timestamp − source.ts (commit)"
	partDebeziumRead      = "  of which commit → Debezium handled it (envelope ts)"
	partDebeziumProduce   = "  of which Debezium handled it → Kafka record timestamp"
	partDispatcher        = "dispatcher: processed_at − Kafka record timestamp"
	partDispatcherVisible = "dispatcher: row visible to a reader − Kafka record timestamp"
	partFetched           = "  for comparison: a bare reader fetched it − Kafka record timestamp"
	partTotal             = "total: processed_at − commit"
	partTotalVisible      = "total: row visible to a reader − commit"
)

// splitLatency computes the parts for each recording whose completing event and processed row
// were both seen. The completing event is the one of the recording's two rows with the higher
// LSN (both are on one partition, keyed by recording, so it is also the later one there).
func splitLatency(recs []workRecording, events func(uuid.UUID) (tapEvent, bool), rows func(uuid.UUID) (processedRow, bool)) (map[string][]time.Duration, int) {
	parts := map[string][]time.Duration{}
	unmatched := 0
	for _, rec := range recs {
		a, okA := events(rec.Signals[0].ID)
		b, okB := events(rec.Signals[1].ID)
		row, okRow := rows(rec.ID)
		if !okA || !okB || !okRow {
			unmatched++
			continue
		}
		ev := a
		if b.LSN > a.LSN {
			ev = b
		}
		add := func(name string, d time.Duration) { parts[name] = append(parts[name], d) }
		add(partDebezium, ev.Kafka.Sub(ev.Committed))
		add(partDebeziumRead, ev.Emitted.Sub(ev.Committed))
		add(partDebeziumProduce, ev.Kafka.Sub(ev.Emitted))
		add(partDispatcher, row.ProcessedAt.Sub(ev.Kafka))
		add(partDispatcherVisible, row.Visible.Sub(ev.Kafka))
		add(partFetched, ev.Fetched.Sub(ev.Kafka))
		add(partTotal, row.ProcessedAt.Sub(ev.Committed))
		add(partTotalVisible, row.Visible.Sub(ev.Committed))
	}
	return parts, unmatched
}

// latencyParts puts the parts in report order.
func latencyParts(parts map[string][]time.Duration) []latencyPart {
	names := []string{partDebezium, partDebeziumRead, partDebeziumProduce, partDispatcher, partDispatcherVisible, partFetched, partTotal, partTotalVisible}
	out := make([]latencyPart, len(names))
	for i, n := range names {
		out[i] = latencyPart{Name: n, Dist: benchkit.Summarise(parts[n])}
	}
	return out
}
