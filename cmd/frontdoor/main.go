// Command frontdoor serves connectrpc.eliza.v1.ElizaService (Say, Converse, Introduce and
// QueueConversation) over Connect, gRPC and gRPC-Web on ADDR, with gRPC reflection and health,
// and /metrics, /healthz and /readyz on ADMIN_ADDR. QueueConversation's jobs go to JOBS_TOPIC;
// their replies come back on REPLIES_TOPIC, answered by the dispatchers.
//
// On SIGTERM or SIGINT it reports not-ready, stops accepting, lets open streams finish within
// SHUTDOWN_GRACE (the replies they wait for still arrive), then exits 0.
package main

import (
	"context"

	"github.com/beacon/eventdispatch/internal/app"
)

func main() {
	app.Main("frontdoor", app.DefaultFrontDoor(), func(ctx context.Context, sys *app.System, cfg app.FrontDoorSettings) error {
		_, err := sys.AddFrontDoor(ctx, cfg.FrontDoor, cfg.Queue, cfg.Kafka.Bus())
		return err
	})
}
