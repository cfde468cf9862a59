-- +goose Up
-- reserve_many takes the slots of a round of Reserves (internal/transcript/pgtranscript's
-- reserver) in one transaction, as accept_many (00014) records a round of Accepts: a front
-- door admitting many sentences at once runs one statement and one transaction per round,
-- not per sentence. Element k of the arrays is one job, reserved as reserve (00007) does it,
-- under its conversation's lock, against its own limit p_limits[k]. One element's outcome does
-- not decide the others': each comes back as a row, its index k and 'ok' (the job holds a
-- slot, now or from before), 'full' (the conversation has p_limits[k] jobs holding one) or
-- 'gone' (the conversation does not exist or is idle). The conversations are locked in the
-- order of their ids, as accept_many locks them, so that rounds in flight at once, of either
-- kind and from any front door, cannot wait for each other's locks in a cycle. It commits
-- without waiting for the disk, as reserve does: a reservation is a lease.
-- +goose StatementBegin
CREATE FUNCTION transcript.reserve_many(p_conversations uuid[], p_jobs uuid[], p_sentences text[], p_limits integer[],
                                        p_ttl interval, p_lease interval)
RETURNS TABLE (k integer, outcome text)
LANGUAGE plpgsql AS $$
DECLARE
    item record;
    held boolean;
    open integer;
BEGIN
    PERFORM set_config('synchronous_commit', 'off', true);
    FOR item IN
        SELECT u.k, u.c, u.j, u.s, u.l
        FROM unnest(p_conversations, p_jobs, p_sentences, p_limits) WITH ORDINALITY AS u(c, j, s, l, k)
        ORDER BY u.c, u.k
    LOOP
        k := item.k;
        PERFORM FROM transcript.conversation WHERE id = item.c AND active_at >= now() - p_ttl FOR UPDATE;
        IF NOT FOUND THEN
            outcome := 'gone';
            RETURN NEXT;
            CONTINUE;
        END IF;
        SELECT EXISTS (SELECT FROM transcript.job WHERE conversation = item.c AND job = item.j),
               (SELECT count(*) FROM transcript.job
                WHERE conversation = item.c AND outcome_serial IS NULL AND refused_at IS NULL
                  AND (accepted_serial IS NOT NULL OR reserved_at > now() - p_lease))
        INTO held, open;
        IF held THEN
            outcome := 'ok';
        ELSIF open >= item.l THEN
            outcome := 'full';
        ELSE
            INSERT INTO transcript.job (conversation, job, sentence) VALUES (item.c, item.j, item.s);
            outcome := 'ok';
        END IF;
        RETURN NEXT;
    END LOOP;
END $$;
-- +goose StatementEnd
-- As the other functions of the transcript (00013).
ALTER FUNCTION transcript.reserve_many(uuid[], uuid[], text[], integer[], interval, interval) SET enable_seqscan = off;

-- +goose Down
DROP FUNCTION transcript.reserve_many(uuid[], uuid[], text[], integer[], interval, interval);
