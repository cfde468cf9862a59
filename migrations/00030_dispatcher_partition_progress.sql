-- +goose Up
-- How far each partition of the signal topic has been applied: the newest commit time of a
-- change applied from it. A recording is reported incomplete INCOMPLETE_AFTER after its first
-- signal was committed; while the dispatchers caught up on a backlog older than that, the rest
-- of its signals could still be in Kafka, and it was reported (and IncompleteRecordingsRising
-- fired) although it was complete. It is now reported by the dispatcher that owns its
-- partition, once that partition is caught up with or has been applied INCOMPLETE_AFTER past
-- its first signal: see pgstore.Store.ReportIncomplete. One row per partition, written by
-- each batch.
CREATE TABLE dispatcher.partition_progress (
    kafka_partition integer PRIMARY KEY,
    source_at       timestamptz NOT NULL
);

-- +goose Down
DROP TABLE dispatcher.partition_progress;
