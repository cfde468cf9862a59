-- +goose Up
-- Refused jobs. A Kafka write that times out may still land: the producer keeps the message
-- and sends it when the broker answers again. So the front door cannot release a job whose
-- write failed and say "refused" without a worker possibly answering it later. Instead the
-- transcript decides, under the conversation's lock: refuse marks a job that is not accepted
-- as refused (a worker that finds it later skips it), and prepare, where a worker takes a job,
-- accepts a job that is not accepted yet, so that refuse can no longer refuse it and the front
-- door says "enqueued" after all. Whichever comes first wins; the other sees it.
ALTER TABLE transcript.job ADD COLUMN refused_at timestamptz;

-- Refused jobs hold no slot: Reserve's count leaves them out, and so does its index.
DROP INDEX transcript.job_open_idx;
CREATE INDEX job_open_idx ON transcript.job (conversation) WHERE outcome_serial IS NULL AND refused_at IS NULL;

DROP FUNCTION transcript.release(uuid, uuid, interval);
DROP FUNCTION transcript.prepare(uuid, uuid, integer, interval);

-- +goose StatementBegin
-- refused raises, for a refused job, SQLSTATE P0003 (too_many_rows, unused otherwise here),
-- which the store reads as transcript.ErrRefused.
CREATE FUNCTION transcript.refused(p_job uuid)
RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'job % was refused', p_job USING ERRCODE = 'too_many_rows';
END $$;
-- +goose StatementEnd

-- +goose StatementBegin
-- reserve as in 00006, counting only jobs that are not refused.
CREATE OR REPLACE FUNCTION transcript.reserve(p_conversation uuid, p_job uuid, p_sentence text, p_limit integer,
                                              p_ttl interval, p_lease interval)
RETURNS boolean LANGUAGE plpgsql AS $$
DECLARE
    held boolean;
    open integer;
BEGIN
    PERFORM set_config('synchronous_commit', 'off', true);
    PERFORM FROM transcript.conversation WHERE id = p_conversation AND active_at >= now() - p_ttl FOR UPDATE;
    IF NOT FOUND THEN
        PERFORM transcript.gone(p_conversation);
    END IF;
    SELECT EXISTS (SELECT FROM transcript.job WHERE conversation = p_conversation AND job = p_job),
           (SELECT count(*) FROM transcript.job
            WHERE conversation = p_conversation AND outcome_serial IS NULL AND refused_at IS NULL
              AND (accepted_serial IS NOT NULL OR reserved_at > now() - p_lease))
    INTO held, open;
    IF held THEN
        RETURN true;
    ELSIF open >= p_limit THEN
        RETURN false;
    END IF;
    INSERT INTO transcript.job (conversation, job, sentence) VALUES (p_conversation, p_job, p_sentence);
    RETURN true;
END $$;
-- +goose StatementEnd

-- +goose StatementBegin
-- refuse marks a job that is not accepted as refused and returns nothing; a job accepted
-- already (a worker took it) is left as it is and its Accepted event returned. It commits
-- waiting for the disk: the front door tells the client the job will never be answered.
CREATE FUNCTION transcript.refuse(p_conversation uuid, p_job uuid, p_sentence text, p_ttl interval)
RETURNS SETOF transcript.event LANGUAGE plpgsql AS $$
DECLARE
    j transcript.job;
BEGIN
    j := transcript.locked_job(p_conversation, p_job, p_sentence, p_ttl);
    IF j.accepted_serial IS NULL THEN
        UPDATE transcript.job SET refused_at = coalesce(refused_at, now())
        WHERE conversation = p_conversation AND job = p_job;
        RETURN;
    END IF;
    RETURN QUERY SELECT * FROM transcript.event WHERE conversation = p_conversation AND serial = j.accepted_serial;
END $$;
-- +goose StatementEnd

-- +goose StatementBegin
-- accept as in 00006; a refused job raises P0003.
CREATE OR REPLACE FUNCTION transcript.accept(p_conversation uuid, p_job uuid, p_sentence text, p_ttl interval)
RETURNS transcript.event LANGUAGE plpgsql AS $$
DECLARE
    j  transcript.job;
    ev transcript.event;
BEGIN
    j := transcript.locked_job(p_conversation, p_job, p_sentence, p_ttl);
    IF j.refused_at IS NOT NULL THEN
        PERFORM transcript.refused(p_job);
    ELSIF j.accepted_serial IS NULL THEN
        RETURN transcript.append_event(p_conversation, p_job, 'accepted', j.sentence, '', p_ttl);
    END IF;
    SELECT * INTO STRICT ev FROM transcript.event WHERE conversation = p_conversation AND serial = j.accepted_serial;
    RETURN ev;
END $$;
-- +goose StatementEnd

-- +goose StatementBegin
-- finish as in 00006; a refused job raises P0003.
CREATE OR REPLACE FUNCTION transcript.finish(p_conversation uuid, p_job uuid, p_sentence text, p_kind text, p_text text,
                                             p_ttl interval, OUT ev transcript.event, OUT recorded boolean)
