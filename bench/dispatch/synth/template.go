package synth

import (
	"bytes"
	"encoding/json"
	"fmt"
	"sort"
)

// slot names a value that varies between synthetic events.
type slot int

const (
	slotID slot = iota
	slotRecording
	slotInsertedAt
	slotSourceTsMs
	slotSourceTsUs
	slotSourceTsNs
	slotSequence
	slotTxID
	slotLSN
	slotTsMs
	slotTsUs
	slotTsNs
)

// field locates a slot in a captured event: the JSON member `"name":value` exactly as the
// event spells it, which must occur once.
type field struct {
	slot  slot
	name  string
	value json.RawMessage
}

// template is a captured event cut around its slots: parts[i] comes before slots[i], and the
// last part after the last slot.
type template struct {
	parts [][]byte
	slots []slot
}

// compile cuts src around the value of each field.
func compile(src []byte, fields []field) (template, error) {
	type cut struct {
		at, end int
		slot    slot
	}
	cuts := make([]cut, 0, len(fields))
	for _, f := range fields {
		member := append([]byte(`"`+f.name+`":`), f.value...)
		if n := bytes.Count(src, member); n != 1 {
			return template{}, fmt.Errorf("%s occurs %d times in the captured event, want once", member, n)
		}
		at := bytes.Index(src, member) + len(f.name) + 3
		cuts = append(cuts, cut{at: at, end: at + len(f.value), slot: f.slot})
	}
	sort.Slice(cuts, func(i, j int) bool { return cuts[i].at < cuts[j].at })
	var t template
	prev := 0
	for _, c := range cuts {
		if c.at < prev {
			return template{}, fmt.Errorf("fields of the captured event overlap at byte %d", c.at)
		}
		t.parts = append(t.parts, src[prev:c.at])
		t.slots = append(t.slots, c.slot)
		prev = c.end
	}
	t.parts = append(t.parts, src[prev:])
	return t, nil
}

// render appends the event with each slot's value from values to dst.
func (t template) render(dst []byte, values func(dst []byte, s slot) []byte) []byte {
	for i, s := range t.slots {
		dst = append(dst, t.parts[i]...)
		dst = values(dst, s)
	}
	return append(dst, t.parts[len(t.parts)-1]...)
}
