package proctest

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/segmentio/kafka-go"

	"github.com/beacon/eventdispatch/internal/stack"
)

// Conversations is queued conversations on the local stack as clients meet them: a dispatcher
// and a front door, on a jobs topic and consumer groups of their own (the topics are deleted
// when the test ends), the dispatcher answering with the offline ELIZA responder unless the
// test gives it a model. The front door can be killed and started again on the same address,
// as a client sees a restart.
type Conversations struct {
	t      testing.TB
	builds *Builds
	ep     stack.Endpoints
	// Jobs is the jobs topic; RPC the front door's address, the same across restarts.
	Jobs, RPC string
	// FrontDoor is the running front door (the last started); Dispatcher the dispatcher.
	FrontDoor, Dispatcher *Proc
	// FrontDoorAdmin and DispatcherAdmin are their admin servers' addresses (/metrics).
	FrontDoorAdmin, DispatcherAdmin string
	frontEnv                        []string
}

// StartConversations starts the dispatcher (with dispatcherEnv added to its environment, e.g.
// OPENAI_BASE_URL) and the front door (with frontDoorEnv), and waits until both are ready.
// name tells the test's topics and groups apart from others'.
func StartConversations(t testing.TB, builds *Builds, ep stack.Endpoints, name string, dispatcherEnv, frontDoorEnv []string) *Conversations {
	t.Helper()
	suffix := fmt.Sprintf("%d-%08x", time.Now().UnixNano(), rand.Uint32())
	c := &Conversations{t: t, builds: builds, ep: ep, Jobs: "test." + name + "." + suffix, RPC: FreeAddr(t), frontEnv: frontDoorEnv}
	t.Cleanup(func() {
		if conn, err := kafka.Dial("tcp", ep.KafkaBrokers[0]); err == nil {
			_ = conn.DeleteTopics(c.Jobs, c.Jobs+".dlq", c.Jobs+".signals", c.Jobs+".signals.dlq")
			_ = conn.Close()
		}
	})
	c.DispatcherAdmin = FreeAddr(t)
	c.Dispatcher = Start(t, builds.Build(t, "./cmd/dispatcher"), append([]string{
		"ADMIN_ADDR=" + c.DispatcherAdmin, "KAFKA_BROKERS=" + strings.Join(ep.KafkaBrokers, ","), "DATABASE_URL=" + ep.DatabaseURL,
		"JOBS_TOPIC=" + c.Jobs, "LLM_GROUP_ID=test-" + name + "-" + suffix,
		// The signal group reads a topic nobody writes.
		"SIGNAL_TOPIC=" + c.Jobs + ".signals", "GROUP_ID=test-" + name + "-signals-" + suffix,
		"KAFKA_SESSION_TIMEOUT=6s", "OPENAI_API_KEY=", "OPENAI_BASE_URL=",
	}, dispatcherEnv...)...)
	WaitHTTP(t, "http://"+c.DispatcherAdmin+"/readyz", 60*time.Second)
	c.StartFrontDoor()
	return c
}

// StartFrontDoor starts a front door on RPC and waits until it is ready.
func (c *Conversations) StartFrontDoor() {
	c.t.Helper()
	c.FrontDoorAdmin = FreeAddr(c.t)
	c.FrontDoor = Start(c.t, c.builds.Build(c.t, "./cmd/frontdoor"), append([]string{
		"ADDR=" + c.RPC, "ADMIN_ADDR=" + c.FrontDoorAdmin, "KAFKA_BROKERS=" + strings.Join(c.ep.KafkaBrokers, ","),
		"DATABASE_URL=" + c.ep.DatabaseURL, "JOBS_TOPIC=" + c.Jobs,
	}, c.frontEnv...)...)
	WaitHTTP(c.t, "http://"+c.FrontDoorAdmin+"/readyz", 30*time.Second)
}

// Forget deletes a conversation from the stack's transcript, for a test that is done with it.
func (c *Conversations) Forget(id string) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if conn, err := pgx.Connect(ctx, c.ep.DatabaseURL); err == nil {
		_, _ = conn.Exec(ctx, `DELETE FROM transcript.conversation WHERE id = $1`, id)
		_ = conn.Close(ctx)
	}
}

// Standalone starts cmd/standalone (front door, queue, workers and headband simulator in one
// process, on its own embedded broker, in memory, with the offline ELIZA responder unless env
// says otherwise) with env added, waits until it is ready, and returns its RPC and admin
// addresses.
func Standalone(t testing.TB, builds *Builds, env ...string) (rpc, admin string) {
	t.Helper()
	rpc, admin = FreeAddr(t), FreeAddr(t)
	Start(t, builds.Build(t, "./cmd/standalone"), append([]string{
		"ADDR=" + rpc, "ADMIN_ADDR=" + admin, "STANDALONE_KAFKA_ADDR=" + FreeAddr(t),
		// Whatever the developer's shell has: no model, no database.
		"OPENAI_API_KEY=", "OPENAI_BASE_URL=", "DATABASE_URL=", "HEADBAND_RECORDINGS=1",
	}, env...)...)
	WaitHTTP(t, "http://"+admin+"/readyz", 30*time.Second)
	return rpc, admin
}
