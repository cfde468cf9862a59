package dispatch

import "time"

// Quicken shortens the watch's timings for a test.
func (w *CaptureWatch) Quicken(every, stalledAfter time.Duration) {
	w.every, w.stalledAfter = every, stalledAfter
}
