-- +goose Up
-- The dispatcher's pending state. Kept in Postgres (not in consumer memory) so that a restart,
-- a rebalance or a new replica picks up exactly where the last owner stopped; it changes in
-- the same transaction as processed_recording, so state and effect are never out of step.

-- What the dispatcher knows of each signal, as of the change at source_lsn. Deleted signals
-- stay as tombstones so that a replayed older event cannot bring them back.
CREATE TABLE dispatcher.signal_state (
    signal      uuid PRIMARY KEY,
    recording   uuid,              -- NULL only for a tombstone of a signal never seen alive
    sensor_type text NOT NULL DEFAULT '',
    channels    text[] NOT NULL DEFAULT '{}',
    sample_type text NOT NULL DEFAULT '',
    deleted     boolean NOT NULL DEFAULT false,
    source_lsn  bigint NOT NULL,
    updated_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX signal_state_recording_idx ON dispatcher.signal_state (recording);

-- Recordings seen and not yet complete, for the pending gauge and the incomplete report.
CREATE TABLE dispatcher.pending_recording (
    recording   uuid PRIMARY KEY,
    first_seen  timestamptz NOT NULL,  -- commit time of its first signal in the source
    reported_at timestamptz            -- when it was reported as incomplete (once)
);
CREATE INDEX pending_recording_first_seen_idx ON dispatcher.pending_recording (first_seen)
    WHERE reported_at IS NULL;

-- +goose Down
DROP TABLE dispatcher.pending_recording;
DROP TABLE dispatcher.signal_state;
