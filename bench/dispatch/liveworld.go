package main

import (
	"context"
	"path/filepath"
	"time"

	"github.com/google/uuid"
	"golang.org/x/sync/errgroup"

	"github.com/beacon/eventdispatch/bench/dispatch/poller"
	"github.com/beacon/eventdispatch/bench/internal/benchkit"
	"github.com/beacon/eventdispatch/bench/internal/benchkit/pgcount"
)

// liveWorld is what runs during the live phase: the dispatcher under test, with its database
// traffic counted, and beside it the harness's observers and the baseline poller.
type liveWorld struct {
	dispatcher *benchkit.Process
	dispProxy  *pgcount.Proxy
	pollProxy  *pgcount.Proxy
	poller     *poller.Poller
	tap        *tap
	watch      *processedWatch
}

// startLive starts the proxies, the dispatcher, the tap, the processed-row watch and the poller.
func (b *bench) startLive(ctx, svcCtx context.Context, services *errgroup.Group, group string, ends map[int]int64, watched map[uuid.UUID]bool) (*liveWorld, error) {
	w := &liveWorld{}
	var err error
	if w.dispProxy, err = pgcount.Listen(ctx, b.pgAddr); err != nil {
		return nil, err
	}
	services.Go(func() error { return w.dispProxy.Serve(svcCtx) })
	if w.pollProxy, err = pgcount.Listen(ctx, b.pgAddr); err != nil {
		return nil, err
	}
	services.Go(func() error { return w.pollProxy.Serve(svcCtx) })

	dispURL, err := withParams(b.cfg.Endpoints.DatabaseURL, w.dispProxy.Addr(), "dispatcher")
	if err != nil {
		return nil, err
	}
	b.log.Info("live: starting the dispatcher on the real topic", "group", group, "topic", b.cfg.SignalTopic)
	w.dispatcher, err = startDispatcher(ctx, b.bin, dispatcherEnv{
		DatabaseURL: dispURL, Brokers: b.cfg.Endpoints.KafkaBrokers, Topic: b.cfg.SignalTopic, Group: group,
	}, filepath.Join(b.dir, "dispatcher-live.log"))
	if err != nil {
		return nil, err
	}
	if err := w.dispatcher.WaitReady(ctx, time.Minute); err != nil {
		w.close(ctx)
		return nil, err
	}

	w.tap = newTap(b.cfg.Endpoints.KafkaBrokers, b.cfg.SignalTopic, func(rec uuid.UUID) bool { return watched[rec] })
	services.Go(func() error { return w.tap.Run(svcCtx, ends) })
	w.watch = newProcessedWatch(b.pool, b.cfg.VisiblePoll)
	services.Go(func() error { return w.watch.Run(svcCtx) })

	pollURL, err := withParams(b.cfg.Endpoints.DatabaseURL, w.pollProxy.Addr(), "bench-dispatch-poller")
	if err != nil {
		w.close(ctx)
		return nil, err
	}
	if w.poller, err = poller.Connect(ctx, pollURL, b.cfg.PollInterval); err != nil {
		w.close(ctx)
		return nil, err
	}
	services.Go(func() error { return w.poller.Run(svcCtx) })
	return w, nil
}

// close stops the dispatcher (if still running) and closes the poller's connection.
func (w *liveWorld) close(ctx context.Context) {
	if w.dispatcher != nil {
		_ = w.dispatcher.Stop()
	}
	if w.poller != nil {
		_ = w.poller.Close(ctx)
	}
}

// snapshot is the counters at one moment of the live phase.
type snapshot struct {
	at          time.Time
	disp, poll  pgcount.Counts
	metrics     benchkit.Metrics
	pollerCount int
}

func (b *bench) snapshot(ctx context.Context, w *liveWorld) (snapshot, error) {
	m, err := w.dispatcher.Metrics(ctx)
	if err != nil {
		return snapshot{}, err
	}
	return snapshot{at: time.Now(), disp: w.dispProxy.Counts(), poll: w.pollProxy.Counts(), metrics: m,
		pollerCount: w.poller.ProcessedCount()}, nil
}
