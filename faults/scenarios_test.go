//go:build faults

package faults_test

import (
	"syscall"
	"testing"
	"time"
)

// A scenario breaks one part of a running system and says when it is healed; its bound is
// how soon after that the system must work again.
type scenario struct {
	dispatchers, frontdoors int
	bound                   time.Duration
	fault                   func(t *testing.T, s *system) (healed time.Time)
}

// rejoinBound is how soon after Kafka serves their groups again (probeServing) every
// dispatcher must be ready again: in its consumer groups, with Postgres answering. Joins are
// retried at most a second apart, and within 100 ms while the broker answers that the group's
// coordinator is loading; dispatchers joining at different times cost the group a second
// rebalance, which waits for the work in hand (RebalanceDrain). The broker's own recovery is
// not the dispatchers' to bound: a broker resumed after a stall longer than its KRaft session
// is fenced by its controller first, and serves groups again seconds later (how many depends
// on how much of __consumer_offsets it reloads); it counts against the scenario's bound.
const rejoinBound = 2 * time.Second

const (
	// warmup is how long the load runs before the fault; afterwards, how long after recovery.
	warmup, afterwards = 8 * time.Second, 5 * time.Second
	// settle bounds the wait for every complete recording and enqueued sentence to be done.
	settle = 90 * time.Second
)

func TestFaults_DispatcherKillNineWithJobsInFlight(t *testing.T) {
	run(t, scenario{dispatchers: 2, frontdoors: 1, bound: 30 * time.Second,
		fault: func(t *testing.T, s *system) time.Time {
			s.kill(s.dispatchers[0])
			return time.Now() // the other takes over on its own
		}})
}

func TestFaults_DispatcherReplicasTwoThreeTwo(t *testing.T) {
	run(t, scenario{dispatchers: 2, frontdoors: 1, bound: 20 * time.Second,
		fault: func(t *testing.T, s *system) time.Time {
			s.dispatcher()
			time.Sleep(10 * time.Second)
			s.stop(s.dispatchers[0])
			return time.Now()
		}})
}

func TestFaults_FrontdoorKillNine(t *testing.T) {
	run(t, scenario{dispatchers: 1, frontdoors: 2, bound: 10 * time.Second,
		fault: func(t *testing.T, s *system) time.Time {
			s.kill(s.frontdoors[0])
			return time.Now()
		}})
}

func TestFaults_KafkaStoppedFor15s(t *testing.T) {
	run(t, scenario{dispatchers: 2, frontdoors: 1, bound: 30 * time.Second,
		fault: func(t *testing.T, s *system) time.Time {
			signalStack(t, "kafka", syscall.SIGSTOP)
			resumed := false
			t.Cleanup(func() {
				if !resumed {
					signalStack(t, "kafka", syscall.SIGCONT)
				}
			})
			time.Sleep(15 * time.Second)
			signalStack(t, "kafka", syscall.SIGCONT)
			resumed = true
			return time.Now()
		}})
}

func TestFaults_KafkaKillNine(t *testing.T) {
	run(t, scenario{dispatchers: 2, frontdoors: 1, bound: 60 * time.Second, fault: killAndRestart("kafka")})
}

func TestFaults_PostgresKillNine(t *testing.T) {
	run(t, scenario{dispatchers: 2, frontdoors: 1, bound: 60 * time.Second, fault: killAndRestart("postgres")})
}

func TestFaults_ConnectKillNine(t *testing.T) {
	run(t, scenario{dispatchers: 2, frontdoors: 1, bound: 60 * time.Second, fault: killAndRestart("connect")})
}

// killAndRestart is the fault of a stack component killed with SIGKILL, left down for 5 s,
// then started again by stack.sh up; it is healed when stack.sh up is done.
func killAndRestart(component string) func(t *testing.T, s *system) time.Time {
	return func(t *testing.T, _ *system) time.Time {
		killStack(t, component)
		time.Sleep(5 * time.Second)
		restartStack(t)
		return time.Now()
	}
}

// run starts the scenario's system under load, breaks it, measures its recovery, stops the
// load, waits for the work to settle and checks what became of every recording and sentence.
func run(t *testing.T, sc scenario) {
	s := newSystem(t)
	for range sc.dispatchers {
		s.dispatcher()
	}
	for range sc.frontdoors {
		s.frontdoor()
	}
	stopHeadband := s.headband()
	cl := s.startClients()
	time.Sleep(warmup)

	healed := sc.fault(t, s)
	r := s.recovery(healed)
	t.Logf("after the fault was healed: Kafka serving after %s, dispatchers ready after %s (%s later); back after %s (CDC) and %s (conversations)",
		round(r.serving), round(r.ready), round(r.rejoin()), round(r.cdc), round(r.conv))
	time.Sleep(afterwards)
	sents := cl.halt()
	stopHeadband()

	rec := s.checkRecordings(settle)
	cv := s.checkConversations(sents, settle)
	report.add(row{scenario: t.Name(), recovered: r, bound: sc.bound, rec: rec, sentences: cv})

	if r.serving > sc.bound {
		t.Errorf("Kafka served the dispatchers' groups %s after the fault was healed, bound %s", r.serving, sc.bound)
	}
	if r.rejoin() > rejoinBound {
		t.Errorf("dispatchers ready %s after Kafka served their groups again, bound %s", r.rejoin(), rejoinBound)
	}
	if r.cdc > sc.bound || r.conv > sc.bound {
		t.Errorf("back after %s (CDC) and %s (conversations), bound %s", r.cdc, r.conv, sc.bound)
	}
	if len(rec.lost) > 0 || len(rec.dups) > 0 || len(rec.ghosts) > 0 || rec.refusedTwice > 0 {
		t.Errorf("recordings: %d complete, %d lost (e.g. %v), %d processed twice (%v), %d batches refused a second process_record, %d processed but not complete (%v)",
			rec.complete, len(rec.lost), first(rec.lost), len(rec.dups), first(rec.dups), rec.refusedTwice, len(rec.ghosts), first(rec.ghosts))
	}
	if rec.complete == 0 {
		t.Error("no complete recording was inserted: the load did not run")
	}
	if len(cv.unanswered) > 0 || len(cv.twice) > 0 || len(cv.ghosts) > 0 {
		t.Errorf("sentences: %d enqueued, %d without an outcome (%v), %d with more than one (%v); ghosts: %v",
			cv.enqueued, len(cv.unanswered), first(cv.unanswered), len(cv.twice), first(cv.twice), cv.ghosts)
	}
	if cv.enqueued == 0 {
		t.Error("no sentence was enqueued: the load did not run")
	}
}

// round rounds d for the logs and the report.
func round(d time.Duration) time.Duration { return d.Round(100 * time.Millisecond) }

// first is the first element of xs, for messages, or nothing.
func first[T any](xs []T) []T { return xs[:min(len(xs), 1)] }
