// Package logging builds the process logger every binary uses: log/slog on stderr, text for
// people at a terminal and JSON for log collectors, chosen by LOG_FORMAT and LOG_LEVEL.
package logging

import (
	"fmt"
	"io"
	"log/slog"
	"strings"
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
	switch strings.ToLower(orDefault(cfg.Format, "text")) {
	case "text":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	default:
		return nil, fmt.Errorf("LOG_FORMAT: %q is not one of text, json", cfg.Format)
	}
}

func orDefault(s, def string) string {
	if strings.TrimSpace(s) == "" {
		return def
	}
	return strings.TrimSpace(s)
}
