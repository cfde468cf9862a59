-- +goose Up
-- A recording is pending while it waits for signals: not processed, with at least one signal
-- present. The dispatcher used to keep one whose signals were all deleted, or moved to
-- another recording, so it was counted as pending for ever and reported incomplete; it now
-- forgets such a recording when the change that empties it is applied. This forgets those
-- kept before. A signal that comes later makes the recording pending again. Dispatchers may be
-- running meanwhile (a rolling update): the lock waits for their batches under way to commit,
-- so that the signals they wrote are seen, and holds new ones until this commits, rather than
-- letting this delete a row one of them has just written.
LOCK TABLE dispatcher.pending_recording IN SHARE ROW EXCLUSIVE MODE;
DELETE FROM dispatcher.pending_recording p
WHERE NOT EXISTS (
    SELECT 1 FROM dispatcher.signal_state s WHERE s.recording = p.recording AND NOT s.deleted
);

-- +goose Down
-- Nothing to restore: the rows deleted described recordings that wait for nothing.
