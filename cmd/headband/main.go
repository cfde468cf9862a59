// Command headband simulates the EEG headband service: every HEADBAND_INTERVAL it starts a
// recording and inserts its eeg, accelerometer and ignore signals into datastore.signal one
// row at a time, in shuffled order with random pauses, some dropped, as internal/headband
// generates them and internal/headband/simulate schedules them. /metrics, /healthz and
// /readyz (not ready while the database does not answer, or has no datastore.signal it may
// insert into) are on ADMIN_ADDR.
//
// A database that is down is never fatal: inserts retry for HEADBAND_RETRY_FOR, then skip the
// row. On SIGTERM or SIGINT it starts no more recordings, gives inserts in flight up to half of
// SHUTDOWN_GRACE, and exits 0; once HEADBAND_RECORDINGS recordings are done it exits 0, or 1
// if it skipped a row that way.
package main

import (
	"context"

	"github.com/beacon/eventdispatch/internal/app"
)

func main() {
	app.Main("headband", app.DefaultHeadband(), func(ctx context.Context, sys *app.System, cfg app.HeadbandSettings) error {
		rows, err := sys.OpenSignalTable(ctx, cfg.DatabaseURL)
		if err != nil {
			return err
		}
		sys.AddHeadband(cfg.Headband, rows, true)
		return nil
	})
}
