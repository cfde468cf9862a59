-- +goose NO TRANSACTION
-- +goose Up
-- The accepted jobs without an outcome, by when their slot was taken, for the dispatchers'
-- sweep of lost jobs (transcript.Store.Lost): a job the front door was told Kafka holds, and
-- that no worker answered in LOST_JOB_AFTER, was lost before it reached one (its topic
-- deleted or recreated, the group's offsets moved past it, another STANDALONE_KAFKA_DIR). The
-- sweep records an error for it, which tells its client and frees its slot in the queue.
-- Only open jobs are in it, few at any time: an answered job leaves it with its outcome, and
-- the sweep reads its oldest entries, never a conversation's. (00020 explains why the
-- queries of one conversation's open jobs do not use a partial index; this one leads with
-- the time, which they do not ask for.) Built concurrently, outside a transaction, as 00020:
-- a run cut short runs again from the start and first drops what it may have left.
DROP INDEX CONCURRENTLY IF EXISTS transcript.job_lost_idx;
CREATE INDEX CONCURRENTLY job_lost_idx ON transcript.job (reserved_at)
    WHERE accepted_serial IS NOT NULL AND outcome_serial IS NULL AND refused_at IS NULL;

-- +goose Down
DROP INDEX CONCURRENTLY IF EXISTS transcript.job_lost_idx;
