// Package logging builds the process logger every binary uses: log/slog on stderr, text for
// people at a terminal and JSON for log collectors, chosen by LOG_FORMAT and LOG_LEVEL. Code
// that logs many lines at once (a line per recording of a batch) can have them written
// together (Hold).
package logging

import (
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
)

// Config selects the log format and minimum level. The zero value logs text at info.
type Config struct {
	// Format is "text" (the default when empty) or "json".
	Format string `env:"LOG_FORMAT"`
	// Level is "debug", "info" (the default when empty), "warn" or "error".
	Level string `env:"LOG_LEVEL"`
}

// New returns a logger writing to w as cfg says, or an error naming the variable that is wrong.
func New(w io.Writer, cfg Config) (*slog.Logger, error) {
	var level slog.Level
	if err := level.UnmarshalText([]byte(orDefault(cfg.Level, "info"))); err != nil {
		return nil, fmt.Errorf("LOG_LEVEL: %q is not one of debug, info, warn, error", cfg.Level)
	}
	opts := &slog.HandlerOptions{Level: level}
	out := &output{w: w}
	switch strings.ToLower(orDefault(cfg.Format, "text")) {
	case "text":
		return slog.New(handler{slog.NewTextHandler(out, opts), out}), nil
	case "json":
		return slog.New(handler{slog.NewJSONHandler(out, opts), out}), nil
	default:
		return nil, fmt.Errorf("LOG_FORMAT: %q is not one of text, json", cfg.Format)
	}
}

// Hold keeps the lines that log, and every logger derived from it, write from now on until
// release is called, then writes them in one call: a batch's thousand lines cost one write
// instead of a thousand. Lines are held in order, and at most heldBytes of them: past that
// they are written as they come. Lines of other loggers of the same New, and of other
// goroutines, are held meanwhile too, so the code between Hold and release should only log,
// not wait. A logger not made by New is not held (release does nothing).
func Hold(log *slog.Logger) (release func()) {
	h, ok := log.Handler().(handler)
	if !ok {
		return func() {}
	}
	h.out.mu.Lock()
	h.out.holds++
	h.out.mu.Unlock()
	return sync.OnceFunc(h.out.release)
}

// heldBytes bounds the lines Hold keeps: about 250 of the dispatcher's "processing recording"
// lines.
const heldBytes = 64 << 10

// handler is slog's handler with its output: what Hold reaches through a logger.
type handler struct {
	slog.Handler
	out *output
}

func (h handler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return handler{h.Handler.WithAttrs(attrs), h.out}
}

func (h handler) WithGroup(name string) slog.Handler {
	return handler{h.Handler.WithGroup(name), h.out}
}

// output is where a New logger's handler writes a line at a time (one Write per line).
type output struct {
	w     io.Writer
	mu    sync.Mutex
	holds int    // Holds not yet released
	held  []byte // lines written while holds > 0, not yet passed on
}

func (o *output) Write(line []byte) (int, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.holds == 0 {
		return o.w.Write(line)
	}
	o.held = append(o.held, line...)
	if len(o.held) >= heldBytes {
		o.flush()
	}
	return len(line), nil
}

func (o *output) release() {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.holds--
	if o.holds == 0 {
		o.flush()
	}
}

// flush passes the held lines on. A failed write loses them, as it would have lost each line
// written alone; a logger has nowhere to report it.
func (o *output) flush() {
	if len(o.held) > 0 {
		_, _ = o.w.Write(o.held)
		o.held = o.held[:0]
	}
}

func orDefault(s, def string) string {
	if strings.TrimSpace(s) == "" {
		return def
	}
	return strings.TrimSpace(s)
}
