-- +goose Up
-- accept_many accepts the jobs of a round of Accepts (internal/transcript/pgtranscript's
-- acceptor) in one transaction, so that many admissions share one commit and its wait for the
-- disk, as the wake-ups of many appends share one notifying transaction (00012). Element k of
-- the arrays is one job, accepted as accept (00007) does it: under its conversation's lock,
-- once, a refused job not at all. One element's failure does not fail the others: each comes
-- back as a row (its index k, an outcome, and its Accepted event when the outcome is 'ok'),
-- 'gone' for a conversation that does not exist or is idle, 'refused' for a refused job.
-- The conversations are locked in the order of their ids (the jobs of one conversation in
-- the order given), so that two rounds in flight at once, from two front doors, cannot wait
-- for each other's locks in a cycle; the other writers lock one conversation each.
-- +goose StatementBegin
CREATE FUNCTION transcript.accept_many(p_conversations uuid[], p_jobs uuid[], p_sentences text[], p_ttl interval)
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
-- As the other functions of the transcript (00013).
ALTER FUNCTION transcript.accept_many(uuid[], uuid[], text[], interval) SET enable_seqscan = off;

-- +goose Down
DROP FUNCTION transcript.accept_many(uuid[], uuid[], text[], interval);
