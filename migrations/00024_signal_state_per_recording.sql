-- +goose Up
-- A signal's state is kept per recording it was in: the pair (recording, signal), set only by
-- changes that name that recording (recording.Ledger). The topic is keyed by recording, so a
-- recording's own changes are read in order, while the partitions of the recordings its
-- signals moved to may be read ahead of it. With one state per signal, a recording whose two
-- signals had both moved away, each read first where it went, had lost them by the time its
-- own changes were read, and was never processed although it had been complete.
--
-- The rows kept are each signal's state in the recording it was last in, which is what the
-- pairs hold too. A tombstone of a delete that did not say its recording (REPLICA IDENTITY
-- DEFAULT, recording NULL) becomes the pair of the nil recording.
--
-- Dispatchers from before this migration write ON CONFLICT (signal), which no longer names a
-- unique index: during a rolling update their batches fail, uncommitted, and are read again by
-- the dispatchers that replace them. Nothing is lost; the old ones retry until they stop.
LOCK TABLE dispatcher.signal_state IN SHARE ROW EXCLUSIVE MODE;
UPDATE dispatcher.signal_state SET recording = '00000000-0000-0000-0000-000000000000' WHERE recording IS NULL;
ALTER TABLE dispatcher.signal_state ALTER COLUMN recording SET NOT NULL;
ALTER TABLE dispatcher.signal_state DROP CONSTRAINT signal_state_pkey;
ALTER TABLE dispatcher.signal_state ADD PRIMARY KEY (recording, signal);
DROP INDEX dispatcher.signal_state_recording_idx;
-- Deletes that do not say their recording, and updates that may have moved a signal from a
-- recording they do not name, look the signal up in every recording.
CREATE INDEX signal_state_signal_idx ON dispatcher.signal_state (signal);

-- The positions of the source table's truncates. A truncate used to mark every signal stored
-- before it deleted, and missed those of changes older than it read after it, from a
-- partition behind the truncate's: they counted as present after it. A signal set before a
-- truncate now counts as absent for every change after the truncate, and as it was for one
-- before it. Truncates that happened before this migration have already marked their signals.
CREATE TABLE dispatcher.signal_truncate (
    source_lsn  bigint PRIMARY KEY,
    applied_at  timestamptz NOT NULL DEFAULT now()
);

-- +goose Down
-- Before 00024 a truncate marked every signal set before it deleted, at the truncate's
-- position: do that for the truncates kept here, so that none comes back.
UPDATE dispatcher.signal_state s
SET deleted = true,
    source_lsn = (SELECT min(t.source_lsn) FROM dispatcher.signal_truncate t WHERE t.source_lsn > s.source_lsn)
WHERE NOT s.deleted
  AND EXISTS (SELECT 1 FROM dispatcher.signal_truncate t WHERE t.source_lsn > s.source_lsn);
DROP TABLE dispatcher.signal_truncate;
DROP INDEX dispatcher.signal_state_signal_idx;
-- Back to one state per signal: each signal keeps its newest pair, and of a move's two halves
-- (one position) the one where the signal arrived.
DELETE FROM dispatcher.signal_state s
USING dispatcher.signal_state newer
WHERE newer.signal = s.signal
  AND (newer.source_lsn, NOT newer.deleted, newer.recording) > (s.source_lsn, NOT s.deleted, s.recording);
ALTER TABLE dispatcher.signal_state DROP CONSTRAINT signal_state_pkey;
ALTER TABLE dispatcher.signal_state ADD PRIMARY KEY (signal);
ALTER TABLE dispatcher.signal_state ALTER COLUMN recording DROP NOT NULL;
UPDATE dispatcher.signal_state SET recording = NULL WHERE recording = '00000000-0000-0000-0000-000000000000';
CREATE INDEX signal_state_recording_idx ON dispatcher.signal_state (recording);
