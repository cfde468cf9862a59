-- +goose Up
-- finish_many records the outcomes of a round of Finishes (internal/transcript/pgtranscript's
-- finisher) in one transaction, as accept_many (00014) records a round of Accepts: a worker
-- pool answering many jobs at once runs one statement and waits for the disk once per round,
-- not once per job. Element k of the arrays is one job's outcome (p_kinds[k] 'reply' or
-- 'error', with p_texts[k]), recorded as finish (00007) records it: under its conversation's
-- lock, once, the Accepted event first when nobody appended it. One element's outcome does not
-- decide the others': each comes back as a row, its index k, an outcome and, when the outcome
-- is 'ok', the job's outcome event and whether this call recorded it ('gone' for a
-- conversation that does not exist or is idle, 'refused' for a refused job). The
-- conversations are locked in the order of their ids, as accept_many and reserve_many lock
-- them, so that no two rounds wait for each other's locks in a cycle.
-- +goose StatementBegin
CREATE FUNCTION transcript.finish_many(p_conversations uuid[], p_jobs uuid[], p_sentences text[], p_kinds text[],
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
-- As the other functions of the transcript (00013).
ALTER FUNCTION transcript.finish_many(uuid[], uuid[], text[], text[], text[], interval) SET enable_seqscan = off;

-- +goose Down
DROP FUNCTION transcript.finish_many(uuid[], uuid[], text[], text[], text[], interval);
