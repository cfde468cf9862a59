// Command standalone runs the whole system in one process with no external services: an
// embedded Kafka-protocol broker on 127.0.0.1 (STANDALONE_KAFKA_ADDR), the front door on ADDR,
// the dispatcher's two consumer groups, and the headband simulator, with /metrics, /healthz and
// /readyz for all of them on ADMIN_ADDR. They are the very parts the other binaries run,
// assembled by internal/app, and talk to the broker over TCP through the same kafka-go code.
//
// Without Postgres and Debezium the simulator publishes the connector's change events itself
// (internal/headband/debeziumpub), and the dispatcher's state is kept in memory
// (internal/memstore), or in Postgres when DATABASE_URL is set; then the broker keeps its data
// on disk (STANDALONE_KAFKA_DIR), so that the jobs the transcript holds as queued outlive the
// process with it. Queued conversations are
// answered by the offline ELIZA responder unless OPENAI_API_KEY or OPENAI_BASE_URL is set.
//
// On SIGTERM or SIGINT it stops the simulator and the front door, lets the consumer groups
// finish and commit what they hold, closes the broker and exits 0, within SHUTDOWN_GRACE.
package main

import (
	"context"
	"os"

	"github.com/beacon/eventdispatch/internal/app"
)

func main() {
	app.Main("standalone", app.DefaultStandalone(), func(ctx context.Context, sys *app.System, cfg app.StandaloneSettings) error {
		// The database first: one that cannot be used stops standalone before the embedded
		// broker makes its directory for it.
		store, storeName, err := sys.OpenStandaloneStore(ctx, cfg.DatabaseURL)
		if err != nil {
			return err
		}
		bus, kafkaAddr, kafkaDir, err := sys.StartEmbeddedKafka(ctx, cfg.Kafka, cfg.DatabaseURL)
		if err != nil {
			return err
		}
		// The broker is new and empty: its topics exist before anything writes to them, so the
		// first sentence, sent as soon as the port answers, is not refused.
		if err := bus.EnsureTopics(ctx, cfg.Signals.Topic, cfg.Queue.Jobs); err != nil {
			return err
		}
		conversations, err := sys.OpenTranscript(ctx, cfg.DatabaseURL, cfg.Transcript)
		if err != nil {
			return err
		}
		rpcAddr, err := sys.AddFrontDoor(ctx, cfg.FrontDoor, cfg.DatabaseURL, cfg.Queue, bus, conversations)
		if err != nil {
			return err
		}
		sys.AddSignals(cfg.Signals, cfg.Groups, bus, store)
		if err := sys.AddConversations(ctx, cfg.Conversations, cfg.Groups, cfg.Queue, bus, conversations, cfg.Transcript.TTL, cfg.DatabaseURL); err != nil {
			return err
		}
		sys.AddHeadband(cfg.Headband, sys.PublishSignalEvents(bus, cfg.Signals.Topic), false)
		banner{
			rpc: rpcAddr, admin: sys.AdminAddr(), kafka: kafkaAddr, kafkaDir: kafkaDir, store: storeName, model: cfg.Conversations.Model.Describe(),
			topics:   []string{cfg.Signals.Topic, cfg.Queue.Jobs},
			interval: cfg.Headband.Interval, maxPause: cfg.Headband.MaxPause, fast: cfg.Headband.Fast, page: cfg.FrontDoor.WebUI,
		}.print(os.Stdout)
		return nil
	})
}
