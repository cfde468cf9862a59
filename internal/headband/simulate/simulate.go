package simulate

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/beacon/eventdispatch/internal/headband"
	"github.com/beacon/eventdispatch/internal/sleep"
)

// Writer inserts one signal row on its own: one statement in its own transaction.
type Writer interface {
	// Insert writes s. It reports false, without error, when a row with s's ID exists.
	Insert(ctx context.Context, s headband.Signal) (inserted bool, err error)
}

// Source yields the recordings to play; *headband.Generator is one.
type Source interface {
	Next() headband.Recording
}

// Config says how recordings are scheduled and how failures and shutdown are handled. The
// zero value is not useful: Interval (unless Fast), MaxInFlight, RetryFor and Grace must be
// positive.
type Config struct {
	// Interval is the time between recording starts. Ignored when Fast.
	Interval time.Duration
	// Fast starts recordings back-to-back and skips every pause.
	Fast bool
	// Recordings is how many recordings to start before Run returns; 0 means until the
	// context is done.
	Recordings int
	// MaxInFlight bounds the recordings being played at once.
	MaxInFlight int
	// RetryFor bounds the time spent retrying one insert before the signal is skipped.
	RetryFor time.Duration
	// AttemptTimeout bounds one insert attempt; zero means 10 s.
	AttemptTimeout time.Duration
	// Grace is how long inserts executing at shutdown may take to finish.
	Grace time.Duration
}

// Simulator plays recordings from a Source against a Writer.
type Simulator struct {
	cfg Config
	src Source
	w   Writer
	log *slog.Logger
	m   *Metrics
	// givenUp counts the signals whose inserts failed for good (SkipError), for Run's error.
	givenUp atomic.Int64
}

// New returns a Simulator; cfg must be valid (see Config).
func New(cfg Config, src Source, w Writer, log *slog.Logger, m *Metrics) *Simulator {
	if cfg.AttemptTimeout <= 0 {
		cfg.AttemptTimeout = 10 * time.Second
	}
	return &Simulator{cfg: cfg, src: src, w: w, log: log, m: m}
}

// ErrGaveUp is Run's error when it gave up inserting signals: a run whose rows did not all
// land, which its exit status should say.
var ErrGaveUp = errors.New("gave up inserting signals")

// Run starts recordings until ctx is done or cfg.Recordings have started, then waits for
// the recordings in flight (see the package doc for shutdown) and returns. When it returns
// having started cfg.Recordings (ctx not done), its error wraps ErrGaveUp if the inserts of
// some signals failed past RetryFor, or for good; a run stopped through ctx has no error (a
// stop is not the run's failure, and each signal given up was logged).
func (s *Simulator) Run(ctx context.Context) error {
	// hard outlives ctx by the grace period: inserts already executing run on it.
	hard, abandon := context.WithCancel(context.WithoutCancel(ctx))
	defer abandon()
	finished := make(chan struct{})
	var watch sync.WaitGroup
	watch.Go(func() { s.abandonAfterGrace(ctx, finished, abandon) })
	defer watch.Wait()
	defer close(finished)

	var recs errgroup.Group
	s.start(ctx, hard, &recs)
	_ = recs.Wait() // players log their failures and never return one
	if ctx.Err() != nil {
		s.log.Info("recordings stopped", "reason", context.Cause(ctx))
		return nil
	}
	s.log.Info("all recordings done", "recordings", s.cfg.Recordings)
	if n := s.givenUp.Load(); n > 0 {
		return fmt.Errorf("%w: %d of them (each logged as \"gave up inserting signal\")", ErrGaveUp, n)
	}
	return nil
}

// start launches recordings on recs until it should stop.
func (s *Simulator) start(ctx, hard context.Context, recs *errgroup.Group) {
	var tick <-chan time.Time
	if !s.cfg.Fast {
		t := time.NewTicker(s.cfg.Interval)
		defer t.Stop()
		tick = t.C
	}
	slots := make(chan struct{}, s.cfg.MaxInFlight)
	for n := 0; s.cfg.Recordings == 0 || n < s.cfg.Recordings; n++ {
		if n > 0 && tick != nil {
			select {
			case <-ctx.Done():
				return
			case <-tick:
			}
		}
		select {
		case <-ctx.Done():
			return
		case slots <- struct{}{}:
		}
		if ctx.Err() != nil { // both cases may have been ready
			return
		}
		rec := s.src.Next()
		recs.Go(func() error {
			defer func() { <-slots }()
			s.play(ctx, hard, rec)
			return nil
		})
	}
}

// abandonAfterGrace cancels the inserts in flight once ctx has been done for the grace
// period, unless Run finishes first.
func (s *Simulator) abandonAfterGrace(ctx context.Context, finished <-chan struct{}, abandon func()) {
	select {
	case <-finished:
		return
	case <-ctx.Done():
	}
	t := time.NewTimer(s.cfg.Grace)
	defer t.Stop()
	select {
	case <-finished:
	case <-t.C:
		s.log.Warn("grace period over; cancelling inserts in flight", "grace", s.cfg.Grace)
		abandon()
	}
}

// play inserts one recording's signals in order, each after its pause.
func (s *Simulator) play(stop, hard context.Context, rec headband.Recording) {
	s.m.recordingsStarted.Inc()
	s.m.recordingsInFlight.Inc()
	defer s.m.recordingsInFlight.Dec()
	log := s.log.With("recording", rec.ID)
	log.Info("recording started", "index", rec.Index, "signals", len(rec.Inserts), "dropped", rec.Dropped)
	for _, sensor := range rec.Dropped {
		s.m.dropped.WithLabelValues(sensor).Inc()
		log.Debug("dropped signal", "sensor_type", sensor)
	}
	for i, in := range rec.Inserts {
		if (!s.cfg.Fast && sleep.For(stop, in.Pause) != nil) || stop.Err() != nil {
			for _, rest := range rec.Inserts[i:] {
				s.m.skipped.WithLabelValues(rest.Signal.SensorType, SkipShutdown).Inc()
			}
			log.Info("recording cut short by shutdown", "not_inserted", len(rec.Inserts)-i)
			return
		}
		s.insert(stop, hard, log, in.Signal)
	}
	log.Debug("recording finished")
}
