package pgstore

import (
	"context"
	"fmt"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/beacon/eventdispatch/internal/recording"
)

// ProcessedRecordingWriter is the default process_record: one row per complete recording in
// dispatcher.processed_recording. The primary key on recording makes a repeated call a no-op.
type ProcessedRecordingWriter struct{}

// ProcessRecords inserts a processed_recording row for each recording.
func (ProcessedRecordingWriter) ProcessRecords(ctx context.Context, tx pgx.Tx, recs []recording.Complete) error {
	recIDs := make([]uuid.UUID, len(recs))
	eeg := make([]uuid.UUID, len(recs))
	acc := make([]uuid.UUID, len(recs))
	for i, c := range recs {
		recIDs[i], eeg[i], acc[i] = c.Recording, c.EEGSignal, c.AccelerometerSignal
	}
	_, err := tx.Exec(ctx, `
		INSERT INTO dispatcher.processed_recording (recording, eeg_signal, accelerometer_signal)
		SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::uuid[])
		ON CONFLICT (recording) DO NOTHING`, recIDs, eeg, acc)
	if err != nil {
		return fmt.Errorf("insert processed recordings: %w", err)
	}
	return nil
}
