-- +goose Up
-- Debezium keys change events by recording (message.key.columns), so that one recording's
-- changes share a partition and arrive in commit order. With the default replica identity a
-- delete carries only the primary key, so its event would have an empty key, land on another
-- partition and lose its order. FULL logs the whole old row for updates and deletes: a little
-- more WAL on rare operations, for deletes that stay in order.
ALTER TABLE datastore.signal REPLICA IDENTITY FULL;

-- A signal covers a finite stretch of time: both ends of its span are required.
ALTER TABLE datastore.signal
    ADD CONSTRAINT signal_span_bounded CHECK (NOT lower_inf(span) AND NOT upper_inf(span));

-- +goose Down
ALTER TABLE datastore.signal DROP CONSTRAINT signal_span_bounded;
ALTER TABLE datastore.signal REPLICA IDENTITY DEFAULT;
