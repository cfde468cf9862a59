package main_test

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/beacon/eventdispatch/internal/proctest"
)

// Recordings of one simulated run: enough to keep several batches in flight when a
// dispatcher dies or the group rebalances.
const simulated = 500

// headband runs the simulator, fast, for n recordings.
func (e *env) headband(n int) *proctest.Proc {
	e.test.Helper()
	bin := proctest.Build(e.test, "./cmd/headband")
	return proctest.Start(e.test, bin,
		"DATABASE_URL="+e.ep.DatabaseURL,
		"ADMIN_ADDR="+proctest.FreeAddr(e.test),
		"HEADBAND_FAST=1",
		fmt.Sprintf("HEADBAND_RECORDINGS=%d", n),
		fmt.Sprintf("HEADBAND_SEED=%d", rand.Uint64()),
		"LOG_LEVEL=warn",
	)
}

func (e *env) now() time.Time {
	e.test.Helper()
	var now time.Time
	if err := e.db.QueryRow(e.test.Context(), `SELECT now()`).Scan(&now); err != nil {
		e.test.Fatal(err)
	}
	return now
}

// compare computes, in one snapshot, the recordings with signals inserted since `since` that
// SQL says are complete and those the dispatcher processed, and returns the differences.
func (e *env) compare(since time.Time) (missing, extra []uuid.UUID) {
	e.test.Helper()
	err := e.db.QueryRow(e.test.Context(), `
		WITH recent AS (
		    SELECT DISTINCT recording FROM datastore.signal WHERE inserted_at >= $1
		), complete AS (
		    SELECT r.recording FROM recent r
		    WHERE EXISTS (SELECT 1 FROM datastore.signal s WHERE s.recording = r.recording
		                  AND s.sensor_type = 'eeg' AND s.channels @> $2::text[])
		      AND EXISTS (SELECT 1 FROM datastore.signal s WHERE s.recording = r.recording
		                  AND s.sensor_type = 'accelerometer' AND s.channels @> $3::text[])
		), done AS (
		    SELECT p.recording FROM dispatcher.processed_recording p JOIN recent USING (recording)
		)
		SELECT
		    coalesce((SELECT array_agg(recording) FROM (SELECT recording FROM complete EXCEPT SELECT recording FROM done) m), '{}'),
		    coalesce((SELECT array_agg(recording) FROM (SELECT recording FROM done EXCEPT SELECT recording FROM complete) x), '{}')`,
		since, eegChannels, accChannels).Scan(&missing, &extra)
	if err != nil {
		e.test.Fatal(err)
	}
	return missing, extra
}

// assertExactlyComplete waits for the dispatchers to catch up, then checks that the processed
// recordings are exactly the complete ones and that none was processed twice.
func (e *env) assertExactlyComplete(since time.Time, logs ...*proctest.Proc) {
	e.test.Helper()
	e.settle()
	deadline := time.Now().Add(60 * time.Second)
	for {
		missing, extra := e.compare(since)
		if len(extra) > 0 {
			e.test.Fatalf("%d recordings processed that are not complete, e.g. %s", len(extra), extra[0])
		}
		if len(missing) == 0 {
			break
		}
		if time.Now().After(deadline) {
			e.test.Fatalf("%d complete recordings never processed, e.g. %s", len(missing), missing[0])
		}
		time.Sleep(200 * time.Millisecond)
	}
	seen := map[string]int{}
	for _, p := range logs {
		for _, line := range strings.Split(p.Output(), "\n") {
			if _, rest, ok := strings.Cut(line, "processing recording "); ok && len(rest) >= 36 {
				seen[rest[:36]]++
			}
		}
	}
	for rec, n := range seen {
		if n > 1 {
			e.test.Fatalf("recording %s processed %d times", rec, n)
		}
	}
	if len(seen) == 0 {
		e.test.Fatal("no dispatcher logged a processed recording")
	}
}

// waitProgress waits until at least n recordings inserted since `since` are processed.
func (e *env) waitProgress(since time.Time, n int) {
	e.test.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		var done int
		err := e.db.QueryRow(e.test.Context(), `
			SELECT count(*) FROM dispatcher.processed_recording p
			WHERE p.recording IN (SELECT recording FROM datastore.signal WHERE inserted_at >= $1)`, since).Scan(&done)
		if err != nil {
			e.test.Fatal(err)
		}
		if done >= n {
			return
		}
		if time.Now().After(deadline) {
			e.test.Fatalf("only %d recordings processed, waiting for %d", done, n)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func TestDispatcher_KillNineMidStreamThenRestartProcessesEachCompleteRecordingOnce(t *testing.T) {
	e := setup(t)
	since := e.now()
	first := e.start()
	sim := e.headband(simulated)

	e.waitProgress(since, 20)
	first.Signal(t, syscall.SIGKILL)
	first.Wait(t, 10*time.Second)

	second := e.start()
	defer e.stop(second)
	if code := sim.Wait(t, 3*time.Minute); code != 0 {
		t.Fatalf("headband exited %d", code)
	}
	e.assertExactlyComplete(since, first.Proc, second.Proc)
}

func TestDispatcher_ReplicasJoiningAndLeavingProcessEachCompleteRecordingOnce(t *testing.T) {
	e := setup(t)
	since := e.now()
	a, b := e.start(), e.start()
	sim := e.headband(simulated)

	e.waitProgress(since, 30)
	c := e.start() // a third replica joins mid-stream
	defer e.stop(c)
	e.waitProgress(since, 80)
	e.stop(a) // and one leaves
	defer e.stop(b)

	if code := sim.Wait(t, 3*time.Minute); code != 0 {
		t.Fatalf("headband exited %d", code)
	}
	e.assertExactlyComplete(since, a.Proc, b.Proc, c.Proc)
}
