-- +goose Up
-- wake sends the notifications of a round of appends (internal/transcript/pgtranscript's
-- waker): one per element, in order, on the conversation's channel, with its payload (the
-- event itself as JSON, or only its serial when that would not fit in a notification's 8000
-- bytes). A front door that holds the events it was woken for sends them to its streams
-- without reading them back. Like notify (00006), it runs in a transaction of its own that
-- does not wait for the disk; notify stays for the front doors and workers of the version
-- before, during an upgrade.
-- +goose StatementBegin
CREATE FUNCTION transcript.wake(p_conversations uuid[], p_payloads text[])
RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    PERFORM set_config('synchronous_commit', 'off', true);
    PERFORM pg_notify('transcript_' || replace(c::text, '-', ''), p)
    FROM unnest(p_conversations, p_payloads) WITH ORDINALITY AS u(c, p, i)
    ORDER BY i;
END $$;
-- +goose StatementEnd

-- +goose Down
DROP FUNCTION transcript.wake(uuid[], text[]);
