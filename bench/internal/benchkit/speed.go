package benchkit

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"
)

// MachineSpeed times a fixed piece of CPU work on one goroutine for about 300 ms and returns
// what one unit of it took on average: decoding a JSON document of about 5 KB, as the services'
// decoders and Postgres's executor do, allocating and branching more than computing.
//
// A report gives it beside its measurements because a virtual machine's speed moves: on the
// 2-core machines of BENCHMARKS.md the same work took up to twice as long from one minute to
// the next, with no steal time counted. Two runs, or the two halves of a ratio, compare only
// at a like speed. The probe is taken while the run's processes are idle or not yet started.
func MachineSpeed() time.Duration { return machineSpeed(300 * time.Millisecond) }

func machineSpeed(d time.Duration) time.Duration {
	doc := speedDocument()
	var v any
	n := 0
	start := time.Now()
	for n == 0 || time.Since(start) < d {
		for range 16 {
			if err := json.Unmarshal(doc, &v); err != nil {
				panic(err) // the document is built below: it always decodes
			}
			v = nil
		}
		n += 16
	}
	return time.Since(start) / time.Duration(n)
}

// speedDocument is MachineSpeed's work: the same bytes in every run, shaped like a change
// event (nested objects, strings, numbers, an array of channel names).
func speedDocument() []byte {
	var b strings.Builder
	b.WriteString(`{"fields":[`)
	for i := range 40 {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `{"type":"string","optional":%t,"field":"column_%02d","name":"io.debezium.data.Uuid","version":%d}`, i%2 == 0, i, i%3+1)
	}
	b.WriteString(`],"payload":{"channels":[`)
	for i := range 8 {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `"channel-%d"`, i)
	}
	b.WriteString(`],"lsn":1099511627776,"ts_ms":1764979200000,"txId":1048576,"op":"c","snapshot":"false"}}`)
	return []byte(b.String())
}
