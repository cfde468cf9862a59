package consumer_test

import (
	"context"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/beacon/eventdispatch/internal/consumer"
	"github.com/beacon/eventdispatch/internal/kafkatest"
)

// rejoinBound is the product target: a member is back in its group, consuming, within 2s of
// the broker being back.
const rejoinBound = 2 * time.Second

// newDurableBroker is newBroker on a broker that can be stopped and restarted with its state.
// After Restart its client and kfake fields are the stopped broker's: use Client and Cluster.
func newDurableBroker(t *testing.T) *broker {
	t.Helper()
	b := kafkatest.StartDurable(t, partitions, topic)
	return &broker{Broker: b, t: t, addrs: b.Addrs, client: b.Client, kfake: b.Cluster}
}

func TestGroup_RejoinsAndConsumesWithinTwoSecondsOfTheBrokerComingBack(t *testing.T) {
	for _, c := range []struct {
		name    string
		session time.Duration
	}{
		// The restarted broker restores the member it had: the new join must not wait for
		// that member's session to expire (as on a real Kafka coordinator, which restarts the
		// sessions of the members it loads).
		{"the broker still counts the member", consumer.DefaultSessionTimeout},
		// The member's session expired during the outage.
		{"the broker has dropped the member", time.Second},
	} {
		t.Run(c.name, func(t *testing.T) {
			b := newDurableBroker(t)
			cfg := b.config()
			cfg.SessionTimeout = c.session
			cfg.MaxBackoff, cfg.JoinBackoff = 0, 0 // the defaults
			consumed := make(chan kafka.Message, 100)
			g := consumer.New(cfg, handlerFunc(func(_ context.Context, _ int, msgs []kafka.Message) error {
				for _, m := range msgs {
					consumed <- m
				}
				return nil
			}))
			m := start(t, g)
			b.produce(0, 1)
			receive(t, consumed, "message before the outage")
			b.waitCommitted([partitions]int64{1, -1, -1})
			if !g.Joined() {
				t.Fatal("not Joined while consuming")
			}

			b.Stop()
			down := time.Now()
			// The generation ends at the next heartbeat, SessionTimeout/5 at most.
			eventually(t, cfg.SessionTimeout/5+2*time.Second, func() bool { return !g.Joined() },
				func() string { return "still Joined with the broker down" })
			t.Logf("Joined false %s after the broker stopped", time.Since(down).Round(time.Millisecond))
			// Long enough for the join retries to back off to their cap (100ms doubling to 1s).
			time.Sleep(4 * time.Second)
			if g.Joined() {
				t.Fatal("Joined with the broker down")
			}

			b.Restart()
			back := time.Now()
			offset := b.produce(0, 1)[0] // through Restart's new client
			var rejoined, took time.Duration
			tick := time.NewTicker(5 * time.Millisecond)
			defer tick.Stop()
			for took == 0 {
				select {
				case msg := <-consumed:
					if msg.Partition == 0 && msg.Offset == offset {
						took = time.Since(back)
					}
				case <-tick.C:
					if rejoined == 0 && g.Joined() {
						rejoined = time.Since(back)
					}
					if time.Since(back) > 10*time.Second {
						t.Fatalf("message produced after the broker came back not consumed within 10s (Joined %t)", g.Joined())
					}
				}
			}
			if !g.Joined() {
				t.Error("consuming, but not Joined")
			}
			if rejoined == 0 { // between two polls
				rejoined = took
			}
			t.Logf("after the broker came back: Joined at %s, new message consumed at %s", rejoined.Round(time.Millisecond), took.Round(time.Millisecond))
			if took > rejoinBound {
				t.Errorf("message produced after the broker came back consumed %s after, want within %s", took.Round(time.Millisecond), rejoinBound)
			}
			b.waitCommitted([partitions]int64{offset + 1, -1, -1})
			m.stop() // before the test's cleanups stop the broker
		})
	}
}
