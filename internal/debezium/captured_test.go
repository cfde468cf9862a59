package debezium

import (
	"errors"
	"strings"
	"testing"
)

// The events of testdata/events, captured from the real connectors (see testdata/README.md),
// and what they must decode to. Values come from the SQL that made them.

const (
	liveRecording     = "f1c7a5e0-00ec-4d1e-8b2e-0000000000aa" // datastore.signal rows
	streamRecording   = "c0ffee00-1234-4abc-8def-0123456789ab" // scratch rows inserted while streaming
	snapshotRecording = "3f6c2b1e-8e4d-4b7a-9c1f-2a3b4c5d6e70" // scratch rows read by the snapshot
)

func liveSource(lsn, txID, tsMs int64) Source {
	return Source{LSN: lsn, TxID: txID, TsMs: tsMs, Snapshot: "false", Schema: "datastore", Table: "signal"}
}

func scratchSource(lsn, txID, tsMs int64, snapshot string) Source {
	return Source{LSN: lsn, TxID: txID, TsMs: tsMs, Snapshot: snapshot, Schema: "fixture_scratch", Table: "signal"}
}

func TestDecodeSignalChange_DecodesEventsOfTheRealConnector(t *testing.T) {
	const eegID, accID = "f1c7a5e0-0001-4d1e-8b2e-0000000000e1", "f1c7a5e0-0002-4d1e-8b2e-0000000000a2"
	tests := []struct {
		file string
		want Change
	}{
		{"create-eeg.json", Change{
			Op:     OpCreate,
			After:  eegRow(eegID, liveRecording, "2026-11-29T07:17:48.928928Z", firstMinute, 250),
			Source: liveSource(27043408, 762, 1795936668929), TsMs: 1795936669164,
		}},
		{"create-accelerometer.json", Change{
			Op:     OpCreate,
			After:  accelerometerRow(accID, liveRecording, "2026-11-29T07:17:48.930521Z"),
			Source: liveSource(27047056, 763, 1795936668930), TsMs: 1795936669165,
		}},
		{"update-eeg.json", Change{
			Op:     OpUpdate,
			After:  eegRow(eegID, liveRecording, "2026-11-29T07:17:48.928928Z", secondMinute, 500),
			Source: liveSource(27047488, 764, 1795936668931), TsMs: 1795936669166,
		}},
		{"delete-accelerometer.json", Change{
			Op:     OpDelete,
			Before: placeholderRow(accID),
			Source: liveSource(27047824, 765, 1795936668932), TsMs: 1795936669166,
		}},
		{"delete-eeg.json", Change{
			Op:     OpDelete,
			Before: placeholderRow(eegID),
			Source: liveSource(27047960, 766, 1795936668932), TsMs: 1795936669167,
		}},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			assertChange(t, tt.file, decodeFixture(t, "datastore-signal/"+tt.file), tt.want)
		})
	}
}

