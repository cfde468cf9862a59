package debezium

import (
	"errors"
	"strings"
	"testing"
)

// assertMalformed fails the test unless err wraps ErrMalformed and mentions every one of want.
func assertMalformed(t testing.TB, err error, want ...string) {
	t.Helper()
	if !errors.Is(err, ErrMalformed) {
		t.Fatalf("got %v, want an error wrapping ErrMalformed", err)
	}
	for _, w := range want {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error %q does not mention %q", err, w)
		}
	}
}

// The hand-made fixtures of testdata/handmade: a real event with one thing broken.
func TestDecodeSignalChange_RejectsHandMadeMalformedEvents(t *testing.T) {
	tests := []struct {
		file string
		want []string
	}{
		{"missing-recording.json", []string{"after.recording is missing"}},
		{"channels-not-array.json", []string{"after.channels", "want array of strings, got string"}},
		{"data-not-base64.json", []string{"after.data", "not base64"}},
		{"span-not-a-range.json", []string{"after.span", `"60s" is not an integer`}},
		{"unknown-op.json", []string{`unknown op "x"`}},
		{"delete-without-before.json", []string{"delete without before"}},
		{"not-json.txt", []string{"not JSON"}},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			_, err := DecodeSignalChange(fixture(t, "handmade/"+tt.file))
			assertMalformed(t, err, tt.want...)
		})
	}
}

// Every column the dispatcher cannot do without is checked for absence, null and type, in
// after and in a full before. sensor_type, channels and sample_type may be NULL, as a table
// whose NOT NULL was dropped has them: they read as empty. An update's after that breaks the
// rules, its before good, is no error: the Change says why After could not be read, and keeps
// Before, for the row as it was to stop counting. Nor is its before that breaks them, its
// after good (an update undoing one into a row that could not be read): the Change keeps
// After, the row that now counts.
func TestDecodeSignalChange_RejectsRequiredColumnMissingNullOrIllTyped(t *testing.T) {
	value := string(payloadOf(t, fixture(t, "events/scratch/update-eeg-replica-full.json")))
	columns := map[string]string{ // column -> its value in the fixture's before and after
		"id":          `"9d2f7a10-6b1c-4e8d-b3a2-5f4e3d2c1bf1"`,
		"recording":   `"c0ffee00-1234-4abc-8def-0123456789ab"`,
		"sensor_type": `"eeg"`,
		"channels":    `["f7-o1","f8-o2"]`,
		"sample_type": `"float32"`,
	}
	for _, row := range []string{"before", "after"} {
		for column, val := range columns {
			field := `"` + column + `":` + val
			rowStart := strings.Index(value, `"`+row+`":{`)
			at := rowStart + strings.Index(value[rowStart:], field)
			edit := func(repl string) string { return value[:at] + repl + value[at+len(field):] }
			dropComma := 0
			if value[at+len(field)] == ',' {
				dropComma = 1
			}
			for _, c := range []struct{ name, edited, want string }{
				{"missing", value[:at] + value[at+len(field)+dropComma:], "is missing"},
				{"null", edit(`"` + column + `":null`), "is null"},
				{"ill-typed", edit(`"` + column + `":{"v":1}`), "got object"},
			} {
				t.Run(row+"."+column+" "+c.name, func(t *testing.T) {
					ch, err := DecodeSignalChange([]byte(c.edited))
					nullable := c.name == "null" && column != "id" && column != "recording"
					switch {
					case nullable:
						if err != nil || ch.Unreadable != nil || ch.After == nil || ch.Before == nil {
							t.Fatalf("got %+v, %v; want the row read, its NULL empty", ch, err)
						}
						if got := map[string]bool{"before": rowEmpty(ch.Before, column), "after": rowEmpty(ch.After, column)}; !got[row] || got[otherRow(row)] {
							t.Errorf("%s empty in before and after: %v, want in %s alone", column, got, row)
						}
					case row == "after":
						if err != nil || ch.After != nil || ch.Before == nil || ch.Before.ID.String() != "9d2f7a10-6b1c-4e8d-b3a2-5f4e3d2c1bf1" {
							t.Fatalf("got %+v, %v; want no After, the Before, and why", ch, err)
						}
						assertMalformed(t, ch.Unreadable, row+"."+column, c.want)
					default: // before
						if err != nil || ch.Before != nil || ch.After == nil || ch.After.ID.String() != "9d2f7a10-6b1c-4e8d-b3a2-5f4e3d2c1bf1" {
							t.Fatalf("got %+v, %v; want no Before, the After, and why", ch, err)
						}
						assertMalformed(t, ch.Unreadable, row+"."+column, c.want)
					}
				})
			}
		}
	}
}

