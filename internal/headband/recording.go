package headband

import (
	"fmt"
	"math"
	"time"

	"github.com/google/uuid"
)

// Sensor types of the three signals a recording may have.
const (
	EEG           = "eeg"
	Accelerometer = "accelerometer"
	Ignore        = "ignore"
)

// Recording is one simulated recording: the signals to insert, in order, and the sensor types
// of those that were dropped.
type Recording struct {
	// Index is the recording's position in its generator's sequence (0 for the first).
	Index uint64
	// ID is the recording's random (version 4) UUID.
	ID uuid.UUID
	// Inserts are the kept signals in the order to insert them, each after its pause.
	Inserts []Insert
	// Dropped are the sensor types of the signals that are never inserted.
	Dropped []string
}

// Signals returns the kept signals in insertion order.
func (r Recording) Signals() []Signal {
	out := make([]Signal, len(r.Inserts))
	for i, in := range r.Inserts {
		out[i] = in.Signal
	}
	return out
}

// Insert is one row to write: wait Pause, then insert Signal on its own.
type Insert struct {
	Pause  time.Duration
	Signal Signal
}

// Signal is one row of datastore.signal; the field comments name the columns.
type Signal struct {
	ID          uuid.UUID // id
	Recording   uuid.UUID // recording
	SensorLabel string    // sensor_label
	SensorType  string    // sensor_type
	Channels    []string  // channels
	SampleUnit  string    // sample_unit
	// SampleResolution (sample_resolution_in_unit) and SampleOffset (sample_offset_in_unit)
	// map a stored value v to v × SampleResolution + SampleOffset in SampleUnit.
	SampleResolution float64
	SampleOffset     float64
	SampleType       SampleType // sample_type
	SampleRate       float64    // sample_rate, in Hz
	Span             Span       // span
	// Data (data) holds Samples encoded as little-endian SampleType.
	Data []byte
	// Samples are the stored values, interleaved by sample: Samples[s*len(Channels)+c] is
	// channel c at sample s. They are not a column; they say what Data must decode to.
	Samples []float64
}

// SampleCount is the number of samples per channel the span holds at the sample rate.
func (s Signal) SampleCount() int {
	return int(math.Round(s.Span.Duration().Seconds() * s.SampleRate))
}

// Span is a half-open interval [Start, End) in nanoseconds since the recording started, the
// value of datastore.time_span.
type Span struct {
	Start, End int64
}

// Duration is the length of the span.
func (s Span) Duration() time.Duration {
	return time.Duration(s.End - s.Start)
}

// String formats the span as a range literal, "[start,end)", without digit separators so
// PostgreSQL 15 accepts it.
func (s Span) String() string {
	return fmt.Sprintf("[%d,%d)", s.Start, s.End)
}
