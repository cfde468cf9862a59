-- +goose Up
-- Reading a job's earlier exchanges with a plan that does not depend on the tables' statistics.
-- prepare (00007) and prepare_many (00018) read them with a join of transcript.job and
-- transcript.event, whose plan PL/pgSQL makes once per connection. When the statistics say
-- that a conversation has a row or two (autovacuum analyzed the tables just after many
-- conversations expired, or on a new database), the planner reads all of the conversation's
-- jobs by the primary key, sorts them, and for each one scans all of the conversation's
-- events, matching the serial as a filter: reads that grow with the square of the
-- conversation's length, for as long as the connection keeps that plan. In bench-llm's
-- answered run on this repository's 2-core machine, a read of a job's exchanges took 0.8 ms
-- and 2,168 buffers with that plan, against 40 µs and 28 with the intended one
-- (BENCHMARKS.md, "Fourteenth round").
--
-- exchanges reads them in one way only: the job_exchange_idx index backward from the job's
-- Accepted serial (sorting is off in its callers, so no plan that sorts is taken), stopping
-- after p_limit, and each answer by the event's primary key, conversation and serial (the
-- OFFSET 0 keeps the lookup a subquery of its own, so the serial is always in its index
-- condition). It is a LANGUAGE sql function with no settings of its own, so the planner
-- inlines it into its callers' statements.
-- +goose StatementBegin
CREATE FUNCTION transcript.exchanges(p_conversation uuid, p_before bigint, p_limit integer)
RETURNS TABLE (sentence text, answer text)
LANGUAGE sql STABLE AS $$
    SELECT x.sentence, a.text
    FROM transcript.job x
    CROSS JOIN LATERAL (
        SELECT e.text FROM transcript.event e
        WHERE e.conversation = x.conversation AND e.serial = x.outcome_serial AND e.kind = 'reply'
        OFFSET 0
    ) a
    WHERE x.conversation = p_conversation AND x.outcome_serial IS NOT NULL AND x.accepted_serial < p_before
    ORDER BY x.accepted_serial DESC
    LIMIT p_limit
$$;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE OR REPLACE FUNCTION transcript.prepare(p_conversation uuid, p_job uuid, p_sentence text, p_limit integer, p_ttl interval)
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
    RETURN QUERY SELECT NULL::bigint, NULL::text, NULL::uuid, NULL::text, NULL::text, NULL::timestamptz, x.sentence, x.answer
    FROM transcript.exchanges(p_conversation, accepted, p_limit) x;
END $$;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE OR REPLACE FUNCTION transcript.prepare_many(p_conversations uuid[], p_jobs uuid[], p_limits integer[], p_ttl interval)
RETURNS TABLE (k integer, what text, serial bigint, kind text, job uuid, text text, in_reply_to text, at timestamptz,
               sentence text, answer text)
LANGUAGE plpgsql STABLE AS $$
DECLARE
    item     record;
    live     boolean;
    accepted bigint;
    done     bigint;
BEGIN
    FOR item IN
        SELECT u.k, u.c, u.j, u.l FROM unnest(p_conversations, p_jobs, p_limits) WITH ORDINALITY AS u(c, j, l, k)
    LOOP
        live := NULL; accepted := NULL; done := NULL;
        SELECT c.active_at >= now() - p_ttl, x.accepted_serial, x.outcome_serial INTO live, accepted, done
        FROM transcript.conversation c
        LEFT JOIN transcript.job x ON x.conversation = c.id AND x.job = item.j
        WHERE c.id = item.c;
        IF live IS NOT TRUE THEN
            RETURN QUERY SELECT item.k::integer, 'gone'::text, NULL::bigint, NULL::text, NULL::uuid, NULL::text,
                NULL::text, NULL::timestamptz, NULL::text, NULL::text;
        ELSIF accepted IS NULL THEN
            RETURN QUERY SELECT item.k::integer, 'unsettled'::text, NULL::bigint, NULL::text, NULL::uuid, NULL::text,
                NULL::text, NULL::timestamptz, NULL::text, NULL::text;
        ELSIF done IS NOT NULL THEN
            RETURN QUERY SELECT item.k::integer, 'outcome'::text, e.serial, e.kind, e.job, e.text, e.in_reply_to, e.at,
                NULL::text, NULL::text
            FROM transcript.event e WHERE e.conversation = item.c AND e.serial = done;
        ELSE
            RETURN QUERY SELECT item.k::integer, 'ready'::text, NULL::bigint, NULL::text, NULL::uuid, NULL::text,
                NULL::text, NULL::timestamptz, NULL::text, NULL::text;
            RETURN QUERY SELECT item.k::integer, 'exchange'::text, NULL::bigint, NULL::text, NULL::uuid, NULL::text,
                NULL::text, NULL::timestamptz, x.sentence, x.answer
            FROM transcript.exchanges(item.c, accepted, item.l) x;
        END IF;
    END LOOP;
