package consumer_test

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/beacon/eventdispatch/internal/consumer"
	"github.com/beacon/eventdispatch/internal/kafkatest"
	"github.com/beacon/eventdispatch/internal/proctest"
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

func TestGroup_JoinsSoonAfterTheCoordinatorHasLoadedTheGroup(t *testing.T) {
	b := newBroker(t)
	cfg := b.config()
	cfg.JoinBackoff = 0 // the default, 1s: what the retries would back off to
	// Every join is answered COORDINATOR_LOAD_IN_PROGRESS, as by a broker that was just
	// unfenced or restarted and reads __consumer_offsets, for 3 s: long enough for a backoff
	// to reach its cap (100ms doubling to 1s). The last refusal marks the group loaded.
	loading := time.Now().Add(3 * time.Second)
	var loadedAt atomic.Int64 // UnixNano; 0 while loading
	b.kfake.ControlKey(int16(kmsg.JoinGroup), func(req kmsg.Request) (kmsg.Response, error, bool) {
		b.kfake.KeepControl()
		if loadedAt.Load() != 0 {
			return nil, nil, false
		}
		if time.Now().After(loading) {
			loadedAt.Store(time.Now().UnixNano())
		}
		res := req.(*kmsg.JoinGroupRequest).ResponseKind().(*kmsg.JoinGroupResponse)
		res.ErrorCode = kerr.CoordinatorLoadInProgress.Code
		return res, nil, true
	})
	g := consumer.New(cfg, handlerFunc(func(context.Context, int, []kafka.Message) error { return nil }))
	m := start(t, g)
	defer m.stop()
	eventually(t, 10*time.Second, g.Joined, func() string { return "not Joined after the group was loaded" })
	took := time.Since(time.Unix(0, loadedAt.Load()))
	t.Logf("Joined %s after the coordinator's last refusal", took.Round(time.Millisecond))
	// A backed-off retry would wait at least half of JoinBackoff (500ms).
	if bound := 300 * time.Millisecond; took > bound {
		t.Errorf("Joined %s after the coordinator's last refusal, want within %s", took.Round(time.Millisecond), bound)
	}
}

func TestGroup_RunEndsWhenTheBrokersRefuseItsSessionTimeout(t *testing.T) {
	b := newBroker(t)
	cfg := b.config()
	cfg.SessionTimeout = time.Hour // above group.max.session.timeout.ms: kfake's 5 min, Kafka's 30 min
	done := make(chan error, 1)
	go func() { done <- consumer.New(cfg, handlerFunc(succeed)).Run(t.Context()) }()
	select {
	case err := <-done:
		if !errors.Is(err, consumer.ErrSessionTimeoutRefused) || !errors.Is(err, kafka.InvalidSessionTimeout) {
			t.Fatalf("Run ended with %v, want ErrSessionTimeoutRefused wrapping the broker's InvalidSessionTimeout", err)
		}
		if !strings.Contains(err.Error(), "1h0m0s") {
			t.Errorf("error %q does not say which session timeout was refused", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Run still retrying 10s after the brokers refused its session timeout")
	}
}

func TestGroup_RemovesItsPreviousIDBeforeJoiningAGroupJustLoaded(t *testing.T) {
	b := newBroker(t)
	cfg := b.config()
	// Long enough that the member's previous ID, once abandoned, is still in the group when
	// the coordinator has loaded it: a join that found it there would wait it out.
	cfg.SessionTimeout = 8 * time.Second
	g := consumer.New(cfg, handlerFunc(succeed))
	m := start(t, g)
	defer m.stop()
	eventually(t, 10*time.Second, g.Joined, func() string { return "not Joined" })

	// The coordinator starts loading the group, as a broker unfenced after a stall does:
	// heartbeats, joins and descriptions of the group are refused. The load ends at a refused
	// description after loadFor: the member's next join would reach a loaded group that still
	// counts the member ID the heartbeats' refusal made it give up.
	const loadFor = time.Second
	start := time.Now()
	var loadedAt atomic.Int64 // UnixNano; 0 while loading
	refuseGroupRequests(b, kerr.CoordinatorLoadInProgress.Code, func(key kmsg.Key) bool {
		if loadedAt.Load() != 0 {
			return false
		}
		if key == kmsg.DescribeGroups && time.Since(start) > loadFor {
			loadedAt.Store(time.Now().UnixNano())
		}
		return true
	})
	eventually(t, 10*time.Second, func() bool { return loadedAt.Load() != 0 }, func() string { return "the group never described while loading" })
	eventually(t, 10*time.Second, g.Joined, func() string { return "not Joined after the group was loaded" })
	took := time.Since(time.Unix(0, loadedAt.Load()))
	t.Logf("Joined %s after the coordinator's last refusal", took.Round(time.Millisecond))
	if bound := time.Second; took > bound {
		t.Errorf("Joined %s after the coordinator's last refusal, want within %s (its previous ID's session is %s)", took.Round(time.Millisecond), bound, cfg.SessionTimeout)
	}
}

// While the coordinator goes on refusing to describe the group, the member, which must remove
// its previous ID before it joins, says it cannot join, as a warning every JoinWarnEvery, as
// failed joins do.
func TestGroup_WarnsWhileItWaitsForTheCoordinatorToRemoveItsPreviousID(t *testing.T) {
	b := newBroker(t)
	var logged proctest.Buffer
	cfg := b.config()
	cfg.Log = slog.New(slog.NewTextHandler(&logged, &slog.HandlerOptions{Level: slog.LevelWarn}))
	cfg.SessionTimeout = 8 * time.Second
	cfg.JoinWarnEvery = time.Second // 30 s by default
	g := consumer.New(cfg, handlerFunc(succeed))
	m := start(t, g)
	defer m.stop()
	eventually(t, 10*time.Second, g.Joined, func() string { return "not Joined" })

	// From now on the group's coordinator is never there (its partition has no leader, say).
	refuseGroupRequests(b, kerr.CoordinatorNotAvailable.Code, func(kmsg.Key) bool { return true })
	eventually(t, 10*time.Second, func() bool {
		return strings.Contains(logged.String(), "level=WARN msg=\"cannot join consumer group yet: its coordinator is loading it or moving")
	}, func() string { return "no warning while the previous ID could not leave; logged:\n" + logged.String() })
	if g.Joined() {
		t.Error("Joined while its coordinator is gone")
	}
}

// refuseGroupRequests has b answer the group's heartbeats, joins and descriptions with the
// error code while refusing(the request's key) says so, as a coordinator that is loading the
// group, or gone, answers them; the others go to b as usual.
func refuseGroupRequests(b *broker, code int16, refusing func(kmsg.Key) bool) {
	for _, key := range []kmsg.Key{kmsg.Heartbeat, kmsg.JoinGroup, kmsg.DescribeGroups} {
		b.kfake.ControlKey(int16(key), func(req kmsg.Request) (kmsg.Response, error, bool) {
			b.kfake.KeepControl()
			if !refusing(key) {
				return nil, nil, false
			}
			res := req.ResponseKind()
			switch r := res.(type) {
			case *kmsg.HeartbeatResponse:
				r.ErrorCode = code
			case *kmsg.JoinGroupResponse:
				r.ErrorCode = code
			case *kmsg.DescribeGroupsResponse:
				for _, id := range req.(*kmsg.DescribeGroupsRequest).Groups {
					group := kmsg.NewDescribeGroupsResponseGroup()
					group.Group, group.ErrorCode = id, code
					r.Groups = append(r.Groups, group)
				}
			}
			return res, nil, true
		})
	}
}
