package pgtranscript

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/cenkalti/backoff/v5"
	"github.com/jackc/pgx/v5"

	"github.com/beacon/eventdispatch/internal/sleep"
)

// healthEvery is how long the listener waits for a notification before it checks that its
// connection still answers: a connection that died without a word (a host gone, a dropped
// route) would otherwise be noticed only by TCP keepalives, minutes later.
const healthEvery = 30 * time.Second

// Listen runs the Store's listener until ctx is done, then returns nil; run it for the life of
// the process (one at a time per Store). It holds one connection of its own, opened with the
// pool's settings, on which it LISTENs to the channel of every watched conversation and
// UNLISTENs when the last watcher of one stops. It wakes watchers as notifications arrive.
// When the connection breaks it reconnects with backoff, LISTENs again and wakes every
// watcher, since notifications may have been lost meanwhile.
func (s *Store) Listen(ctx context.Context) error {
	if !s.hub.start() {
		return errors.New("pgtranscript: Listen is already running on this Store")
	}
	defer s.hub.stop()
	retry := backoff.NewExponentialBackOff()
	retry.InitialInterval, retry.MaxInterval = 100*time.Millisecond, 5*time.Second
	for {
		start := time.Now()
		err := s.listenOnce(ctx)
		if ctx.Err() != nil {
			return nil
		}
		if time.Since(start) > retry.MaxInterval {
			retry.Reset() // it had been working: start over from a short wait
		}
		wait := retry.NextBackOff()
		s.log.Warn("transcript listener not connected; retrying", "err", err, "in", wait)
		if sleep.For(ctx, wait) != nil {
			return nil
		}
	}
}

// listenOnce connects, LISTENs to every watched channel, then serves notifications until the
// connection fails or ctx is done.
func (s *Store) listenOnce(ctx context.Context) error {
	conn, err := pgx.ConnectConfig(ctx, s.listenConfig.Copy())
	if err != nil {
		return fmt.Errorf("connect: %w", err)
	}
	defer func() {
		closeCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Second)
		defer cancel()
		_ = conn.Close(closeCtx) // the connection may be broken already; there is nothing to save
	}()
	s.hub.connected(conn.PgConn().PID())
	defer s.hub.disconnected()
	return s.serve(ctx, conn)
}

// serve alternates between bringing the connection's LISTENs in line with the watchers and
// waiting for notifications. A wait ends early when the watchers change (hub.interrupt) or
// after healthEvery; pgx leaves the connection usable after such a cancelled wait.
func (s *Store) serve(ctx context.Context, conn *pgx.Conn) error {
	for {
		if err := s.sync(ctx, conn); err != nil {
			return err
		}
		waitCtx, cancel := context.WithTimeout(ctx, healthEvery)
		if !s.hub.waiting(cancel) {
			cancel()
			continue
		}
		n, err := conn.WaitForNotification(waitCtx)
		s.hub.woken()
		interrupted, idle := waitCtx.Err() != nil, errors.Is(waitCtx.Err(), context.DeadlineExceeded)
		cancel()
		if n != nil {
			s.hub.notify(n.Channel, n.Payload)
		}
		switch {
		case err == nil:
		case ctx.Err() != nil:
			return ctx.Err()
		case !interrupted || conn.IsClosed():
			return fmt.Errorf("wait for notifications: %w", err)
		case idle:
			if err := ping(ctx, conn); err != nil {
				return err
			}
		}
	}
}

// sync LISTENs to the channels that gained watchers and UNLISTENs those that lost their last,
// until nothing is left to do.
func (s *Store) sync(ctx context.Context, conn *pgx.Conn) error {
	for {
		listen, unlisten := s.hub.plan()
		if len(listen) == 0 && len(unlisten) == 0 {
			return nil
		}
		// One round trip for all of them (they run as one implicit transaction: all or none).
		var sql strings.Builder
		for _, name := range unlisten {
			sql.WriteString("UNLISTEN " + pgx.Identifier{name}.Sanitize() + ";")
		}
		for _, name := range listen {
			sql.WriteString("LISTEN " + pgx.Identifier{name}.Sanitize() + ";")
		}
		if _, err := conn.Exec(ctx, sql.String()); err != nil {
			return fmt.Errorf("listen to %d channels, unlisten %d: %w", len(listen), len(unlisten), err)
		}
		s.hub.listened(listen)
	}
}

func ping(ctx context.Context, conn *pgx.Conn) error {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := conn.Ping(ctx); err != nil {
		return fmt.Errorf("ping the listener connection: %w", err)
	}
	return nil
}
