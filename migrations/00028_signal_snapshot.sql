-- +goose Up
-- A snapshot of the whole table (the connector's first start, or its start after the
-- replication slot was lost and dropped) sends the rows there are, not the deletes that
-- happened before it: a signal deleted while capture was stopped kept counting for its
-- recording, which could then be processed with it. Now, before the snapshot's first row on a
-- partition is applied, every signal of that partition's pending recordings set before the
-- snapshot is marked deleted just before it (at its position minus one), and the snapshot's
-- rows bring back those that still exist (recording.Ledger.Sweep, pgstore.Store.Snapshot).
--
-- The partition a pending recording's changes come through, for that sweep: the topic is
-- keyed by recording, so a partition's changes before the snapshot's first row on it are all
-- of them before the snapshot, and its changes after that row (a transaction in flight when
-- the snapshot was taken is streamed after it, with positions before it) are not swept. NULL
-- for a recording pending before this migration, or made pending by a dispatcher older than it
-- during a rolling update, until its next change: a snapshot does not sweep it. A sweep keeps
-- the pending rows (first_seen, reported_at) for the snapshot's rows that bring signals back,
-- and those left with no signal are deleted once the partition's snapshot has been read.
-- Not indexed: only a snapshot's start and end read the column, a few times a snapshot, while
-- every pending recording's row is written as its signals come, and an index would cost each
-- of those writes one more.
ALTER TABLE dispatcher.pending_recording ADD COLUMN kafka_partition integer;

-- The starts of snapshots, by partition: a snapshot's rows read again (a batch redelivered, a
-- new consumer group) must not sweep again what came after its start.
CREATE TABLE dispatcher.signal_snapshot (
    kafka_partition integer NOT NULL,
    source_lsn      bigint NOT NULL,
    applied_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (kafka_partition, source_lsn)
);

-- +goose Down
-- The signals a sweep marked deleted stay so, and those the snapshot read again present.
DROP TABLE dispatcher.signal_snapshot;
ALTER TABLE dispatcher.pending_recording DROP COLUMN kafka_partition;
