package headband

import (
	"math"
	"math/rand/v2"
)

// EEGChannels are the channels of a valid eeg signal, the ones the completeness rule wants.
func EEGChannels() []string {
	return []string{"f7-o1", "f8-o2", "f8-f7", "f8-o1", "f7-o2"}
}

// InvalidEEGChannels are the channel sets of the eeg signals that can never complete a
// recording; each is chosen 1 time in 6.
func InvalidEEGChannels() [][]string {
	return [][]string{{"foo", "bar"}, {"a", "b", "c", "d", "e"}}
}

// AccelerometerChannels are the channels of every accelerometer signal.
func AccelerometerChannels() []string {
	return []string{"x", "y", "z"}
}

// eegSignal is float32 microvolts at 250 Hz: per channel an alpha, a theta and a beta rhythm
// of its own amplitude, frequency and phase, plus Gaussian noise.
func eegSignal(rng *rand.Rand, s Signal) Signal {
	if roll := rng.IntN(6); roll < 4 {
		s.Channels = EEGChannels()
	} else {
		s.Channels = InvalidEEGChannels()[roll-4]
	}
	s.SampleUnit, s.SampleType, s.SampleRate = "microvolt", Float32, 250
	s.SampleResolution, s.SampleOffset = 1, 0

	type wave struct{ amp, freq, phase float64 }
	rhythm := func(ampLo, ampHi, freqLo, freqHi float64) wave {
		return wave{uniform(rng, ampLo, ampHi), uniform(rng, freqLo, freqHi), uniform(rng, 0, 2*math.Pi)}
	}
	waves := make([][3]wave, len(s.Channels))
	for c := range waves {
		waves[c] = [3]wave{rhythm(10, 30, 9, 11), rhythm(5, 15, 5, 7), rhythm(2, 6, 18, 25)}
	}
	return fill(s, func(c int, t float64) float64 {
		v := 3 * rng.NormFloat64()
		for _, w := range waves[c] {
			v += w.amp * math.Sin(2*math.Pi*w.freq*t+w.phase)
		}
		return v
	})
}

// accelerometerResolution is one step of a 16-bit sensor with a ±4 g range.
const accelerometerResolution = 1.0 / 8192

// accelerometerSignal is int16 gforce at 50 Hz: gravity seen through a slightly tilted head,
// a slow sway on each axis and sensor noise.
func accelerometerSignal(rng *rand.Rand, s Signal) Signal {
	s.Channels = AccelerometerChannels()
	s.SampleUnit, s.SampleType, s.SampleRate = "gforce", Int16, 50
	s.SampleResolution, s.SampleOffset = accelerometerResolution, 0

	pitch, roll := uniform(rng, -0.25, 0.25), uniform(rng, -0.25, 0.25) // radians, about ±15°
	gravity := [3]float64{math.Sin(pitch), -math.Sin(roll) * math.Cos(pitch), math.Cos(roll) * math.Cos(pitch)}
	var sway [3]struct{ amp, freq, phase float64 }
	for c := range sway {
		sway[c].amp, sway[c].freq, sway[c].phase = uniform(rng, 0.01, 0.05), uniform(rng, 0.2, 0.5), uniform(rng, 0, 2*math.Pi)
	}
	return fill(s, func(c int, t float64) float64 {
		w := sway[c]
		return gravity[c] + w.amp*math.Sin(2*math.Pi*w.freq*t+w.phase) + 0.004*rng.NormFloat64()
	})
}

// ignoreSignal is a signal the dispatcher must skip: one channel at 10 Hz of small counts in
// any of the ten sample types.
func ignoreSignal(rng *rand.Rand, s Signal) Signal {
	types := SampleTypes()
	s.Channels = []string{"ignore"}
	s.SampleUnit, s.SampleType, s.SampleRate = "unknown", types[rng.IntN(len(types))], 10
	s.SampleResolution, s.SampleOffset = 1, 0
	return fill(s, func(int, float64) float64 { return float64(rng.IntN(101)) })
}

// fill sets Samples and Data from physical(channel, seconds since the span's start), stored
// as the nearest value of the sample type under the signal's resolution and offset.
func fill(s Signal, physical func(c int, t float64) float64) Signal {
	n, channels := s.SampleCount(), len(s.Channels)
	s.Samples = make([]float64, n*channels)
	for i := range n {
		t := float64(i) / s.SampleRate
		for c := range channels {
			s.Samples[i*channels+c] = s.SampleType.Quantize((physical(c, t) - s.SampleOffset) / s.SampleResolution)
		}
	}
	data, err := s.SampleType.Encode(s.Samples)
	if err != nil {
		panic("headband: " + err.Error()) // the sample types above are all valid
	}
	s.Data = data
	return s
}

func uniform(rng *rand.Rand, lo, hi float64) float64 {
	return lo + (hi-lo)*rng.Float64()
}
