package logging

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/google/uuid"
)

// BenchmarkHold logs the dispatcher's line for a batch of 1,000 recordings to a file, a
// write per line and held.
func BenchmarkHold(b *testing.B) {
	f, err := os.Create(filepath.Join(b.TempDir(), "log"))
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	log, err := New(f, Config{Format: "json"})
	if err != nil {
		b.Fatal(err)
	}
	rec, eeg, acc := uuid.New(), uuid.New(), uuid.New()
	batch := func() {
		for range 1000 {
			r := rec.String()
			log.Info("processing recording "+r, "recording", r, "eeg_signal", eeg.String(), "accelerometer_signal", acc.String())
		}
	}
	b.Run("line-by-line", func(b *testing.B) {
		for b.Loop() {
			batch()
		}
	})
	b.Run("held", func(b *testing.B) {
		for b.Loop() {
			release := Hold(log)
			batch()
			release()
		}
	})
}
