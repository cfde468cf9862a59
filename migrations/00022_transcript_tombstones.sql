-- +goose NO TRANSACTION
-- +goose Up
-- An expired conversation keeps its row for a while, as a tombstone, so that its id cannot
-- start a new conversation while anything of the old one may still be about (pgtranscript's
-- Expire). Before, Expire deleted the row at once, and a client naming the id started a new
-- conversation with it, from serial 1: a watcher of the old one that had not read since took
-- the new one's events for the old one's, and a job of the old one still in Kafka was
-- answered in the new one.
--
-- Expire now empties a conversation (its jobs and events go) and marks its row expired:
-- expired_at says when, and active_at is set to -infinity, so that the row is idle to every
-- reader whatever its TTL, and every function that checks liveness (active_at >= now() -
-- ttl) finds it gone without a change. A later Expire deletes rows expired longer ago than
-- the TTL, found through the index below. A dispatcher from before this migration deletes
-- every idle row, tombstones included, as it did: until every dispatcher runs the code of
-- this migration, an expired id may be forgotten at once.
--
-- Outside a transaction, as 00020: the column is added at once (no default to write), and
-- the index is built concurrently, so that admissions go on while a large table is read. A
-- run cut short runs again from the start: the column is added only if missing, and an index
-- left invalid by a failed concurrent build is dropped first.
ALTER TABLE transcript.conversation ADD COLUMN IF NOT EXISTS expired_at timestamptz;
DROP INDEX CONCURRENTLY IF EXISTS transcript.conversation_expired_at_idx;
CREATE INDEX CONCURRENTLY conversation_expired_at_idx ON transcript.conversation (expired_at) WHERE expired_at IS NOT NULL;

-- +goose Down
DROP INDEX CONCURRENTLY IF EXISTS transcript.conversation_expired_at_idx;
-- The tombstones go, as Expire deleted expired conversations before this migration.
DELETE FROM transcript.conversation WHERE expired_at IS NOT NULL;
ALTER TABLE transcript.conversation DROP COLUMN IF EXISTS expired_at;
