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
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"time"

	"github.com/beacon/eventdispatch/internal/access"
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
			tokens: cfg.FrontDoor.Auth == access.Required,
		}.print(os.Stdout)
		return nil
	})
}

// banner is what a newcomer sees first: where things are and what to try.
type banner struct {
	rpc, admin, kafka  net.Addr
	kafkaDir           string // where the broker keeps its data; empty: in memory
	store, model       string
	topics             []string
	interval, maxPause time.Duration
	fast               bool // HEADBAND_FAST: recordings back to back, no pauses
	page               bool // the chat page is served at the front door's "/"
	tokens             bool // AUTH=required: every call needs a token
}

// schedule says when the simulated headband starts recordings.
func (b banner) schedule() string {
	if b.fast {
		return "starts recordings back to back, without pauses (HEADBAND_FAST)"
	}
	return fmt.Sprintf("starts a recording every %s (pauses up to %s)", b.interval, b.maxPause)
}

func (b banner) print(w io.Writer) {
	rpc, admin := hostPort(b.rpc), hostPort(b.admin)
	page := "off (WEB_UI=false)"
	if b.page {
		page = "http://" + rpc + "/  (open it in a browser)"
	}
	// Under AUTH=required the commands carry a token, which they would be refused without.
	auth, curlAuth, needs := "", "", ""
	if b.tokens {
		auth, curlAuth = `-H "Authorization: Bearer $TOKEN" `, `--header "Authorization: Bearer $TOKEN" `
		needs = "Every call needs a token (AUTH=required); make one with the same DATABASE_URL:\n  TOKEN=$(go run ./cmd/eliza clients add --name me)\n\n"
	}
	kept := "in memory, lost on exit"
	if b.kafkaDir != "" {
		kept = "kept in " + b.kafkaDir + " (STANDALONE_KAFKA_DIR)"
	}
	fmt.Fprintf(w, `
eventdispatch standalone: front door, dispatcher and headband simulator in one process,
on an embedded Kafka broker. No Kafka or Debezium needed, nor Postgres unless DATABASE_URL is set.

  front door   %[1]s  (Connect, gRPC, gRPC-Web; reflection on)
  chat page    %[8]s
  metrics      http://%[2]s/metrics  (and /healthz, /readyz)
  Kafka        %[3]s  (embedded; topics %[4]s; %[9]s)
  recordings   %[5]s
  model        %[6]s

%[10]sTry:
  curl %[12]s--header "Content-Type: application/json" --data '{"sentence": "I feel happy."}' \
      http://%[1]s/connectrpc.eliza.v1.ElizaService/Say
  go tool grpcurl -plaintext %[11]s-d '@' %[1]s connectrpc.eliza.v1.ElizaService/Converse
  go tool grpcurl -plaintext %[11]s-d '@' %[1]s connectrpc.eliza.v1.ElizaService/QueueConversation
      (type lines such as {"sentence":"I feel happy."}; Ctrl-D ends the input)
  curl -s http://%[2]s/metrics | grep dispatcher_recordings_completed_total

The simulated headband %[7]s; the log shows
"processing recording <uuid>" for each complete one. Ctrl-C stops everything.

`, rpc, admin, b.kafka, strings.Join(b.topics, ", "), b.store, b.model, b.schedule(), page, kept, needs, auth, curlAuth)
}

// hostPort names a listener's address the way a client on this machine would dial it.
func hostPort(a net.Addr) string {
	tcp, ok := a.(*net.TCPAddr)
	if !ok || tcp.IP.IsUnspecified() {
		_, port, _ := net.SplitHostPort(a.String())
		return net.JoinHostPort("localhost", port)
	}
	return tcp.String()
}
