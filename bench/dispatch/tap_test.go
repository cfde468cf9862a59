package main

import (
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/beacon/eventdispatch/bench/dispatch/synth"
)

func TestDecodeTapEvent_ReadsEventsWithAndWithoutTheConvertersSchema(t *testing.T) {
	committed := time.Date(2026, 12, 3, 18, 0, 0, 123456000, time.UTC)
	c := synth.Change{Signal: uuid.New(), Recording: uuid.New(), LSN: 12345, TxID: 7,
		Committed: committed, Emitted: committed.Add(40 * time.Millisecond)}
	for _, schemas := range []bool{true, false} {
		f, err := synth.Load("../../internal/debezium/testdata", schemas)
		if err != nil {
			t.Fatal(err)
		}
		_, value := f.EEG(c)
		ev, ok := decodeTapEvent(value)
		if !ok || ev.Signal != c.Signal || ev.Recording != c.Recording || ev.LSN != c.LSN ||
			!ev.Committed.Equal(committed) || !ev.Emitted.Equal(c.Emitted.Truncate(time.Microsecond)) {
			t.Errorf("schemas %t: decoded %+v, %t", schemas, ev, ok)
		}
	}
	if _, ok := decodeTapEvent([]byte(`{"op":"d","before":{"id":"x"}}`)); ok {
		t.Error("a delete was read as a create")
	}
}
