-- +goose Up
-- prepare_many reads what the workers need before they answer a round of jobs
-- (internal/transcript/pgtranscript's preparer) in one statement, for the usual case that
-- prepare (00007) reads without a lock or a write: jobs that are accepted already. Element k
-- of the arrays is one job, its conversation and how many exchanges it may read (NULL: no
-- limit). Each element comes back as one row naming what it is, its index k first:
--   - 'gone': the conversation does not exist or is idle;
--   - 'unsettled': the job is not accepted yet (its front door has not recorded it yet, or it
--     was refused); the caller reads it again in a later round, or prepares it with prepare,
--     which settles it under the lock;
--   - 'outcome': the job has its outcome already, in the event columns;
--   - 'ready': the job is to be answered; its exchanges follow, as rows 'exchange' (sentence,
--     answer), newest first, as prepare returns them.
-- It takes no lock and writes nothing, so its rounds never wait for a writer.
-- +goose StatementBegin
CREATE FUNCTION transcript.prepare_many(p_conversations uuid[], p_jobs uuid[], p_limits integer[], p_ttl interval)
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
-- As the other functions of the transcript (00013).
ALTER FUNCTION transcript.prepare_many(uuid[], uuid[], integer[], interval) SET enable_seqscan = off;

-- +goose Down
DROP FUNCTION transcript.prepare_many(uuid[], uuid[], integer[], interval);
