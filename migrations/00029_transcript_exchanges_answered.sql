-- +goose NO TRANSACTION
-- +goose Up
-- A job's earlier exchanges in the order they were answered, all of those answered before it
-- runs. 00019 read the exchanges whose Accepted event came before the job's, in that order.
-- But the Accepts of one conversation's jobs can commit in another order than their jobs were
-- written to Kafka, which is the order the workers answer them in (one at a time, in their
-- partition's order): sentences of one conversation sent at once, to one front door or two,
-- whose Accepts come back in another order than their writes, or an Accept that failed after
-- the job was written, which the worker then makes itself. The job answered second was then
-- sent without the exchange answered just before it, and a later job got the two in the
-- wrong order. The answers' own serials are the order the model saw them in, and a job's
-- context is now the last p_limit exchanges answered, whatever its Accepted serial, but for
-- its own: prepare reads the job and its exchanges in two statements, and another worker
-- redoing the job at a rebalance can record its answer in between (the accepted serial kept
-- it out before).
--
-- transcript.answered reads them backward along job_unanswered_idx (00020: a conversation's
-- jobs by outcome serial), so job_exchange_idx, which no other statement reads, is dropped:
-- one index fewer for every answered job's update. As in 00019 each answer is read by its
-- event's primary key, and the function is LANGUAGE sql with no settings of its own, so that
-- the planner inlines it into prepare and prepare_many, whose settings (sorting off) keep the
-- one plan that reads in order.
--
-- Outside a transaction, so that the index is dropped concurrently: every statement can run
-- again, as goose does with a run cut short. The functions carry their settings of 00013 and
-- 00019 (CREATE OR REPLACE resets them), stated with each so that no call finds one without.
-- +goose StatementBegin
CREATE OR REPLACE FUNCTION transcript.answered(p_conversation uuid, p_job uuid, p_limit integer)
RETURNS TABLE (sentence text, answer text)
LANGUAGE sql STABLE AS $$
    SELECT x.sentence, a.text
    FROM transcript.job x
    CROSS JOIN LATERAL (
        SELECT e.text FROM transcript.event e
        WHERE e.conversation = x.conversation AND e.serial = x.outcome_serial AND e.kind = 'reply'
        OFFSET 0
    ) a
    WHERE x.conversation = p_conversation AND x.outcome_serial IS NOT NULL AND x.job <> p_job
    ORDER BY x.outcome_serial DESC
    LIMIT p_limit
$$;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE OR REPLACE FUNCTION transcript.prepare(p_conversation uuid, p_job uuid, p_sentence text, p_limit integer, p_ttl interval)
RETURNS TABLE (serial bigint, kind text, job uuid, text text, in_reply_to text, at timestamptz,
               sentence text, answer text)
LANGUAGE plpgsql SET enable_seqscan = off SET enable_sort = off AS $$
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
    FROM transcript.answered(p_conversation, p_job, p_limit) x;
END $$;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE OR REPLACE FUNCTION transcript.prepare_many(p_conversations uuid[], p_jobs uuid[], p_limits integer[], p_ttl interval)
RETURNS TABLE (k integer, what text, serial bigint, kind text, job uuid, text text, in_reply_to text, at timestamptz,
               sentence text, answer text)
LANGUAGE plpgsql STABLE SET enable_seqscan = off SET enable_sort = off AS $$
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
            FROM transcript.answered(item.c, item.j, item.l) x;
        END IF;
    END LOOP;
END $$;
-- +goose StatementEnd
DROP FUNCTION IF EXISTS transcript.exchanges(uuid, bigint, integer);
DROP INDEX CONCURRENTLY IF EXISTS transcript.job_exchange_idx;

-- +goose Down
-- The index, transcript.exchanges, prepare and prepare_many as 00019 left them. A run cut
-- short may have left the index invalid (a concurrent build that failed): it is dropped first.
DROP INDEX CONCURRENTLY IF EXISTS transcript.job_exchange_idx;
CREATE INDEX CONCURRENTLY job_exchange_idx ON transcript.job (conversation, accepted_serial) INCLUDE (outcome_serial)
    WHERE outcome_serial IS NOT NULL;
-- +goose StatementBegin
CREATE OR REPLACE FUNCTION transcript.exchanges(p_conversation uuid, p_before bigint, p_limit integer)
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
LANGUAGE plpgsql SET enable_seqscan = off SET enable_sort = off AS $$
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
LANGUAGE plpgsql STABLE SET enable_seqscan = off SET enable_sort = off AS $$
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
DROP FUNCTION IF EXISTS transcript.answered(uuid, uuid, integer);
