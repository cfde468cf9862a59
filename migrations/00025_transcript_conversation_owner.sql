-- +goose Up
-- A conversation started by a client with a token belongs to it: only that client may open it
-- again (follow it, resume it, send to it). To any other caller it does not exist, the same
-- no_data_found as an unknown id, so that an id says nothing of what it names. One started
-- without a token has no owner, and anyone who knows its id may open it, as every
-- conversation could before this migration.
ALTER TABLE transcript.conversation ADD COLUMN IF NOT EXISTS owner uuid;

-- +goose StatementBegin
-- open_conversation with p_owner, the caller (NULL: no token). Front doors from before this
-- migration call the three-argument one, which stays: they create conversations of no owner
-- and open any, until they are replaced.
CREATE FUNCTION transcript.open_conversation(p_conversation uuid, p_create boolean, p_ttl interval, p_owner uuid)
RETURNS bigint LANGUAGE plpgsql SET enable_seqscan = off AS $$
DECLARE
    last bigint;
    owned_by uuid;
BEGIN
    IF p_create THEN
        INSERT INTO transcript.conversation (id, owner) VALUES (p_conversation, p_owner) ON CONFLICT (id) DO NOTHING;
    END IF;
    SELECT last_serial, owner INTO last, owned_by FROM transcript.conversation
    WHERE id = p_conversation AND active_at >= now() - p_ttl;
    IF NOT FOUND OR owned_by IS DISTINCT FROM p_owner AND owned_by IS NOT NULL THEN
        PERFORM transcript.gone(p_conversation);
    END IF;
    RETURN last;
END $$;
-- +goose StatementEnd

-- +goose Down
DROP FUNCTION transcript.open_conversation(uuid, boolean, interval, uuid);
ALTER TABLE transcript.conversation DROP COLUMN IF EXISTS owner;
