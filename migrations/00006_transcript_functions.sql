-- +goose Up
-- The transcript's operations as functions (internal/transcript/pgtranscript calls each with
-- one statement), so that every operation is one round trip and one implicit transaction
-- instead of a BEGIN, a lock, two to four statements and a COMMIT from the client: a sentence
-- and its answer cost the front door and the worker about a third of the round trips, and
-- Postgres parses, plans and wakes up that much less. The rules are those of 00005's comments;
-- each function states its part.
--
-- A conversation that does not exist, or has been idle longer than the TTL the caller passes,
-- raises SQLSTATE P0002 (no_data_found), which the store reads as "unknown or expired". Within
-- a function each statement sees what was committed before it, as separate statements would:
-- the writers take the conversation's lock first, so what they read after it cannot change
-- until they commit.

-- +goose StatementBegin
-- live_conversation raises no_data_found unless the conversation exists and is not idle;
-- with lock, it also locks the conversation's row, which every writer takes first.
CREATE FUNCTION transcript.live_conversation(p_conversation uuid, p_ttl interval, p_lock boolean)
RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
    last bigint;
    live boolean;
BEGIN
    IF p_lock THEN
        SELECT last_serial, active_at >= now() - p_ttl INTO last, live
        FROM transcript.conversation WHERE id = p_conversation FOR UPDATE;
    ELSE
        SELECT last_serial, active_at >= now() - p_ttl INTO last, live
        FROM transcript.conversation WHERE id = p_conversation;
    END IF;
    IF live IS NOT TRUE THEN
        RAISE EXCEPTION 'unknown or expired conversation %', p_conversation USING ERRCODE = 'no_data_found';
    END IF;
    RETURN last;
END $$;
-- +goose StatementEnd

-- +goose StatementBegin
-- append_event appends an event to a conversation whose lock the caller holds. The serial
-- comes from the conversation's row, bumped in the same transaction, so a serial exists only
-- with its event and never twice; the bump also marks the conversation active. The
-- notification on the conversation's channel (its payload is the serial) goes out when the
-- transaction commits, never for a rolled-back event.
CREATE FUNCTION transcript.append_event(p_conversation uuid, p_kind text, p_job uuid, p_text text, p_in_reply_to text)
RETURNS transcript.event LANGUAGE plpgsql AS $$
DECLARE
    ev transcript.event;
BEGIN
    UPDATE transcript.conversation SET last_serial = last_serial + 1, active_at = now()
    WHERE id = p_conversation RETURNING last_serial INTO ev.serial;
    INSERT INTO transcript.event (conversation, serial, kind, job, text, in_reply_to, at)
    VALUES (p_conversation, ev.serial, p_kind, p_job, p_text, p_in_reply_to, now())
    RETURNING * INTO ev;
    PERFORM pg_notify('transcript_' || replace(p_conversation::text, '-', ''), ev.serial::text);
    RETURN ev;
END $$;
-- +goose StatementEnd

-- +goose StatementBegin
-- open_conversation returns a live conversation's last serial; with create, a conversation
-- that does not exist is created empty first (an idle one is still no_data_found: its serials
-- must not be reused).
CREATE FUNCTION transcript.open_conversation(p_conversation uuid, p_create boolean, p_ttl interval)
RETURNS bigint LANGUAGE plpgsql AS $$
BEGIN
    IF p_create THEN
        INSERT INTO transcript.conversation (id) VALUES (p_conversation) ON CONFLICT (id) DO NOTHING;
    END IF;
    RETURN transcript.live_conversation(p_conversation, p_ttl, false);
END $$;
-- +goose StatementEnd

-- +goose StatementBegin
-- reserve takes a slot for a job and returns true, or returns false when the conversation
-- already has p_limit jobs holding one (accepted without an outcome, or reserved less than
-- p_lease ago). The slots are counted under the conversation's lock, so two front doors
-- cannot both take the last one. A job reserved before keeps its one slot.
CREATE FUNCTION transcript.reserve(p_conversation uuid, p_job uuid, p_sentence text, p_limit integer,
                                   p_ttl interval, p_lease interval)
RETURNS boolean LANGUAGE plpgsql AS $$
DECLARE
    open integer;
