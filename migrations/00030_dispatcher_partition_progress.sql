-- +goose Up
-- How far each consumer group has applied each partition of the signal topic: the newest
-- commit time of a change applied from it. A recording is reported incomplete INCOMPLETE_AFTER
-- after its first signal was committed; while the dispatchers caught up on a backlog older
-- than that, the rest of its signals could still be in Kafka, and it was reported (and
-- IncompleteRecordingsRising fired) although it was complete. It is now reported by the
-- dispatcher that owns its partition, once that partition is caught up with or has been applied
-- INCOMPLETE_AFTER past its first signal: see pgstore.Store.ReportIncomplete. By group, so that
-- a group started afresh on a database another has used (GROUP_ID changed, to read the topic
-- again) goes by its own progress. One row per group and partition, written by each batch.
CREATE TABLE dispatcher.partition_progress (
    group_id        text NOT NULL,
    kafka_partition integer NOT NULL,
    source_at       timestamptz NOT NULL,
    PRIMARY KEY (group_id, kafka_partition)
);

-- +goose Down
DROP TABLE dispatcher.partition_progress;
