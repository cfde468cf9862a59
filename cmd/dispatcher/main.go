// Command dispatcher runs two consumer groups. On SIGNAL_TOPIC (group GROUP_ID) it consumes
// Debezium change events for datastore.signal and runs process_record exactly once (in effect)
// for every recording whose signals are complete; it reads the connector's heartbeat
// (CAPTURE_HEARTBEAT_TOPIC) to tell a quiet site from a capture that stopped or is far behind,
// and to hold incomplete-recording reports while capture stands still. On JOBS_TOPIC
// (group LLM_GROUP_ID) a pool of WORKERS answers queued conversation jobs with the model and
// records each outcome in the conversation's transcript. Run as many replicas as the topics
// have partitions.
//
// /metrics, /healthz and /readyz are on ADMIN_ADDR. On SIGTERM or SIGINT it stops fetching,
// finishes and commits the batches and model calls in hand, leaves the groups and exits 0.
package main

import (
	"context"

	"github.com/beacon/eventdispatch/internal/app"
)

func main() {
	app.Main("dispatcher", app.DefaultDispatcher(), func(ctx context.Context, sys *app.System, cfg app.DispatcherSettings) error {
		bus := cfg.Kafka.Bus()
		store, err := sys.OpenPostgres(ctx, cfg.DatabaseURL)
		if err != nil {
			return err
		}
		sys.AddSignals(cfg.Signals, cfg.Groups, bus, store)
		sys.AddCaptureWatch(cfg.Capture, bus)
		conversations, err := sys.OpenTranscript(ctx, cfg.DatabaseURL, cfg.Transcript)
		if err != nil {
			return err
		}
		return sys.AddConversations(ctx, cfg.Conversations, cfg.Groups, cfg.Queue, bus, conversations, cfg.Transcript.TTL, cfg.DatabaseURL)
	})
}
