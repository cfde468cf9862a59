-- +goose Up
-- The transcript's functions plan with sequential scans off. Every statement in them finds its
-- rows by conversation (and job or serial), which the tables' indexes serve at any size. But
-- PL/pgSQL keeps a statement's plan for the life of the connection, and a plan made while a
-- table's statistics say it is nearly empty (a new database, or one whose conversations have
-- just expired or been deleted) scans the whole table. As the table fills, every call then
-- reads all of it, until autovacuum analyzes the table and the plans are made again; with
-- autovacuum busy elsewhere that took minutes, and on this repository's 2-core machine it
-- halved bench-llm's throughput (BENCHMARKS.md, "Fifth round"). With enable_seqscan off the
-- planner takes an index whatever the statistics say; it still scans a table when no index
-- fits, which none of these statements needs.
ALTER FUNCTION transcript.live_conversation(uuid, interval) SET enable_seqscan = off;
ALTER FUNCTION transcript.events(uuid, bigint, integer, interval) SET enable_seqscan = off;
ALTER FUNCTION transcript.append_event(uuid, uuid, text, text, text, interval) SET enable_seqscan = off;
ALTER FUNCTION transcript.open_conversation(uuid, boolean, interval) SET enable_seqscan = off;
ALTER FUNCTION transcript.locked_job(uuid, uuid, text, interval) SET enable_seqscan = off;
ALTER FUNCTION transcript.waiting(uuid, interval) SET enable_seqscan = off;
ALTER FUNCTION transcript.reserve(uuid, uuid, text, integer, interval, interval) SET enable_seqscan = off;
ALTER FUNCTION transcript.refuse(uuid, uuid, text, interval) SET enable_seqscan = off;
ALTER FUNCTION transcript.accept(uuid, uuid, text, interval) SET enable_seqscan = off;
ALTER FUNCTION transcript.finish(uuid, uuid, text, text, text, interval) SET enable_seqscan = off;
ALTER FUNCTION transcript.prepare(uuid, uuid, text, integer, interval) SET enable_seqscan = off;

-- +goose Down
ALTER FUNCTION transcript.live_conversation(uuid, interval) RESET enable_seqscan;
ALTER FUNCTION transcript.events(uuid, bigint, integer, interval) RESET enable_seqscan;
ALTER FUNCTION transcript.append_event(uuid, uuid, text, text, text, interval) RESET enable_seqscan;
ALTER FUNCTION transcript.open_conversation(uuid, boolean, interval) RESET enable_seqscan;
ALTER FUNCTION transcript.locked_job(uuid, uuid, text, interval) RESET enable_seqscan;
ALTER FUNCTION transcript.waiting(uuid, interval) RESET enable_seqscan;
ALTER FUNCTION transcript.reserve(uuid, uuid, text, integer, interval, interval) RESET enable_seqscan;
ALTER FUNCTION transcript.refuse(uuid, uuid, text, interval) RESET enable_seqscan;
ALTER FUNCTION transcript.accept(uuid, uuid, text, interval) RESET enable_seqscan;
ALTER FUNCTION transcript.finish(uuid, uuid, text, text, text, interval) RESET enable_seqscan;
ALTER FUNCTION transcript.prepare(uuid, uuid, text, integer, interval) RESET enable_seqscan;
