package main

import (
	"log/slog"

	"github.com/beacon/eventdispatch/internal/worker"
)

// describeModel says in the banner which model answers queued conversations.
func describeModel(m worker.ModelSettings, log *slog.Logger) string {
	if m.Offline() {
		return "offline ELIZA responder (set OPENAI_API_KEY or OPENAI_BASE_URL for a real model)"
	}
	log.Info("answering queued conversations with an OpenAI-compatible API", "base_url", m.BaseURL, "model", m.Model)
	return "OpenAI-compatible API " + orDefault(m.BaseURL, "(public)")
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}