// Optional columns may be absent or null, but a value that is there must decode.
func TestDecodeSignalChange_RejectsIllTypedOptionalColumns(t *testing.T) {
	value := string(payloadOf(t, fixture(t, "events/datastore-signal/create-eeg.json")))
	tests := []struct{ old, new, want string }{
		{`"data":"AACAPwAAAEAAAEBAAACAQA=="`, `"data":[0,0]`, "after.data: want string, got array"},
		{`"data":"AACAPwAAAEAAAEBAAACAQA=="`, `"data":"AACA PwAA"`, "after.data: not base64"},
		{`"span":"WzAsNjAwMDAwMDAwMDAp"`, `"span":"[0,60_000_000_000)"`, "after.span: neither base64 nor a range literal"},
		{`"span":"WzAsNjAwMDAwMDAwMDAp"`, `"span":12`, "after.span: want string, got number"},
		{`"sensor_label":"eeg"`, `"sensor_label":true`, "after.sensor_label: want string, got boolean"},
		{`"sample_rate":250.0`, `"sample_rate":"250"`, "after.sample_rate: want number, got string"},
		{`"sample_rate":250.0`, `"sample_rate":1e999`, "after.sample_rate: bad number"},
		{`"inserted_at":"2026-11-29T07:17:48.928928Z"`, `"inserted_at":"2026-11-29 07:17:48"`, "after.inserted_at: not an RFC 3339 timestamp"},
		{`"recording":"f1c7a5e0-00ec-4d1e-8b2e-0000000000aa"`, `"recording":"00000000-0000-0000-0000-000000000000"`, "after.recording: the nil UUID"},
		{`"id":"f1c7a5e0-0001-4d1e-8b2e-0000000000e1"`, `"id":"f1c7a5e0-0001-4d1e-8b2e"`, "after.id: not a uuid"},
		{`"channels":["f7-o1",`, `"channels":["f7-o1",7,`, "after.channels: element 1: want string, got number"},
		// No Postgres text holds a NUL: Debezium cannot have read one, and no state holding
		// one could be stored (the partition stopped at it for ever).
		{`"channels":["f7-o1",`, `"channels":["f7-o1","x\u0000y",`, "after.channels: element 1: holds a NUL character"},
		{`"sensor_type":"eeg"`, `"sensor_type":"e\u0000eg"`, "after.sensor_type: holds a NUL character"},
	}
	for _, tt := range tests {
		t.Run(tt.new, func(t *testing.T) {
			_, err := DecodeSignalChange([]byte(replaceOnce(t, value, tt.old, tt.new)))
			assertMalformed(t, err, tt.want)
		})
	}
}

