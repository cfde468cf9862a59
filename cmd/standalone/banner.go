package main

import (
	"fmt"
	"io"
	"net"
	"strings"
	"time"
)

// banner is what a newcomer sees first: where things are and what to try.
type banner struct {
	rpc, admin, kafka  net.Addr
	kafkaDir           string // where the broker keeps its data; empty: in memory
	store, model       string
	topics             []string
	interval, maxPause time.Duration
	fast               bool // HEADBAND_FAST: recordings back to back, no pauses
	page               bool // the chat page is served at the front door's "/"
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

Try:
  curl --header "Content-Type: application/json" --data '{"sentence": "I feel happy."}' \
      http://%[1]s/connectrpc.eliza.v1.ElizaService/Say
  go tool grpcurl -plaintext -d '@' %[1]s connectrpc.eliza.v1.ElizaService/Converse
  go tool grpcurl -plaintext -d '@' %[1]s connectrpc.eliza.v1.ElizaService/QueueConversation
      (type lines such as {"sentence":"I feel happy."}; Ctrl-D ends the input)
  curl -s http://%[2]s/metrics | grep dispatcher_recordings_completed_total

The simulated headband %[7]s; the log shows
"processing recording <uuid>" for each complete one. Ctrl-C stops everything.

`, rpc, admin, b.kafka, strings.Join(b.topics, ", "), b.store, b.model, b.schedule(), page, kept)
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
