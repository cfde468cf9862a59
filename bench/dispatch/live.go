package main

import (
	"context"
	"fmt"
	"time"

	"github.com/google/uuid"
	"golang.org/x/sync/errgroup"

	"github.com/beacon/eventdispatch/bench/internal/benchkit"
	"github.com/beacon/eventdispatch/internal/kafkabus"
)

// liveResult is the outcome of the phase on the real topic.
type liveResult struct {
	Latency    latencyResult
	Statements statementsResult
	Interleave interleaveResult
}

// runLive runs the latency workload, counts statements over it and in an idle window, and
// plays the interleaving scenario, all with one dispatcher on the real topic under a fresh
// group that starts at the topic's end.
func (b *bench) runLive(ctx context.Context) (liveResult, error) {
	warmN, measuredN := b.cfg.recordings()
	recs := generateRecordings(b.seed, warmN+measuredN+2*b.cfg.Pairs)
	warm, measured, pairs := recs[:warmN], recs[warmN:warmN+measuredN], recs[warmN+measuredN:]
	watched := make(map[uuid.UUID]bool, len(recs))
	for _, r := range recs {
		watched[r.ID] = true
		b.sourceRecordings = append(b.sourceRecordings, r.ID)
	}

	group := b.runID + "-live"
	// On a fresh stack the topic appears only with the first change Debezium captures; create
	// it as the dispatcher would, so that its end is known and the tap reads every partition.
	if err := kafkabus.New(kafkabus.Config{Brokers: b.cfg.Endpoints.KafkaBrokers, Partitions: backlogPartitions}).
		EnsureTopics(ctx, b.cfg.SignalTopic); err != nil {
		return liveResult{}, err
	}
	ends, err := kafkabus.EndOffsets(ctx, b.kafka.Client, b.cfg.SignalTopic)
	if err != nil {
		return liveResult{}, err
	}
	b.groups = append(b.groups, group)
	if err := kafkabus.CommitOffsets(ctx, b.kafka.Client, group, b.cfg.SignalTopic, ends); err != nil {
		return liveResult{}, err
	}

	services, ctx := errgroup.WithContext(ctx)
	svcCtx, stopServices := context.WithCancel(ctx)
	var res liveResult
	err = func() error {
		defer stopServices() // after the dispatcher has stopped: it still talks through its proxy
		w, err := b.startLive(ctx, svcCtx, services, group, ends, watched)
		if err != nil {
			return err
		}
		defer w.close(ctx)
		if res, err = b.measureLive(ctx, w, warm, measured, pairs); err != nil {
			return err
		}
		return w.dispatcher.Stop()
	}()
	if werr := services.Wait(); werr != nil {
		return res, werr
	}
	return res, err
}

// measureLive warms up, measures the latency workload and its statements, watches an idle
// window, plays the interleaving scenario, and splits the latency.
func (b *bench) measureLive(ctx context.Context, w *liveWorld, warm, measured, pairs []workRecording) (liveResult, error) {
	var res liveResult
	if err := b.warmUp(ctx, w, warm); err != nil {
		return res, err
	}
	before, err := b.snapshot(ctx, w)
	if err != nil {
		return res, err
	}
	b.log.Info("live: measuring", "recordings", len(measured), "rate", b.cfg.Rate, "duration", b.cfg.Duration)
	elapsed, err := insertSteady(ctx, b.writer, measured, b.cfg.Rate, watchAll(w, measured))
	if err != nil {
		return res, fmt.Errorf("measured inserts: %w", err)
	}
	missing, err := w.watch.WaitAll(ctx, ids(measured), time.Minute)
	if err != nil {
		return res, err
	}
	if err := w.poller.WaitPolls(ctx, 2); err != nil { // its last chance to see the last ones
		return res, err
	}
	after, err := b.snapshot(ctx, w)
	if err != nil {
		return res, err
	}
	res.Statements = windowCost(w, before, after, measured, missing)
	if err := b.idleCost(ctx, w, &res.Statements, after); err != nil {
		return res, err
	}
	if res.Statements.Poll, err = b.explainPoll(ctx, w.poller.Watermark()); err != nil {
		return res, err
	}

	if res.Interleave, err = b.runInterleave(ctx, w, pairs); err != nil {
		return res, err
	}

	signals := make([]uuid.UUID, 0, 2*len(measured))
	for _, r := range measured {
		signals = append(signals, r.Signals[0].ID, r.Signals[1].ID)
	}
	if err := w.tap.WaitFor(ctx, signals, 15*time.Second); err != nil {
		b.log.Warn("live: some change events were not seen; their recordings are left out of the latency split", "error", err)
	}
	parts, unmatched := splitLatency(measured, w.tap.Event, w.watch.Seen)
	res.Latency = latencyResult{
		Recordings: len(measured), Elapsed: elapsed, Rate: float64(len(measured)) / elapsed.Seconds(),
		Unmatched: unmatched, Parts: latencyParts(parts), Samples: parts,
		Debezium: benchkit.Summarise(parts[partDebezium]), Dispatcher: benchkit.Summarise(parts[partDispatcher]),
		DispatcherVisible: benchkit.Summarise(parts[partDispatcherVisible]),
		Batches:           benchkit.Delta(before.metrics, after.metrics, mApplyCount),
		Events:            benchkit.Delta(before.metrics, after.metrics, mEvents),
		ApplySeconds:      benchkit.Delta(before.metrics, after.metrics, mApplySum),
	}
	return res, nil
}

// warmUp runs the workload at its rate until warm's recordings are processed (statements
// prepared, connections open, the poller past them) so that none of that is measured.
func (b *bench) warmUp(ctx context.Context, w *liveWorld, warm []workRecording) error {
	b.log.Info("live: warm-up", "recordings", len(warm), "rate", b.cfg.Rate)
	if _, err := insertSteady(ctx, b.writer, warm, b.cfg.Rate, watchAll(w, warm)); err != nil {
		return fmt.Errorf("warm-up inserts: %w", err)
	}
	missing, err := w.watch.WaitAll(ctx, ids(warm), 30*time.Second)
	if err != nil {
		return fmt.Errorf("warm-up: %w", err)
	}
	if missing > 0 {
		return fmt.Errorf("warm-up: %d recordings not processed within 30s; is Debezium streaming?", missing)
	}
	return w.poller.WaitPolls(ctx, 1)
}

// watchAll has the processed-row watch look for each recording once its last row is in.
func watchAll(w *liveWorld, recs []workRecording) committed {
	return func(i int, _ time.Time) { w.watch.Add(recs[i].ID) }
}

func ids(recs []workRecording) []uuid.UUID {
	out := make([]uuid.UUID, len(recs))
	for i, r := range recs {
		out[i] = r.ID
	}
	return out
}