func TestDecodeSignalChange_DecodesSnapshotStreamAndTruncateEvents(t *testing.T) {
	const eegID, accID = "9d2f7a10-6b1c-4e8d-b3a2-5f4e3d2c1b01", "9d2f7a10-6b1c-4e8d-b3a2-5f4e3d2c1b02"
	const fullID = "9d2f7a10-6b1c-4e8d-b3a2-5f4e3d2c1bf1"
	const snapInserted = "2026-11-29T07:16:25.362136Z"
	snap := func(marker string) Source { return scratchSource(27035288, 752, 1795936589591, marker) }

	emptySpanRow := eegRow("5b0e1c2a-1d3e-4f50-8a6b-7c8d9e0f1a03", snapshotRecording, snapInserted, Span{Empty: true}, 250)
	emptySpanRow.Data, emptySpanRow.Channels, emptySpanRow.SampleType = []byte{}, []string{}, "float64"

	openLowerRow := eegRow("5b0e1c2a-1d3e-4f50-8a6b-7c8d9e0f1a04", snapshotRecording, snapInserted,
		Span{Lower: -5, Upper: 10, UpperInclusive: true}, 0.5)
	openLowerRow.Data, openLowerRow.Channels, openLowerRow.SampleType = []byte{0}, []string{"c3-a2"}, "uint8"

	fullBefore := eegRow(fullID, streamRecording, "2026-11-29T07:18:32.595197Z", firstMinute, 250)
	fullBefore.Data, fullBefore.Channels = mustHex("0000803f"), []string{"f7-o1", "f8-o2"}
	fullAfter := eegRow(fullID, streamRecording, "2026-11-29T07:18:32.595197Z", secondMinute, 500)
	fullAfter.Data, fullAfter.Channels = fullBefore.Data, fullBefore.Channels

	tests := []struct {
		file string
		want Change
	}{
		{"snapshot-first-eeg.json", Change{
			Op:     OpRead,
			After:  eegRow("5b0e1c2a-1d3e-4f50-8a6b-7c8d9e0f1a01", snapshotRecording, snapInserted, firstMinute, 250),
			Source: snap("first"), TsMs: 1795936589657,
		}},
		{"snapshot-accelerometer.json", Change{
			Op:     OpRead,
			After:  accelerometerRow("5b0e1c2a-1d3e-4f50-8a6b-7c8d9e0f1a02", snapshotRecording, snapInserted),
			Source: snap("true"), TsMs: 1795936589660,
		}},
		{"snapshot-empty-span.json", Change{
			Op: OpRead, After: emptySpanRow, Source: snap("true"), TsMs: 1795936589661,
		}},
		{"snapshot-exclusive-lower-span.json", Change{
			Op: OpRead, After: openLowerRow, Source: snap("true"), TsMs: 1795936589662,
		}},
		{"create-eeg.json", Change{
			Op:     OpCreate,
			After:  eegRow(eegID, streamRecording, "2026-11-29T07:16:54.319704Z", firstMinute, 250),
			Source: scratchSource(27038784, 757, 1795936614320, "false"), TsMs: 1795936614510,
		}},
		{"create-accelerometer.json", Change{
			Op:     OpCreate,
			After:  accelerometerRow(accID, streamRecording, "2026-11-29T07:16:54.322471Z"),
			Source: scratchSource(27039176, 758, 1795936614322, "false"), TsMs: 1795936614513,
		}},
		{"update-eeg.json", Change{
			Op:     OpUpdate,
			After:  eegRow(eegID, streamRecording, "2026-11-29T07:16:54.319704Z", secondMinute, 500),
			Source: scratchSource(27039536, 759, 1795936614324, "false"), TsMs: 1795936614514,
		}},
		{"delete-accelerometer.json", Change{
			Op: OpDelete, Before: placeholderRow(accID),
			Source: scratchSource(27039872, 760, 1795936614324, "false"), TsMs: 1795936614515,
		}},
		{"truncate.json", Change{
			Op:     OpTruncate,
			Source: scratchSource(27042936, 761, 1795936614326, "false"), TsMs: 1795936614522,
		}},
		{"update-eeg-replica-full.json", Change{
			Op: OpUpdate, Before: fullBefore, After: fullAfter,
			Source: scratchSource(27049088, 769, 1795936712597, "false"), TsMs: 1795936712676,
		}},
		{"delete-eeg-replica-full.json", Change{
			Op: OpDelete, Before: fullAfter,
			Source: scratchSource(27049544, 770, 1795936712597, "false"), TsMs: 1795936712677,
		}},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			assertChange(t, tt.file, decodeFixture(t, "scratch/"+tt.file), tt.want)
		})
	}
}

// Postgres lets a time_span be unbounded ('[0,)'); a real snapshot row with one is rejected,
// naming the column, rather than decoded with a made-up bound.
func TestDecodeSignalChange_RejectsCapturedUnboundedSpan(t *testing.T) {
	for _, dir := range []string{"scratch", "scratch-schemaless"} {
		_, err := DecodeSignalChange(fixture(t, "events/"+dir+"/snapshot-last-unbounded-span.json"))
		if !errors.Is(err, ErrMalformed) || !strings.Contains(err.Error(), "after.span") {
			t.Errorf("%s: got %v, want ErrMalformed naming after.span", dir, err)
		}
	}
}

// The connector's snapshot rows read the whole table at one position; its streamed changes
// and its truncate do not, nor would a row of an incremental snapshot or a read that does not
// say which snapshot it is from.
func TestChange_ReadsTheWholeTableOnlyForAWholeSnapshotsRows(t *testing.T) {
	for _, tt := range []struct {
		file string
		want bool
	}{
		{"snapshot-first-eeg.json", true},
		{"snapshot-accelerometer.json", true},
		{"create-eeg.json", false},
		{"update-eeg.json", false},
		{"delete-accelerometer.json", false},
		{"truncate.json", false},
	} {
		if got := decodeFixture(t, "scratch-schemaless/"+tt.file).ReadsTheWholeTable(); got != tt.want {
			t.Errorf("%s: ReadsTheWholeTable %v, want %v", tt.file, got, tt.want)
		}
	}
	read := decodeFixture(t, "scratch-schemaless/snapshot-accelerometer.json")
	for _, marker := range []string{"incremental", ""} {
		read.Source.Snapshot = marker
		if read.ReadsTheWholeTable() {
			t.Errorf("a read with source.snapshot %q reads the whole table, want not", marker)
		}
	}
}
