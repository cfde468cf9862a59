-- +goose Up
-- A job of an earlier conversation under the same id is not recorded in a later one. An
-- expired conversation's id is kept for a TTL (00022), but a job can outlive that: one whose
-- model call, or whose wait in Kafka while the dispatchers were down, took longer than the
-- two TTLs. The functions that record a job they do not know (locked_job, behind accept,
-- finish, refuse and the single prepare; accept_many; finish_many) inserted it into whatever
-- conversation had the id, so such a job's answer landed in a new conversation, after that
-- conversation's own events, and its client was never the new one's. Now a job they do not
-- know whose id is a UUIDv7 (as every front door's is) made more than half the TTL before
-- the conversation was created is an earlier conversation's: the conversation is gone to it
-- ('gone', or SQLSTATE P0002), and its worker drops it. A job of an earlier conversation was
-- made while that one was live, so at least a TTL before the id was forgotten (00022) and a
-- new conversation could take it; a job of the conversation itself is made after the
-- conversation. Half a TTL between them leaves half a TTL for the clocks of a front door and
-- Postgres to differ by. Jobs the conversation knows, and ids of other versions, are
-- recorded as before. transcript.Predates in Go is the same test.
-- +goose StatementBegin
CREATE FUNCTION transcript.predates(p_job uuid, p_created timestamptz, p_ttl interval)
RETURNS boolean LANGUAGE sql STABLE AS $$
    SELECT substr(p_job::text, 15, 1) = '7'
       AND to_timestamp(('x' || lpad(substr(replace(p_job::text, '-', ''), 1, 12), 16, '0'))::bit(64)::bigint / 1000.0)
           < p_created - p_ttl / 2
$$;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE OR REPLACE FUNCTION transcript.locked_job(p_conversation uuid, p_job uuid, p_sentence text, p_ttl interval)
RETURNS transcript.job LANGUAGE plpgsql AS $$
DECLARE
    j       transcript.job;
    created timestamptz;
BEGIN
    SELECT created_at INTO created FROM transcript.conversation
    WHERE id = p_conversation AND active_at >= now() - p_ttl FOR UPDATE;
    IF NOT FOUND THEN
        PERFORM transcript.gone(p_conversation);
    END IF;
    SELECT * INTO j FROM transcript.job WHERE conversation = p_conversation AND job = p_job;
    IF NOT FOUND THEN
        IF transcript.predates(p_job, created, p_ttl) THEN
            PERFORM transcript.gone(p_conversation);
        END IF;
        INSERT INTO transcript.job (conversation, job, sentence) VALUES (p_conversation, p_job, p_sentence)
        RETURNING * INTO j;
    END IF;
    RETURN j;
END $$;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE OR REPLACE FUNCTION transcript.accept_many(p_conversations uuid[], p_jobs uuid[], p_sentences text[], p_ttl interval)
RETURNS TABLE (k integer, outcome text, serial bigint, kind text, job uuid, text text, in_reply_to text, at timestamptz)
LANGUAGE plpgsql AS $$
DECLARE
    item    record;
    j       transcript.job;
    ev      transcript.event;
    created timestamptz;
BEGIN
    FOR item IN
        SELECT u.k, u.c, u.j, u.s
        FROM unnest(p_conversations, p_jobs, p_sentences) WITH ORDINALITY AS u(c, j, s, k)
        ORDER BY u.c, u.k
    LOOP
        k := item.k;
        SELECT created_at INTO created FROM transcript.conversation
        WHERE id = item.c AND active_at >= now() - p_ttl FOR UPDATE;
        IF FOUND THEN
            SELECT * INTO j FROM transcript.job x WHERE x.conversation = item.c AND x.job = item.j;
        END IF;
        IF created IS NULL OR (j.job IS NULL AND transcript.predates(item.j, created, p_ttl)) THEN
            outcome := 'gone';
            serial := NULL; kind := NULL; job := NULL; text := NULL; in_reply_to := NULL; at := NULL;
            RETURN NEXT;
            CONTINUE;
        END IF;
        IF j.job IS NULL THEN -- a job the conversation does not know
            INSERT INTO transcript.job (conversation, job, sentence) VALUES (item.c, item.j, item.s)
            RETURNING * INTO j;
        END IF;
        IF j.refused_at IS NOT NULL THEN
            outcome := 'refused';
            serial := NULL; kind := NULL; job := NULL; text := NULL; in_reply_to := NULL; at := NULL;
            RETURN NEXT;
            CONTINUE;
        END IF;
        IF j.accepted_serial IS NULL THEN
            ev := transcript.append_event(item.c, item.j, 'accepted', j.sentence, '', p_ttl);
        ELSE
            SELECT * INTO STRICT ev FROM transcript.event e WHERE e.conversation = item.c AND e.serial = j.accepted_serial;
        END IF;
        outcome := 'ok';
        serial := ev.serial; kind := ev.kind; job := ev.job; text := ev.text; in_reply_to := ev.in_reply_to; at := ev.at;
        RETURN NEXT;
    END LOOP;
END $$;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE OR REPLACE FUNCTION transcript.finish_many(p_conversations uuid[], p_jobs uuid[], p_sentences text[], p_kinds text[],
                                       p_texts text[], p_ttl interval)
RETURNS TABLE (k integer, outcome text, recorded boolean, serial bigint, kind text, job uuid, text text,
               in_reply_to text, at timestamptz)
LANGUAGE plpgsql AS $$
DECLARE
    item    record;
    j       transcript.job;
    ev      transcript.event;
    created timestamptz;
BEGIN
    FOR item IN
        SELECT u.k, u.c, u.j, u.s, u.o, u.t
        FROM unnest(p_conversations, p_jobs, p_sentences, p_kinds, p_texts) WITH ORDINALITY AS u(c, j, s, o, t, k)
        ORDER BY u.c, u.k
    LOOP
        k := item.k;
        recorded := NULL; serial := NULL; kind := NULL; job := NULL; text := NULL; in_reply_to := NULL; at := NULL;
        IF item.o NOT IN ('reply', 'error') THEN
            RAISE EXCEPTION 'element %: % is not an outcome', item.k, item.o USING ERRCODE = 'invalid_parameter_value';
        END IF;
        SELECT created_at INTO created FROM transcript.conversation
        WHERE id = item.c AND active_at >= now() - p_ttl FOR UPDATE;
        IF FOUND THEN
            SELECT * INTO j FROM transcript.job x WHERE x.conversation = item.c AND x.job = item.j;
        END IF;
        IF created IS NULL OR (j.job IS NULL AND transcript.predates(item.j, created, p_ttl)) THEN
            outcome := 'gone';
            RETURN NEXT;
            CONTINUE;
        END IF;
        IF j.job IS NULL THEN -- a job the conversation does not know
            INSERT INTO transcript.job (conversation, job, sentence) VALUES (item.c, item.j, item.s)
            RETURNING * INTO j;
        END IF;
        IF j.refused_at IS NOT NULL THEN
            outcome := 'refused';
            RETURN NEXT;
            CONTINUE;
        END IF;
        recorded := j.outcome_serial IS NULL;
        IF recorded THEN
            IF j.accepted_serial IS NULL THEN -- nobody recorded the job before its outcome
                PERFORM transcript.append_event(item.c, item.j, 'accepted', j.sentence, '', p_ttl);
            END IF;
            ev := transcript.append_event(item.c, item.j, item.o, item.t, j.sentence, p_ttl);
        ELSE
            SELECT * INTO STRICT ev FROM transcript.event e WHERE e.conversation = item.c AND e.serial = j.outcome_serial;
        END IF;
        outcome := 'ok';
        serial := ev.serial; kind := ev.kind; job := ev.job; text := ev.text; in_reply_to := ev.in_reply_to; at := ev.at;
        RETURN NEXT;
    END LOOP;
END $$;
-- +goose StatementEnd
-- CREATE OR REPLACE resets a function's settings: those of 00013, 00014 and 00016 again.
ALTER FUNCTION transcript.locked_job(uuid, uuid, text, interval) SET enable_seqscan = off;
ALTER FUNCTION transcript.accept_many(uuid[], uuid[], text[], interval) SET enable_seqscan = off;
ALTER FUNCTION transcript.finish_many(uuid[], uuid[], text[], text[], text[], interval) SET enable_seqscan = off;

-- +goose Down
-- locked_job, accept_many and finish_many as 00006, 00014 and 00016 left them.
-- +goose StatementBegin
CREATE OR REPLACE FUNCTION transcript.locked_job(p_conversation uuid, p_job uuid, p_sentence text, p_ttl interval)
RETURNS transcript.job LANGUAGE plpgsql AS $$
DECLARE
    j transcript.job;
BEGIN
    PERFORM FROM transcript.conversation WHERE id = p_conversation AND active_at >= now() - p_ttl FOR UPDATE;
    IF NOT FOUND THEN
        PERFORM transcript.gone(p_conversation);
    END IF;
    SELECT * INTO j FROM transcript.job WHERE conversation = p_conversation AND job = p_job;
    IF NOT FOUND THEN
        INSERT INTO transcript.job (conversation, job, sentence) VALUES (p_conversation, p_job, p_sentence)
        RETURNING * INTO j;
    END IF;
    RETURN j;
END $$;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE OR REPLACE FUNCTION transcript.accept_many(p_conversations uuid[], p_jobs uuid[], p_sentences text[], p_ttl interval)
RETURNS TABLE (k integer, outcome text, serial bigint, kind text, job uuid, text text, in_reply_to text, at timestamptz)
LANGUAGE plpgsql AS $$
DECLARE
    item record;
    j    transcript.job;
    ev   transcript.event;
BEGIN
    FOR item IN
        SELECT u.k, u.c, u.j, u.s
        FROM unnest(p_conversations, p_jobs, p_sentences) WITH ORDINALITY AS u(c, j, s, k)
        ORDER BY u.c, u.k
    LOOP
        k := item.k;
        PERFORM FROM transcript.conversation WHERE id = item.c AND active_at >= now() - p_ttl FOR UPDATE;
        IF NOT FOUND THEN
            outcome := 'gone';
            serial := NULL; kind := NULL; job := NULL; text := NULL; in_reply_to := NULL; at := NULL;
            RETURN NEXT;
            CONTINUE;
        END IF;
        SELECT * INTO j FROM transcript.job x WHERE x.conversation = item.c AND x.job = item.j;
        IF NOT FOUND THEN
            INSERT INTO transcript.job (conversation, job, sentence) VALUES (item.c, item.j, item.s)
            RETURNING * INTO j;
        END IF;
        IF j.refused_at IS NOT NULL THEN
            outcome := 'refused';
            serial := NULL; kind := NULL; job := NULL; text := NULL; in_reply_to := NULL; at := NULL;
            RETURN NEXT;
            CONTINUE;
        END IF;
        IF j.accepted_serial IS NULL THEN
            ev := transcript.append_event(item.c, item.j, 'accepted', j.sentence, '', p_ttl);
        ELSE
            SELECT * INTO STRICT ev FROM transcript.event e WHERE e.conversation = item.c AND e.serial = j.accepted_serial;
        END IF;
        outcome := 'ok';
        serial := ev.serial; kind := ev.kind; job := ev.job; text := ev.text; in_reply_to := ev.in_reply_to; at := ev.at;
        RETURN NEXT;
    END LOOP;
END $$;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE OR REPLACE FUNCTION transcript.finish_many(p_conversations uuid[], p_jobs uuid[], p_sentences text[], p_kinds text[],
                                       p_texts text[], p_ttl interval)
RETURNS TABLE (k integer, outcome text, recorded boolean, serial bigint, kind text, job uuid, text text,
               in_reply_to text, at timestamptz)
LANGUAGE plpgsql AS $$
DECLARE
    item record;
    j    transcript.job;
    ev   transcript.event;
BEGIN
    FOR item IN
        SELECT u.k, u.c, u.j, u.s, u.o, u.t
        FROM unnest(p_conversations, p_jobs, p_sentences, p_kinds, p_texts) WITH ORDINALITY AS u(c, j, s, o, t, k)
        ORDER BY u.c, u.k
    LOOP
        k := item.k;
        recorded := NULL; serial := NULL; kind := NULL; job := NULL; text := NULL; in_reply_to := NULL; at := NULL;
        IF item.o NOT IN ('reply', 'error') THEN
            RAISE EXCEPTION 'element %: % is not an outcome', item.k, item.o USING ERRCODE = 'invalid_parameter_value';
        END IF;
        PERFORM FROM transcript.conversation WHERE id = item.c AND active_at >= now() - p_ttl FOR UPDATE;
        IF NOT FOUND THEN
            outcome := 'gone';
            RETURN NEXT;
            CONTINUE;
        END IF;
        SELECT * INTO j FROM transcript.job x WHERE x.conversation = item.c AND x.job = item.j;
        IF NOT FOUND THEN
            INSERT INTO transcript.job (conversation, job, sentence) VALUES (item.c, item.j, item.s)
            RETURNING * INTO j;
        END IF;
        IF j.refused_at IS NOT NULL THEN
            outcome := 'refused';
            RETURN NEXT;
            CONTINUE;
        END IF;
        recorded := j.outcome_serial IS NULL;
        IF recorded THEN
            IF j.accepted_serial IS NULL THEN -- nobody recorded the job before its outcome
                PERFORM transcript.append_event(item.c, item.j, 'accepted', j.sentence, '', p_ttl);
            END IF;
            ev := transcript.append_event(item.c, item.j, item.o, item.t, j.sentence, p_ttl);
        ELSE
            SELECT * INTO STRICT ev FROM transcript.event e WHERE e.conversation = item.c AND e.serial = j.outcome_serial;
        END IF;
        outcome := 'ok';
        serial := ev.serial; kind := ev.kind; job := ev.job; text := ev.text; in_reply_to := ev.in_reply_to; at := ev.at;
        RETURN NEXT;
    END LOOP;
END $$;
-- +goose StatementEnd
-- CREATE OR REPLACE resets a function's settings: those of 00013, 00014 and 00016 again.
ALTER FUNCTION transcript.locked_job(uuid, uuid, text, interval) SET enable_seqscan = off;
ALTER FUNCTION transcript.accept_many(uuid[], uuid[], text[], interval) SET enable_seqscan = off;
ALTER FUNCTION transcript.finish_many(uuid[], uuid[], text[], text[], text[], interval) SET enable_seqscan = off;
DROP FUNCTION transcript.predates(uuid, timestamptz, interval);
