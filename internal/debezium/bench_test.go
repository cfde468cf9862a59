package debezium

import "testing"

// BenchmarkDecodeSignalChange decodes a real insert of the EEG row, as the connector sends it
// (schemas enabled: the value is mostly schema) and as its payload alone (schemas disabled).
func BenchmarkDecodeSignalChange(b *testing.B) {
	withSchema := fixture(b, "events/datastore-signal/create-eeg.json")
	for _, bm := range []struct {
		name  string
		value []byte
	}{
		{"schemas-enabled", withSchema},
		{"schemas-disabled", payloadOf(b, withSchema)},
	} {
		b.Run(bm.name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(bm.value)))
			for b.Loop() {
				if _, err := DecodeSignalChange(bm.value); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
