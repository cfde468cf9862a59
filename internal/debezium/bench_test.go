package debezium

import "testing"

// BenchmarkDecodeSignalChange decodes a real insert of the EEG row, as the connector sends it
// (schemas enabled: the value is mostly schema) and as its payload alone (schemas disabled),
// with every column parsed (DecodeSignalChange) and with the rule's only (DecodeRuleChange,
// the dispatcher's).
func BenchmarkDecodeSignalChange(b *testing.B) {
	withSchema := fixture(b, "events/datastore-signal/create-eeg.json")
	for _, bm := range []struct {
		name  string
		value []byte
	}{
		{"schemas-enabled", withSchema},
		{"schemas-disabled", payloadOf(b, withSchema)},
	} {
		for _, decoder := range []struct {
			name   string
			decode func([]byte) (Change, error)
		}{{"all-columns", DecodeSignalChange}, {"rule-columns", DecodeRuleChange}} {
			b.Run(bm.name+"/"+decoder.name, func(b *testing.B) {
				b.ReportAllocs()
				b.SetBytes(int64(len(bm.value)))
				for b.Loop() {
					if _, err := decoder.decode(bm.value); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}
