-- +goose Up
-- What the dispatcher has done. One row per complete recording: the primary key is what makes
-- process_record's effect happen once however often an event is redelivered.
CREATE SCHEMA IF NOT EXISTS dispatcher;

CREATE TABLE dispatcher.processed_recording (
    recording            uuid PRIMARY KEY,
    eeg_signal           uuid NOT NULL,
    accelerometer_signal uuid NOT NULL,
    processed_at         timestamptz NOT NULL DEFAULT now()
);

-- +goose Down
DROP SCHEMA dispatcher CASCADE;