BEGIN
    PERFORM transcript.live_conversation(p_conversation, p_ttl, true);
    IF EXISTS (SELECT FROM transcript.job WHERE conversation = p_conversation AND job = p_job) THEN
        RETURN true;
    END IF;
    SELECT count(*) INTO open FROM transcript.job
    WHERE conversation = p_conversation AND outcome_serial IS NULL
      AND (accepted_serial IS NOT NULL OR reserved_at > now() - p_lease);
    IF open >= p_limit THEN
        RETURN false;
    END IF;
    INSERT INTO transcript.job (conversation, job, sentence) VALUES (p_conversation, p_job, p_sentence);
    RETURN true;
END $$;
-- +goose StatementEnd

-- +goose StatementBegin
-- release gives back the slot of a job that was not accepted.
CREATE FUNCTION transcript.release(p_conversation uuid, p_job uuid, p_ttl interval)
RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    PERFORM transcript.live_conversation(p_conversation, p_ttl, true);
    DELETE FROM transcript.job WHERE conversation = p_conversation AND job = p_job AND accepted_serial IS NULL;
END $$;
-- +goose StatementEnd

-- +goose StatementBegin
-- locked_job locks a live conversation and returns its job's row, inserting it (reserved now,
-- with p_sentence) when the front door's reservation is missing. Every write to the
-- conversation's jobs takes that lock, so the row cannot change before the caller commits.
CREATE FUNCTION transcript.locked_job(p_conversation uuid, p_job uuid, p_sentence text, p_ttl interval)
RETURNS transcript.job LANGUAGE plpgsql AS $$
DECLARE
    j transcript.job;
BEGIN
    PERFORM transcript.live_conversation(p_conversation, p_ttl, true);
    INSERT INTO transcript.job (conversation, job, sentence) VALUES (p_conversation, p_job, p_sentence)
    ON CONFLICT (conversation, job) DO NOTHING;
    SELECT * INTO STRICT j FROM transcript.job WHERE conversation = p_conversation AND job = p_job;
    RETURN j;
END $$;
-- +goose StatementEnd

-- +goose StatementBegin
-- accept appends the job's Accepted event, once, and returns it; called again, it returns the
-- event appended the first time.
CREATE FUNCTION transcript.accept(p_conversation uuid, p_job uuid, p_sentence text, p_ttl interval)
RETURNS transcript.event LANGUAGE plpgsql AS $$
DECLARE
    j  transcript.job;
    ev transcript.event;
BEGIN
    j := transcript.locked_job(p_conversation, p_job, p_sentence, p_ttl);
    IF j.accepted_serial IS NOT NULL THEN
        SELECT * INTO STRICT ev FROM transcript.event WHERE conversation = p_conversation AND serial = j.accepted_serial;
        RETURN ev;
    END IF;
    ev := transcript.append_event(p_conversation, 'accepted', p_job, j.sentence, '');
    UPDATE transcript.job SET accepted_serial = ev.serial WHERE conversation = p_conversation AND job = p_job;
    RETURN ev;
END $$;
-- +goose StatementEnd

-- +goose StatementBegin
-- finish records the job's outcome (p_kind 'reply' or 'error'), once: it appends the Accepted
-- event first if the front door could not, then the outcome, which frees the job's slot.
-- Called again, it appends nothing and returns the first outcome with recorded false.
CREATE FUNCTION transcript.finish(p_conversation uuid, p_job uuid, p_sentence text, p_kind text, p_text text,
                                  p_ttl interval, OUT ev transcript.event, OUT recorded boolean)
LANGUAGE plpgsql AS $$
DECLARE
    j   transcript.job;
    acc transcript.event;
BEGIN
    j := transcript.locked_job(p_conversation, p_job, p_sentence, p_ttl);
    IF j.outcome_serial IS NOT NULL THEN
        SELECT * INTO STRICT ev FROM transcript.event WHERE conversation = p_conversation AND serial = j.outcome_serial;
        recorded := false;
        RETURN;
    END IF;
    IF j.accepted_serial IS NULL THEN -- the front door died between enqueueing and accept
        acc := transcript.append_event(p_conversation, 'accepted', p_job, j.sentence, '');
        j.accepted_serial := acc.serial;
    END IF;
    ev := transcript.append_event(p_conversation, p_kind, p_job, p_text, j.sentence);
    UPDATE transcript.job SET accepted_serial = j.accepted_serial, outcome_serial = ev.serial
    WHERE conversation = p_conversation AND job = p_job;
    recorded := true;
