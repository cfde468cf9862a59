package access

import (
	"context"
	"fmt"
	"time"

	"github.com/cenkalti/backoff/v5"
	"github.com/jackc/pgx/v5"

	"github.com/beacon/eventdispatch/internal/pgname"
	"github.com/beacon/eventdispatch/internal/sleep"
)

// changedChannel is the channel migration 00008's triggers notify on.
const changedChannel = "access_changed"

// listenerName is the listener connection's application_name, unless DATABASE_URL sets one.
const listenerName = "access listener"

// pingEvery is how long Listen waits for a notification before it checks its connection: one
// that died without a word would otherwise keep the cache trusted while notifications are
// lost. It is the bound on how long a revocation can go unnoticed (see the README).
const pingEvery = 5 * time.Second

// Listen keeps the cache in step with the database until ctx ends, then returns nil. It holds
// one connection of its own, LISTENing on access_changed, and drops the cache on every
// notification. While it is not connected nothing is cached, so a revoked token or a
// disabled client is refused at once by every front door whose listener is up, and by the
// others on their next lookup.
func (a *Authenticator) Listen(ctx context.Context) error {
	if a.mode == Off {
		<-ctx.Done()
		return nil
	}
	rechecked := make(chan struct{})
	go func() { defer close(rechecked); a.rechecker(ctx) }()
	defer func() { <-rechecked }()
	retry := backoff.NewExponentialBackOff()
	retry.InitialInterval, retry.MaxInterval = 100*time.Millisecond, 5*time.Second
	for {
		start := time.Now()
		err := a.listenOnce(ctx)
		a.cache.reset(false)
		if ctx.Err() != nil {
			return nil
		}
		if time.Since(start) > retry.MaxInterval {
			retry.Reset()
		}
		wait := retry.NextBackOff()
		a.log.Warn("token cache listener not connected; checking every token in the database until it is", "error", err, "retry_in", wait)
		if sleep.For(ctx, wait) != nil {
			return nil
		}
	}
}

func (a *Authenticator) listenOnce(ctx context.Context) error {
	cfg := a.store.pool.Config().ConnConfig.Copy()
	pgname.Default(cfg, listenerName)
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return fmt.Errorf("connect: %w", err)
	}
	defer func() {
		closeCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Second)
		defer cancel()
		_ = conn.Close(closeCtx)
	}()
	if _, err := conn.Exec(ctx, "LISTEN "+changedChannel); err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	a.cache.reset(true) // anything cached before may have changed unseen
	a.wantRecheck()
	for {
		waitCtx, cancel := context.WithTimeout(ctx, pingEvery)
		_, err := conn.WaitForNotification(waitCtx)
		idle := waitCtx.Err() != nil && ctx.Err() == nil
		cancel()
		switch {
		case err == nil:
			a.cache.reset(true)
			a.wantRecheck()
		case ctx.Err() != nil:
			return ctx.Err()
		case idle && !conn.IsClosed():
			if err := conn.Ping(ctx); err != nil {
				return fmt.Errorf("ping: %w", err)
			}
			if a.unchecked.Load() {
				a.wantRecheck()
			}
		default:
			return fmt.Errorf("wait for notifications: %w", err)
		}
	}
}