LANGUAGE plpgsql AS $$
DECLARE
    j transcript.job;
BEGIN
    j := transcript.locked_job(p_conversation, p_job, p_sentence, p_ttl);
    IF j.refused_at IS NOT NULL THEN
        PERFORM transcript.refused(p_job);
    END IF;
    recorded := j.outcome_serial IS NULL;
    IF NOT recorded THEN
        SELECT * INTO STRICT ev FROM transcript.event WHERE conversation = p_conversation AND serial = j.outcome_serial;
        RETURN;
    END IF;
    IF j.accepted_serial IS NULL THEN -- nobody recorded the job before its outcome
        PERFORM transcript.append_event(p_conversation, p_job, 'accepted', j.sentence, '', p_ttl);
    END IF;
    ev := transcript.append_event(p_conversation, p_job, p_kind, p_text, j.sentence, p_ttl);
END $$;
-- +goose StatementEnd

-- +goose StatementBegin
-- prepare takes a job for a worker and returns what the worker reads before it answers, in
-- one call. Rows come in this order, each kind at most once except exchanges:
--   - kind 'refused' (every other column NULL): the job was refused; nothing else follows;
--   - the job's outcome event ('reply' or 'error'); nothing else follows;
--   - the job's Accepted event, when prepare appended it (the job was neither accepted nor
--     refused: it is in the queue, since a worker has it); the caller notifies it;
--   - exchanges (sentence, answer; the event columns NULL): the newest answered exchanges
--     accepted before the job, newest first (the index reads them in that order and stops
--     after p_limit).
-- A job that is accepted already, the usual case, is read without a lock or a write.
CREATE FUNCTION transcript.prepare(p_conversation uuid, p_job uuid, p_sentence text, p_limit integer, p_ttl interval)
RETURNS TABLE (serial bigint, kind text, job uuid, text text, in_reply_to text, at timestamptz,
               sentence text, answer text)
LANGUAGE plpgsql AS $$
DECLARE
    live     boolean;
    accepted bigint;
    done     bigint;
    j        transcript.job;
    ev       transcript.event;
BEGIN
    SELECT c.active_at >= now() - p_ttl, x.accepted_serial, x.outcome_serial INTO live, accepted, done
    FROM transcript.conversation c
    LEFT JOIN transcript.job x ON x.conversation = c.id AND x.job = p_job
    WHERE c.id = p_conversation;
    IF live IS NOT TRUE THEN
        PERFORM transcript.gone(p_conversation);
    END IF;
    IF accepted IS NULL THEN -- not taken yet: decide under the lock
        j := transcript.locked_job(p_conversation, p_job, p_sentence, p_ttl);
        accepted := j.accepted_serial;
        done := j.outcome_serial;
        IF j.refused_at IS NOT NULL THEN
            RETURN QUERY SELECT NULL::bigint, 'refused'::text, NULL::uuid, NULL::text, NULL::text, NULL::timestamptz,
                NULL::text, NULL::text;
            RETURN;
        ELSIF accepted IS NULL THEN
            ev := transcript.append_event(p_conversation, p_job, 'accepted', j.sentence, '', p_ttl);
            accepted := ev.serial;
            RETURN QUERY SELECT ev.serial, ev.kind, ev.job, ev.text, ev.in_reply_to, ev.at, NULL::text, NULL::text;
        END IF;
    END IF;
    IF done IS NOT NULL THEN
        RETURN QUERY SELECT e.serial, e.kind, e.job, e.text, e.in_reply_to, e.at, NULL::text, NULL::text
        FROM transcript.event e WHERE e.conversation = p_conversation AND e.serial = done;
        RETURN;
    END IF;
    RETURN QUERY SELECT NULL::bigint, NULL::text, NULL::uuid, NULL::text, NULL::text, NULL::timestamptz, x.sentence, e.text
    FROM transcript.job x
    JOIN transcript.event e ON e.conversation = x.conversation AND e.serial = x.outcome_serial
    WHERE x.conversation = p_conversation AND x.outcome_serial IS NOT NULL AND e.kind = 'reply'
      AND x.accepted_serial < accepted
    ORDER BY x.accepted_serial DESC
    LIMIT p_limit;
END $$;
-- +goose StatementEnd

-- +goose Down
-- The functions of 00006 that 00007 replaced, as they were.
DROP FUNCTION transcript.prepare(uuid, uuid, text, integer, interval);
DROP FUNCTION transcript.refuse(uuid, uuid, text, interval);

-- +goose StatementBegin
CREATE OR REPLACE FUNCTION transcript.finish(p_conversation uuid, p_job uuid, p_sentence text, p_kind text, p_text text,
                                             p_ttl interval, OUT ev transcript.event, OUT recorded boolean)
LANGUAGE plpgsql AS $$
DECLARE
    j transcript.job;
