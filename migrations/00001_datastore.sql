-- +goose Up
-- The headband's data store, as the exercise defines it. Debezium captures changes to
-- datastore.signal; the dispatcher reads them from Kafka, never by polling this table.
CREATE SCHEMA IF NOT EXISTS datastore;

-- A half-open span of time in nanoseconds, e.g. '[0,60000000000)'.
-- PostgreSQL 16+ also accepts digit underscores inside the literal ('[0,60_000_000_000)'); 15 does not.
CREATE TYPE datastore.time_span AS RANGE (subtype = bigint);

-- Labels are lowercase snake_case words ('eeg', 'accelerometer', 'microvolt').
CREATE DOMAIN datastore.signal_label AS text
    CHECK (VALUE ~ '^[a-z][a-z0-9]*(_[a-z0-9]+)*$');

CREATE TYPE datastore.sample_type AS ENUM (
    'int8', 'int16', 'int32', 'int64',
    'uint8', 'uint16', 'uint32', 'uint64',
    'float32', 'float64'
);

CREATE TABLE datastore.signal (
    id                        uuid PRIMARY KEY,
    recording                 uuid NOT NULL,
    data                      bytea NOT NULL,
    span                      datastore.time_span NOT NULL,
    sensor_label              datastore.signal_label NOT NULL,
    sensor_type               datastore.signal_label NOT NULL,
    channels                  text[] NOT NULL,
    sample_unit               datastore.signal_label NOT NULL,
    sample_resolution_in_unit float8 NOT NULL,
    sample_offset_in_unit     float8 NOT NULL,
    sample_type               datastore.sample_type NOT NULL,
    sample_rate               float8 NOT NULL,
    inserted_at               timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX signal_recording_idx ON datastore.signal (recording);

-- +goose Down
DROP SCHEMA datastore CASCADE;
