package dispatch

import (
	"context"
	"log/slog"
	"math"
	"time"

	"github.com/beacon/eventdispatch/internal/recording"
)

// StateStore is all the signal group needs of its state: the Store it applies batches to, the
// Watcher behind the incomplete-recording report, and a Ping for readiness checks.
// internal/pgstore and internal/memstore are the two; internal/dispatch/storetest is the
// conformance suite they share.
type StateStore interface {
	Store
	Watcher
	Ping(ctx context.Context) error
}

// Watcher is the part of the store the incomplete-recording report needs.
type Watcher interface {
	// Pending counts the recordings not complete yet that have a signal present.
	Pending(ctx context.Context) (int64, error)
	// ReportIncomplete returns those of them whose first signal is older than age, each once
	// across replicas, with what each lacks: of partitions (those the caller owns, each with
	// whether it is caught up, consumer.Group.Partitions), those that have been applied age
	// past the recording's first signal, or that are caught up, then once capture has been
	// seen age past it (captured, CaptureWatch.Newest; zero: not known, and not waited for),
	// as a recording of no known partition. The rest of a recording's signals may be in a
	// backlog the partition's owner has not reached, or, while change capture stands still,
	// not in Kafka yet: a partition applied past a time has had every change committed before
	// it, a partition caught up only what capture has sent. Both compare commit times with
	// commit times (the heartbeat's is the database's), not with another clock.
	ReportIncomplete(ctx context.Context, age time.Duration, captured time.Time, partitions map[int]bool) ([]recording.Incomplete, error)
}

// WatchIncomplete refreshes the pending gauge and logs, once each, recordings still
// incomplete after age, until ctx is done, of the partitions this process owns (partitions:
// those, each with whether it is caught up). A late signal still completes them normally.
//
// captured says how far change capture was last seen to have got (CaptureWatch.Newest; zero
// when it is not known: no heartbeat read, or no capture watch). A partition caught up with
// Kafka is not caught up with the table while capture stands still (a connector paused or
// failed, its changes waiting in the replication slot): a recording judged by its partition
// being caught up is then reported only once capture was seen age past its first signal. One
// whose partition was applied age past it needs no such wait.
func WatchIncomplete(ctx context.Context, w Watcher, age time.Duration, partitions func() map[int]bool, captured func() time.Time, m *Metrics, log *slog.Logger) {
	every := min(max(age/10, time.Second), time.Minute)
	tick := time.NewTicker(every)
	defer tick.Stop()
	for {
		if n, err := w.Pending(ctx); err == nil {
			m.pending.Set(float64(n))
		} else if ctx.Err() == nil {
			m.pending.Set(math.NaN()) // not known now: the last count would grow stale unseen
		}
		incomplete, err := w.ReportIncomplete(ctx, age, captured(), partitions())
		if err != nil && ctx.Err() == nil {
			log.Warn("cannot check for incomplete recordings", "error", err)
		}
		for _, inc := range incomplete {
			m.incomplete.Inc()
			log.Warn("recording still incomplete", "recording", inc.Recording, "missing", inc.Missing,
				"first_signal_at", inc.FirstSeen, "incomplete_after", age)
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}