// Whatever is wrong with the envelope itself is named.
func TestDecodeSignalChange_RejectsBrokenEnvelopes(t *testing.T) {
	src := `"source":{"lsn":1}`
	after := `"after":{"id":"f1c7a5e0-0001-4d1e-8b2e-0000000000e1","recording":"f1c7a5e0-00ec-4d1e-8b2e-0000000000aa","sensor_type":"eeg","channels":[],"sample_type":"int8"}`
	tests := []struct{ value, want string }{
		{`[1,2]`, "not a Debezium envelope: the value is a JSON array"},
		{`"c"`, "not a Debezium envelope: the value is a JSON string"},
		{`{}`, "not a Debezium envelope: no op"},
		{`{"schema":{},"payload":"c"}`, "payload: want an object, got JSON string"},
		{`{"schema":{},"payload":{"op":5}}`, "payload.op: want a string, got JSON number"},
		{`{"op":"c",` + after + `}`, "source is missing"},
		{`{"op":"c",` + after + `,"source":{"lsn":null}}`, "source.lsn is missing"},
		{`{"op":"c",` + after + `,"source":{"lsn":"0/19C8D20"}}`, "source.lsn: want an integer, got JSON string"},
		{`{"op":"c",` + after + `,"source":{"lsn":1.5}}`, "source.lsn: want an integer"},
		{`{"op":"c",` + after + `,` + src + `,"ts_ms":"now"}`, "ts_ms: want an integer, got JSON string"},
		{`{"op":"c",` + src + `}`, `op "c" without after`},
		{`{"op":"r",` + src + `,"after":null}`, `op "r" without after`},
		{`{"op":"u",` + src + `,"after":[]}`, "after: want an object, got JSON array"},
		{`{"op":"d",` + src + `,"before":{"id":""}}`, "before.id: not a uuid"},
		{`{"op":"d",` + src + `,"before":{"recording":"f1c7a5e0-00ec-4d1e-8b2e-0000000000aa"}}`, "before.id is missing"},
		{`{"op":"C",` + after + `,` + src + `}`, `unknown op "C"`},
		{`{"op":"c",` + after + `,` + src + `} trailing`, "not JSON"},
	}
	for _, tt := range tests {
		t.Run(tt.value, func(t *testing.T) {
			_, err := DecodeSignalChange([]byte(tt.value))
			assertMalformed(t, err, tt.want)
		})
	}
}

// rowEmpty says whether s's column (one of the rule's that may be NULL) is empty.
func rowEmpty(s *Signal, column string) bool {
	switch column {
	case "sensor_type":
		return s.SensorType == ""
	case "channels":
		return s.Channels == nil
	default:
		return s.SampleType == ""
	}
}

func otherRow(row string) string {
	if row == "before" {
		return "after"
	}
	return "before"
}

// A create, with no before, whose row breaks the rules stays malformed: there is no row as it
// was to stop counting.
func TestDecodeSignalChange_ACreateWhoseRowCannotBeReadIsMalformed(t *testing.T) {
	value := string(payloadOf(t, fixture(t, "events/datastore-signal/create-eeg.json")))
	edited := strings.Replace(value, `"id":"f1c7a5e0-0001-4d1e-8b2e-0000000000e1"`, `"id":"00000000-0000-0000-0000-000000000000"`, 1)
	if edited == value {
		t.Fatal("the fixture's id is not where the test looks for it")
	}
	_, err := DecodeSignalChange([]byte(edited))
	assertMalformed(t, err, "after.id", "the nil UUID")
}

// A text[] of two dimensions (the table's channels column takes ARRAY[['a','b'],['c','d']]):
// the real connector sends each row as a Java object's name. It is malformed, saying so, where
// its names were read as channels and the signal silently did not qualify.
func TestDecodeSignalChange_RejectsAMultiDimensionalChannelsArray(t *testing.T) {
	_, err := DecodeSignalChange(fixture(t, "events/multidimensional/create-eeg-channels-2d.json"))
	assertMalformed(t, err, "after.channels", `element 0: "[Ljava.lang.String;@414478b": a multi-dimensional array`)
	for s, want := range map[string]bool{
		"[Ljava.lang.String;@414478b": true, "[[Ljava.lang.String;@1a": true,
		"f7-o1": false, "[L;@": false, "[Lx;@xyz": false, "[x": false, "Lx;@1": false,
	} {
		if got := javaArrayName(s); got != want {
			t.Errorf("javaArrayName(%q) = %v, want %v", s, got, want)
		}
	}
}
