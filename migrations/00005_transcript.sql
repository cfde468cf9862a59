-- +goose Up
-- The transcript of queued conversations (internal/transcript/pgtranscript): every event a
-- client sees on a conversation, with a serial per conversation, so that a conversation
-- outlives its stream and can be replayed on whichever front door the client reaches. Both
-- ends of the queue write it: front doors admit and accept sentences, workers record outcomes.
CREATE SCHEMA IF NOT EXISTS transcript;

-- One row per conversation. Every write to a conversation locks its row first, which
-- serialises the writers of one conversation across processes: last_serial then hands out
-- gapless serials, and admission counts slots without racing. active_at (the last append)
-- decides when a conversation is idle: past the TTL it is gone for every caller, and Expire
-- deletes it (the index finds the oldest first).
CREATE TABLE transcript.conversation (
    id          uuid PRIMARY KEY,
    last_serial bigint NOT NULL DEFAULT 0,
    created_at  timestamptz NOT NULL DEFAULT now(),
    active_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX conversation_active_at_idx ON transcript.conversation (active_at);

-- One row per job (a sentence put to the queue): its admission (reserved_at, a slot held
-- until the outcome), and the serials of its Accepted and outcome events, which make Accept
-- and Finish happen once however often they are called. A job holds a slot while it has no
-- outcome and is accepted, or was reserved less than a lease ago.
CREATE TABLE transcript.job (
    conversation    uuid NOT NULL REFERENCES transcript.conversation (id) ON DELETE CASCADE,
    job             uuid NOT NULL,
    sentence        text NOT NULL,
    reserved_at     timestamptz NOT NULL DEFAULT now(),
    accepted_serial bigint,
    outcome_serial  bigint,
    PRIMARY KEY (conversation, job)
);
-- The jobs that may hold a slot, counted by every Reserve (and listed by Waiting); finished
-- jobs pile up, these do not.
CREATE INDEX job_open_idx ON transcript.job (conversation) WHERE outcome_serial IS NULL;
-- Exchanges: a conversation's finished jobs in the order they were accepted.
CREATE INDEX job_exchange_idx ON transcript.job (conversation, accepted_serial) INCLUDE (outcome_serial)
    WHERE outcome_serial IS NOT NULL;

-- The events themselves, as clients receive them, in serial order: replay is a range scan of
-- the primary key.
CREATE TABLE transcript.event (
    conversation uuid NOT NULL REFERENCES transcript.conversation (id) ON DELETE CASCADE,
    serial       bigint NOT NULL,
    kind         text NOT NULL CHECK (kind IN ('accepted', 'reply', 'error')),
    job          uuid NOT NULL,
    text         text NOT NULL,
    in_reply_to  text NOT NULL DEFAULT '',  -- the job's sentence, for 'reply' and 'error'
    at           timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (conversation, serial)
);

-- +goose Down
DROP SCHEMA transcript CASCADE;