BEGIN
    j := transcript.locked_job(p_conversation, p_job, p_sentence, p_ttl);
    recorded := j.outcome_serial IS NULL;
    IF NOT recorded THEN
        SELECT * INTO STRICT ev FROM transcript.event WHERE conversation = p_conversation AND serial = j.outcome_serial;
        RETURN;
    END IF;
    IF j.accepted_serial IS NULL THEN
        PERFORM transcript.append_event(p_conversation, p_job, 'accepted', j.sentence, '', p_ttl);
    END IF;
    ev := transcript.append_event(p_conversation, p_job, p_kind, p_text, j.sentence, p_ttl);
END $$;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE OR REPLACE FUNCTION transcript.accept(p_conversation uuid, p_job uuid, p_sentence text, p_ttl interval)
RETURNS transcript.event LANGUAGE plpgsql AS $$
DECLARE
    j  transcript.job;
    ev transcript.event;
BEGIN
    j := transcript.locked_job(p_conversation, p_job, p_sentence, p_ttl);
    IF j.accepted_serial IS NULL THEN
        RETURN transcript.append_event(p_conversation, p_job, 'accepted', j.sentence, '', p_ttl);
    END IF;
    SELECT * INTO STRICT ev FROM transcript.event WHERE conversation = p_conversation AND serial = j.accepted_serial;
    RETURN ev;
END $$;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE OR REPLACE FUNCTION transcript.reserve(p_conversation uuid, p_job uuid, p_sentence text, p_limit integer,
                                              p_ttl interval, p_lease interval)
RETURNS boolean LANGUAGE plpgsql AS $$
DECLARE
    held boolean;
    open integer;
BEGIN
    PERFORM set_config('synchronous_commit', 'off', true);
    PERFORM FROM transcript.conversation WHERE id = p_conversation AND active_at >= now() - p_ttl FOR UPDATE;
    IF NOT FOUND THEN
        PERFORM transcript.gone(p_conversation);
    END IF;
    SELECT EXISTS (SELECT FROM transcript.job WHERE conversation = p_conversation AND job = p_job),
           (SELECT count(*) FROM transcript.job
            WHERE conversation = p_conversation AND outcome_serial IS NULL
              AND (accepted_serial IS NOT NULL OR reserved_at > now() - p_lease))
    INTO held, open;
    IF held THEN
        RETURN true;
    ELSIF open >= p_limit THEN
        RETURN false;
    END IF;
    INSERT INTO transcript.job (conversation, job, sentence) VALUES (p_conversation, p_job, p_sentence);
    RETURN true;
END $$;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE FUNCTION transcript.release(p_conversation uuid, p_job uuid, p_ttl interval)
RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    PERFORM set_config('synchronous_commit', 'off', true);
    PERFORM FROM transcript.conversation WHERE id = p_conversation AND active_at >= now() - p_ttl FOR UPDATE;
    IF NOT FOUND THEN
        PERFORM transcript.gone(p_conversation);
    END IF;
    DELETE FROM transcript.job WHERE conversation = p_conversation AND job = p_job AND accepted_serial IS NULL;
END $$;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE FUNCTION transcript.prepare(p_conversation uuid, p_job uuid, p_limit integer, p_ttl interval)
RETURNS TABLE (serial bigint, kind text, job uuid, text text, in_reply_to text, at timestamptz,
               sentence text, answer text)
LANGUAGE plpgsql STABLE AS $$
DECLARE
    r record;
BEGIN
    SELECT c.active_at >= now() - p_ttl AS live, j.accepted_serial AS accepted,
           e.serial AS o_serial, e.kind AS o_kind, e.text AS o_text, e.in_reply_to AS o_in_reply_to, e.at AS o_at
    INTO r FROM transcript.conversation c
    LEFT JOIN transcript.job j ON j.conversation = c.id AND j.job = p_job
    LEFT JOIN transcript.event e ON e.conversation = c.id AND e.serial = j.outcome_serial
    WHERE c.id = p_conversation;
    IF r.live IS NOT TRUE THEN
        PERFORM transcript.gone(p_conversation);
    END IF;
    IF r.o_serial IS NOT NULL THEN
        RETURN QUERY SELECT r.o_serial, r.o_kind, p_job, r.o_text, r.o_in_reply_to, r.o_at, NULL::text, NULL::text;
    END IF;
    RETURN QUERY SELECT NULL::bigint, NULL::text, NULL::uuid, NULL::text, NULL::text, NULL::timestamptz, x.sentence, e.text
    FROM transcript.job x
    JOIN transcript.event e ON e.conversation = x.conversation AND e.serial = x.outcome_serial
    WHERE x.conversation = p_conversation AND x.outcome_serial IS NOT NULL AND e.kind = 'reply'
      AND x.accepted_serial < coalesce(r.accepted, 9223372036854775807)
    ORDER BY x.accepted_serial DESC
    LIMIT p_limit;
END $$;
-- +goose StatementEnd

DROP FUNCTION transcript.refused(uuid);
DROP INDEX transcript.job_open_idx;
CREATE INDEX job_open_idx ON transcript.job (conversation) WHERE outcome_serial IS NULL;
ALTER TABLE transcript.job DROP COLUMN refused_at;
