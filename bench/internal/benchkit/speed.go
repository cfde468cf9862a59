package benchkit

import (
	"encoding/json"
	"fmt"
	"strconv"
	"time"
)

// Speed is how long this machine took, just before a run, for a fixed piece of CPU work on
// one goroutine: encoding 1,000 records to JSON and decoding them back, on average over
// speedFor. The project's benchmark machines are VMs whose speed changes from one quarter of
// an hour to the next (up to twice as slow, for code that did not change), and a run's
// CPU-bound numbers follow it; a report that says how fast its machine was lets a reader
// tell a slow run from a slow machine. An average, not a minimum: time the VM's CPU is taken
// away (steal, which these guests do not see in /proc/stat) slows the run as much.
type Speed time.Duration

// speedFor is how long MeasureSpeed works: long enough to average over the scheduler's
// interruptions, short enough to cost a run nothing.
const speedFor = 250 * time.Millisecond

// speedRecord is the calibration's record: strings, numbers and a nested slice, as a
// service's messages are.
type speedRecord struct {
	ID       string    `json:"id"`
	Sentence string    `json:"sentence"`
	Serial   uint64    `json:"serial"`
	Score    float64   `json:"score"`
	Tags     []string  `json:"tags"`
	At       time.Time `json:"at"`
}

// MeasureSpeed times the calibration for about speedFor.
func MeasureSpeed() Speed {
	records := make([]speedRecord, 1000)
	at := time.Date(2026, 12, 4, 0, 0, 0, 0, time.UTC)
	for i := range records {
		records[i] = speedRecord{
			ID: fmt.Sprintf("%08x-calibration", i), Sentence: "I am not sure I understand you fully.",
			Serial: uint64(i), Score: float64(i) / 7, Tags: []string{"reply", "eliza"}, At: at.Add(time.Duration(i) * time.Second),
		}
	}
	start := time.Now()
	rounds := 0
	for ; rounds < 3 || time.Since(start) < speedFor; rounds++ {
		data, err := json.Marshal(records)
		if err != nil {
			panic(err) // a fixed value of fixed types: cannot fail
		}
		var back []speedRecord
		if err := json.Unmarshal(data, &back); err != nil || len(back) != len(records) {
			panic(fmt.Sprintf("calibration: decoded %d records: %v", len(back), err))
		}
	}
	return Speed(time.Since(start) / time.Duration(rounds))
}

// String is the calibration's time, as the reports give it: "2.31 ms".
func (s Speed) String() string {
	return strconv.FormatFloat(float64(time.Duration(s).Microseconds())/1000, 'f', 2, 64) + " ms"
}

// Describe is the sentence a report gives for it, without its full stop.
func (s Speed) Describe() string {
	if s == 0 {
		return "Machine speed not measured"
	}
	return fmt.Sprintf("Machine speed just before the run: %s for a JSON round trip of 1,000 records on one goroutine (the mean over %s; lower is faster)", s, speedFor)
}