END $$;
-- +goose StatementEnd
-- CREATE OR REPLACE resets a function's settings: those of 00013 and 00018 again, and sorting off.
ALTER FUNCTION transcript.prepare(uuid, uuid, text, integer, interval) SET enable_seqscan = off;
ALTER FUNCTION transcript.prepare(uuid, uuid, text, integer, interval) SET enable_sort = off;
ALTER FUNCTION transcript.prepare_many(uuid[], uuid[], integer[], interval) SET enable_seqscan = off;
ALTER FUNCTION transcript.prepare_many(uuid[], uuid[], integer[], interval) SET enable_sort = off;

-- +goose Down
-- prepare and prepare_many as 00007 and 00018 left them.
-- +goose StatementBegin
CREATE OR REPLACE FUNCTION transcript.prepare(p_conversation uuid, p_job uuid, p_sentence text, p_limit integer, p_ttl interval)
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

-- +goose StatementBegin
CREATE OR REPLACE FUNCTION transcript.prepare_many(p_conversations uuid[], p_jobs uuid[], p_limits integer[], p_ttl interval)
RETURNS TABLE (k integer, what text, serial bigint, kind text, job uuid, text text, in_reply_to text, at timestamptz,
               sentence text, answer text)
LANGUAGE plpgsql STABLE AS $$
DECLARE
    item     record;
    live     boolean;
    accepted bigint;
    done     bigint;
BEGIN
    FOR item IN
        SELECT u.k, u.c, u.j, u.l FROM unnest(p_conversations, p_jobs, p_limits) WITH ORDINALITY AS u(c, j, l, k)
    LOOP
        live := NULL; accepted := NULL; done := NULL;
        SELECT c.active_at >= now() - p_ttl, x.accepted_serial, x.outcome_serial INTO live, accepted, done
        FROM transcript.conversation c
        LEFT JOIN transcript.job x ON x.conversation = c.id AND x.job = item.j
        WHERE c.id = item.c;
        IF live IS NOT TRUE THEN
            RETURN QUERY SELECT item.k::integer, 'gone'::text, NULL::bigint, NULL::text, NULL::uuid, NULL::text,
                NULL::text, NULL::timestamptz, NULL::text, NULL::text;
        ELSIF accepted IS NULL THEN
            RETURN QUERY SELECT item.k::integer, 'unsettled'::text, NULL::bigint, NULL::text, NULL::uuid, NULL::text,
                NULL::text, NULL::timestamptz, NULL::text, NULL::text;
        ELSIF done IS NOT NULL THEN
            RETURN QUERY SELECT item.k::integer, 'outcome'::text, e.serial, e.kind, e.job, e.text, e.in_reply_to, e.at,
                NULL::text, NULL::text
            FROM transcript.event e WHERE e.conversation = item.c AND e.serial = done;
        ELSE
            RETURN QUERY SELECT item.k::integer, 'ready'::text, NULL::bigint, NULL::text, NULL::uuid, NULL::text,
                NULL::text, NULL::timestamptz, NULL::text, NULL::text;
            RETURN QUERY SELECT item.k::integer, 'exchange'::text, NULL::bigint, NULL::text, NULL::uuid, NULL::text,
                NULL::text, NULL::timestamptz, x.sentence, e.text
            FROM transcript.job x
            JOIN transcript.event e ON e.conversation = x.conversation AND e.serial = x.outcome_serial
            WHERE x.conversation = item.c AND x.outcome_serial IS NOT NULL AND e.kind = 'reply'
              AND x.accepted_serial < accepted
            ORDER BY x.accepted_serial DESC
            LIMIT item.l;
        END IF;
    END LOOP;
END $$;
-- +goose StatementEnd
ALTER FUNCTION transcript.prepare(uuid, uuid, text, integer, interval) SET enable_seqscan = off;
ALTER FUNCTION transcript.prepare_many(uuid[], uuid[], integer[], interval) SET enable_seqscan = off;
DROP FUNCTION transcript.exchanges(uuid, bigint, integer);
