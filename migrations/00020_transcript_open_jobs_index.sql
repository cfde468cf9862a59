-- +goose NO TRANSACTION
-- +goose Up
-- A conversation's open jobs (no outcome, not refused), which every Reserve counts and
-- transcript.waiting lists, were found through a partial index of them (00007). But churn
-- leaves such an index with many pages for its few live entries: every job enters it and
-- leaves it when answered, and a page emptied by vacuum stays in the index. The planner prices
-- an index scan by pages per entry, so it judged the partial index dearer than the primary
-- key, and each Reserve read every job its conversation ever had: 1.7 ms for a conversation of
-- 10,000 answered jobs, where the open ones take 0.04 ms (BENCHMARKS.md, "Sixteenth round").
-- (waiting could not use the partial index at all: it does not ask for refused_at IS NULL.)
-- An index of every job by conversation, then outcome and refusal, serves both as a range of
-- one conversation's jobs with neither, and the planner sizes it by all the table's rows,
-- whatever the churn. Built and dropped concurrently, outside a transaction: admissions go on
-- while a large table is indexed. A run cut short is recorded as not applied and runs again
-- from the start; it may have left the new index built, or invalid (a concurrent build that
-- failed), so the run first drops whatever is there under that name.
DROP INDEX CONCURRENTLY IF EXISTS transcript.job_unanswered_idx;
CREATE INDEX CONCURRENTLY job_unanswered_idx ON transcript.job (conversation, outcome_serial, refused_at);
DROP INDEX CONCURRENTLY IF EXISTS transcript.job_open_idx;

-- +goose Down
DROP INDEX CONCURRENTLY IF EXISTS transcript.job_open_idx;
CREATE INDEX CONCURRENTLY job_open_idx ON transcript.job (conversation) WHERE outcome_serial IS NULL AND refused_at IS NULL;
DROP INDEX CONCURRENTLY IF EXISTS transcript.job_unanswered_idx;
