// Package headband generates the recordings of a simulated EEG headband: what the original
// headband service wrote to datastore.signal, and therefore what the dispatcher must handle.
// It is pure and deterministic: a Generator with a seed always yields the same recordings,
// with no clock, SQL or I/O, so tests can regenerate exactly what a run inserted.
//
// Every recording has three candidate signals — eeg, accelerometer and an `ignore` signal
// the dispatcher must skip. Each is dropped (never inserted) with probability 1/3,
// independently. The eeg signal carries the five channels the completeness rule wants
// (f7-o1, f8-o2, f8-f7, f8-o1, f7-o2) 4 times in 6 and otherwise an invalid set ({foo, bar}
// or {a, b, c, d, e}, 1 time in 6 each). The signals that are kept come in shuffled order,
// each with a pause, uniform in [0, max pause), to wait before inserting it.
//
// Sample data is real: channels × samples values of the declared sample type, little-endian,
// interleaved by sample (all channels of sample 0, then of sample 1, …) as in Onda's LPCM
// layout. A stored value v means v × sample_resolution_in_unit + sample_offset_in_unit in
// sample_unit. Spans are half-open nanosecond ranges relative to the recording's start; all
// signals of a recording cover the same 1–4 s.
//
//   - eeg: float32 at 250 Hz in microvolt (resolution 1, offset 0): alpha, theta and beta
//     rhythms of a few tens of microvolts plus noise.
//   - accelerometer: int16 at 50 Hz in gforce, ±4 g full scale (resolution 1/8192, offset 0):
//     gravity on z, slow head movement and sensor noise on x, y, z.
//   - ignore: one channel "ignore" at 10 Hz, unit "unknown", in a sample type drawn from all
//     ten datastore.sample_type labels, so consumers meet every type.
package headband
