// Package httpserve runs an http.Server for the life of a context and shuts it down gracefully:
// stop accepting, let requests and streams in flight finish while a drain context lasts, then
// close whatever is left. Every binary's listeners go through it so they drain the same way.
package httpserve

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
)

// Listen opens a TCP listener on addr with an error that names what the port was for, so a
// busy port is reported as such at startup rather than as a bare syscall error.
func Listen(ctx context.Context, name, addr string) (net.Listener, error) {
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("listen for %s on %s: %w", name, addr, err)
	}
	return ln, nil
}

// Serve serves srv on ln until ctx is done, then shuts down: it stops accepting and lets
// requests and streams in flight finish until drain is done, then closes the connections
// still open. It returns nil after a shutdown caused by ctx and the serve error otherwise.
func Serve(ctx, drain context.Context, log *slog.Logger, name string, srv *http.Server, ln net.Listener) error {
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	log.Info("listening", "server", name, "addr", ln.Addr().String())

	select {
	case err := <-errc:
		return fmt.Errorf("%s server: %w", name, err)
	case <-ctx.Done():
	}

	log.Info("draining", "server", name)
	if err := srv.Shutdown(drain); err != nil {
		log.Warn("grace period over; closing open connections", "server", name, "error", err)
		_ = srv.Close()
	}
	if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("%s server: %w", name, err)
	}
	log.Info("stopped", "server", name)
	return nil
}
