package simulate

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/cenkalti/backoff/v5"

	"github.com/beacon/eventdispatch/internal/headband"
)

// permanent is implemented by errors that retrying cannot fix.
type permanent interface {
	Permanent() bool
}

// IsPermanent reports whether err, or an error it wraps, says it is permanent.
func IsPermanent(err error) bool {
	var p permanent
	return errors.As(err, &p) && p.Permanent()
}

// insert writes sig, retrying transient errors until it succeeds, RetryFor passes or stop is
// done; the attempt running when stop is done may finish on hard. It logs and counts the
// outcome.
func (s *Simulator) insert(stop, hard context.Context, log *slog.Logger, sig headband.Signal) {
	attempt := func() (bool, error) {
		ctx, cancel := context.WithTimeout(hard, s.cfg.AttemptTimeout)
		defer cancel()
		inserted, err := s.w.Insert(ctx, sig)
		if err == nil {
			return inserted, nil
		}
		s.m.insertErrors.Inc()
		if hard.Err() != nil || IsPermanent(err) {
			return false, backoff.Permanent(err)
		}
		return false, err
	}
	inserted, err := backoff.Retry(stop, attempt,
		backoff.WithBackOff(newBackOff()),
		backoff.WithMaxElapsedTime(s.cfg.RetryFor),
		backoff.WithNotify(func(err error, next time.Duration) {
			log.Warn("insert failed; will retry", "signal", sig.ID, "sensor_type", sig.SensorType,
				"error", err, "retry_in", next.Round(time.Millisecond))
		}))

	switch {
	case err == nil && inserted:
		s.m.inserted.WithLabelValues(sig.SensorType).Inc()
		log.Info("inserted signal", "signal", sig.ID, "sensor_type", sig.SensorType, "channels", sig.Channels)
	case err == nil:
		s.m.skipped.WithLabelValues(sig.SensorType, SkipExists).Inc()
		log.Warn("signal already present; not inserted", "signal", sig.ID, "sensor_type", sig.SensorType)
	case stop.Err() != nil:
		s.m.skipped.WithLabelValues(sig.SensorType, SkipShutdown).Inc()
		log.Warn("insert abandoned on shutdown", "signal", sig.ID, "sensor_type", sig.SensorType, "error", err)
	default:
		s.m.skipped.WithLabelValues(sig.SensorType, SkipError).Inc()
		s.givenUp.Add(1)
		log.Error("gave up inserting signal", "signal", sig.ID, "sensor_type", sig.SensorType, "error", err)
	}
}

// newBackOff is the wait between attempts: 250 ms doubling up to 5 s, each ±50 %.
func newBackOff() backoff.BackOff {
	b := backoff.NewExponentialBackOff()
	b.InitialInterval = 250 * time.Millisecond
	b.Multiplier = 2
	b.RandomizationFactor = 0.5
	b.MaxInterval = 5 * time.Second
	return b
}