END $$;
-- +goose StatementEnd

-- The reads check that the conversation is live in the same round trip. They run in the
-- caller's snapshot (STABLE), and p_limit NULL means no limit.

-- +goose StatementBegin
-- events returns the events with a serial above p_after, oldest first: a range scan of the
-- primary key.
CREATE FUNCTION transcript.events(p_conversation uuid, p_after bigint, p_limit integer, p_ttl interval)
RETURNS SETOF transcript.event LANGUAGE plpgsql STABLE AS $$
BEGIN
    PERFORM transcript.live_conversation(p_conversation, p_ttl, false);
    RETURN QUERY SELECT * FROM transcript.event
    WHERE conversation = p_conversation AND serial > p_after ORDER BY serial LIMIT p_limit;
END $$;
-- +goose StatementEnd

-- +goose StatementBegin
-- outcome returns the job's outcome event, if it has one.
CREATE FUNCTION transcript.outcome(p_conversation uuid, p_job uuid, p_ttl interval)
RETURNS SETOF transcript.event LANGUAGE plpgsql STABLE AS $$
BEGIN
    PERFORM transcript.live_conversation(p_conversation, p_ttl, false);
    RETURN QUERY SELECT e.* FROM transcript.job j
    JOIN transcript.event e ON e.conversation = j.conversation AND e.serial = j.outcome_serial
    WHERE j.conversation = p_conversation AND j.job = p_job;
END $$;
-- +goose StatementEnd

-- +goose StatementBegin
-- waiting returns the accepted jobs without an outcome, in the order they were accepted.
CREATE FUNCTION transcript.waiting(p_conversation uuid, p_ttl interval)
RETURNS SETOF uuid LANGUAGE plpgsql STABLE AS $$
BEGIN
    PERFORM transcript.live_conversation(p_conversation, p_ttl, false);
    RETURN QUERY SELECT job FROM transcript.job
    WHERE conversation = p_conversation AND outcome_serial IS NULL AND accepted_serial IS NOT NULL
    ORDER BY accepted_serial;
END $$;
-- +goose StatementEnd

-- +goose StatementBegin
-- exchanges returns the newest answered exchanges (sentence, reply) accepted before the job,
-- newest first (the index reads them in that order and stops after p_limit); all of them
-- when the job was not accepted.
CREATE FUNCTION transcript.exchanges(p_conversation uuid, p_job uuid, p_limit integer, p_ttl interval)
RETURNS TABLE (sentence text, answer text) LANGUAGE plpgsql STABLE AS $$
BEGIN
    PERFORM transcript.live_conversation(p_conversation, p_ttl, false);
    RETURN QUERY SELECT j.sentence, e.text FROM transcript.job j
    JOIN transcript.event e ON e.conversation = j.conversation AND e.serial = j.outcome_serial
    WHERE j.conversation = p_conversation AND j.outcome_serial IS NOT NULL AND e.kind = 'reply'
      AND j.accepted_serial < coalesce(
          (SELECT accepted_serial FROM transcript.job WHERE conversation = p_conversation AND job = p_job),
          9223372036854775807)
    ORDER BY j.accepted_serial DESC
    LIMIT p_limit;
END $$;
-- +goose StatementEnd

-- +goose Down
DROP FUNCTION transcript.exchanges(uuid, uuid, integer, interval);
DROP FUNCTION transcript.waiting(uuid, interval);
DROP FUNCTION transcript.outcome(uuid, uuid, interval);
DROP FUNCTION transcript.events(uuid, bigint, integer, interval);
DROP FUNCTION transcript.finish(uuid, uuid, text, text, text, interval);
DROP FUNCTION transcript.accept(uuid, uuid, text, interval);
DROP FUNCTION transcript.locked_job(uuid, uuid, text, interval);
DROP FUNCTION transcript.release(uuid, uuid, interval);
DROP FUNCTION transcript.reserve(uuid, uuid, text, integer, interval, interval);
DROP FUNCTION transcript.open_conversation(uuid, boolean, interval);
DROP FUNCTION transcript.append_event(uuid, text, uuid, text, text);
DROP FUNCTION transcript.live_conversation(uuid, interval, boolean);
