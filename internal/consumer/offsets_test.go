package consumer

import "testing"

func TestOffsets_CommitOnlyBelowTheLowestOutstanding(t *testing.T) {
	var o offsets
	if _, ok := o.committable(); ok {
		t.Fatal("nothing read, yet something to commit")
	}
	for _, off := range []int64{10, 11, 13, 14} { // 12 is a gap (e.g. a compacted record)
		o.add(off)
	}
	steps := []struct {
		done int64
		want int64
	}{
		{11, 10}, // 10 still outstanding
		{14, 10},
		{10, 13}, // 10 and 11 done: everything below 13 is finished
		{13, 15}, // all done: commit past the last read
	}
	unfinished := 4
	for _, s := range steps {
		o.done(s.done)
		if got, _ := o.committable(); got != s.want {
			t.Fatalf("after %d done: committable %d, want %d", s.done, got, s.want)
		}
		// Those done behind one outstanding are not counted as unfinished.
		if unfinished--; o.unfinished() != unfinished {
			t.Fatalf("after %d done: %d unfinished, want %d", s.done, o.unfinished(), unfinished)
		}
	}
	if !o.empty() {
		t.Fatal("offsets left outstanding")
	}
}
