// Command frontdoor serves connectrpc.eliza.v1.ElizaService (Say, Converse, Introduce and
// QueueConversation) over Connect, gRPC and gRPC-Web on ADDR, with gRPC reflection and health,
// and /metrics, /healthz and /readyz on ADMIN_ADDR. Queued conversations (QueueConversation,
// Send, Watch) put jobs on JOBS_TOPIC and read and watch the conversations' transcript in the
// Postgres at DATABASE_URL, where the dispatchers record the answers. It also serves
// eventdispatch.usage.v1.UsageService, the clients' usage read from the same database.
//
// On SIGTERM or SIGINT it reports not-ready, stops accepting, ends the queued conversations'
// streams with Unavailable for their clients to resume elsewhere (a QueueConversation once its
// own sentences are answered), lets other calls and streams finish within SHUTDOWN_GRACE, then
// exits 0.
package main

import (
	"context"

	"github.com/beacon/eventdispatch/internal/app"
)

func main() {
	app.Main("frontdoor", app.DefaultFrontDoor(), func(ctx context.Context, sys *app.System, cfg app.FrontDoorSettings) error {
		conversations, err := sys.OpenTranscript(ctx, cfg.DatabaseURL, cfg.Transcript)
		if err != nil {
			return err
		}
		_, err = sys.AddFrontDoor(ctx, cfg.FrontDoor, cfg.DatabaseURL, cfg.Queue, cfg.Kafka.Bus(), conversations)
		return err
	})
}
