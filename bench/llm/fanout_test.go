package main

import (
	"math"
	"testing"

	"github.com/beacon/eventdispatch/bench/internal/benchkit/pgcount"
)

// doorRead is a front door of a fan-out run that read pool and listener bytes.
func doorRead(conversations int, quiet bool, pool, listener int64) fanoutDoor {
	return fanoutDoor{Conversations: conversations, Quiet: quiet,
		Pool: pgcount.Counts{ServerBytes: pool}, Listener: pgcount.Counts{ServerBytes: listener}}
}

func TestFanoutShares_ComparesEachBusyFrontDoorWithTheSingleOne(t *testing.T) {
	f := fanoutResult{Runs: []fanoutRun{
		{Doors: 1, PerDoor: []fanoutDoor{doorRead(60, false, 900, 100), doorRead(1, true, 0, 5)}},
		{Doors: 3, PerDoor: []fanoutDoor{doorRead(20, false, 300, 30), doorRead(20, false, 330, 40), doorRead(20, false, 290, 30), doorRead(1, true, 2, 0)}},
	}}
	convShare, readShare, quiet, ok := f.fanoutShares()
	if !ok {
		t.Fatal("fanoutShares: not ok with two runs")
	}
	wantConv, wantRead := []float64{1.0 / 3, 1.0 / 3, 1.0 / 3}, []float64{0.33, 0.37, 0.32}
	for i := range wantRead {
		if math.Abs(convShare[i]-wantConv[i]) > 1e-9 || math.Abs(readShare[i]-wantRead[i]) > 1e-9 {
			t.Errorf("front door %d: shares %g of the conversations, %g of the reads; want %g and %g", i+1, convShare[i], readShare[i], wantConv[i], wantRead[i])
		}
	}
	if len(convShare) != 3 || len(readShare) != 3 {
		t.Errorf("%d and %d shares, want one per busy front door (3)", len(convShare), len(readShare))
	}
	if want := 0.005; math.Abs(quiet-want) > 1e-9 {
		t.Errorf("quiet share %g, want the larger of the quiet front doors' (5 of 1000 bytes)", quiet)
	}
}

func TestFanoutShares_NeedsBothRuns(t *testing.T) {
	f := fanoutResult{Runs: []fanoutRun{{Doors: 1, PerDoor: []fanoutDoor{doorRead(60, false, 900, 100)}}}}
	if _, _, _, ok := f.fanoutShares(); ok {
		t.Error("fanoutShares: ok with one run, want not ok")
	}
}
