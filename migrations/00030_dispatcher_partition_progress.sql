-- +goose Up
-- How far each partition of the signal topic has been applied: the newest commit time of a
-- change applied from it, and when that was. A recording is reported incomplete
-- INCOMPLETE_AFTER after its first signal was committed; while the dispatchers catch up on a
-- backlog older than that, the rest of its signals may still be in Kafka, and it was reported
-- (and IncompleteRecordingsRising fired) although it was complete. It is now reported only
-- once its partition has been applied that far past its first signal, or when nothing has been
-- applied from the partition for a while (the partition is quiet, or caught up): see
-- pgstore.Store.ReportIncomplete. One row per partition, written by each batch.
CREATE TABLE dispatcher.partition_progress (
    kafka_partition integer PRIMARY KEY,
    source_at       timestamptz NOT NULL,
    applied_at      timestamptz NOT NULL DEFAULT now()
);

-- +goose Down
DROP TABLE dispatcher.partition_progress;
