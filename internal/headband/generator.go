package headband

import (
	"encoding/binary"
	"math/rand/v2"
	"time"

	"github.com/google/uuid"
)

// Spans are a whole number of 100 ms steps, so every sample rate used here (250, 50 and
// 10 Hz) fits a whole number of samples in them.
const (
	spanStep     = 100 * time.Millisecond
	minSpanSteps = int64(time.Second / spanStep)
	maxSpanSteps = int64(4 * time.Second / spanStep)
)

// Generator yields a seeded sequence of recordings. Recording i depends only on the seed and
// i, never on what was generated before. A Generator is not safe for concurrent use.
type Generator struct {
	seed     uint64
	maxPause time.Duration
	next     uint64
}

// NewGenerator returns a generator for seed whose pauses are uniform in [0, maxPause); a
// zero maxPause gives no pauses. Pauses never change the rest of a recording: the same seed
// gives the same rows whatever maxPause is.
func NewGenerator(seed uint64, maxPause time.Duration) *Generator {
	return &Generator{seed: seed, maxPause: max(maxPause, 0)}
}

// Next returns the next recording of the sequence.
func (g *Generator) Next() Recording {
	r := g.Recording(g.next)
	g.next++
	return r
}

// Recording returns recording i of the sequence.
func (g *Generator) Recording(i uint64) Recording {
	// One stream per recording keeps recordings independent of each other.
	rng := rand.New(rand.NewPCG(g.seed, i))
	rec := Recording{Index: i, ID: newUUID(rng)}
	span := Span{Start: 0, End: int64(spanStep) * (minSpanSteps + rng.Int64N(maxSpanSteps-minSpanSteps+1))}

	kinds := []string{EEG, Accelerometer, Ignore}
	rng.Shuffle(len(kinds), func(a, b int) { kinds[a], kinds[b] = kinds[b], kinds[a] })
	for _, kind := range kinds {
		if rng.IntN(3) == 0 {
			rec.Dropped = append(rec.Dropped, kind)
			continue
		}
		// Always one draw, so the pause's length never shifts the stream for what follows.
		pause := time.Duration(rng.Float64() * float64(g.maxPause))
		rec.Inserts = append(rec.Inserts, Insert{Pause: pause, Signal: newSignal(rng, kind, rec.ID, span)})
	}
	return rec
}

func newSignal(rng *rand.Rand, kind string, recording uuid.UUID, span Span) Signal {
	base := Signal{ID: newUUID(rng), Recording: recording, SensorLabel: kind, SensorType: kind, Span: span}
	switch kind {
	case EEG:
		return eegSignal(rng, base)
	case Accelerometer:
		return accelerometerSignal(rng, base)
	default:
		return ignoreSignal(rng, base)
	}
}

// newUUID draws a version 4 UUID from rng, so IDs repeat with the seed.
func newUUID(rng *rand.Rand) uuid.UUID {
	var u uuid.UUID
	binary.LittleEndian.PutUint64(u[:8], rng.Uint64())
	binary.LittleEndian.PutUint64(u[8:], rng.Uint64())
	u[6] = u[6]&0x0f | 0x40 // version 4
	u[8] = u[8]&0x3f | 0x80 // RFC 4122 variant
	return u
}
