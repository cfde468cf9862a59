-- +goose Up
-- The jobs topic a job was written to, so that a dispatcher's sweep of lost jobs
-- (transcript.Store.Lost, 00026) takes for lost only the jobs of the topic it asked Kafka
-- about: two deployments on one database with topics of their own each took the other's
-- backlog for lost. (The topic's name, not its cluster: a standalone process on another
-- STANDALONE_KAFKA_DIR, which lost the last run's jobs, still finds them.)
-- The processes name their topic once per connection, in the setting transcript.queue (a
-- startup parameter of their pools: pgtranscript.SetQueue), and every statement that adds a
-- job, in whichever function, takes it from there: no function's arguments change, and a
-- process from before this migration, which does not set it, adds jobs of no queue (NULL),
-- which every sweep may take, as before. A constant default for the rows there already: they
-- are NULL, with no rewrite of the table.
ALTER TABLE transcript.job ADD COLUMN IF NOT EXISTS queue text
    DEFAULT nullif(current_setting('transcript.queue', true), '');

-- +goose Down
ALTER TABLE transcript.job DROP COLUMN IF EXISTS queue;
