-- +goose Up
-- record_model_calls counts the tokens of a round of model calls (internal/access's
-- RecordModelCall, gathered by internal/rounds) in one statement and one transaction, as
-- record_model_call (00011) counts one: each job once however often it is recorded, the
-- day's totals grown only by the jobs new here. A round adds to each client's row for the day
-- once, with the round's sums, so the workers take that row's lock once per round instead of
-- once per call. It returns the jobs this call counted. Like record_model_call it commits
-- without waiting for the disk (00011 says why nothing is lost), and it inserts and upserts
-- in the order of the keys, so that two rounds in flight at once cannot wait for each other's
-- rows in a cycle.
-- +goose StatementBegin
CREATE FUNCTION access.record_model_calls(p_jobs uuid[], p_clients uuid[], p_prompts integer[], p_completions integer[])
RETURNS TABLE (counted uuid) LANGUAGE plpgsql AS $$
BEGIN
    PERFORM set_config('synchronous_commit', 'off', true);
    RETURN QUERY
    WITH given AS (
        SELECT DISTINCT ON (u.j) u.j, u.c, u.p, u.q
        FROM unnest(p_jobs, p_clients, p_prompts, p_completions) AS u(j, c, p, q)
        ORDER BY u.j
    ), new AS (
        INSERT INTO access.model_call AS m (job, client, day, prompt_tokens, completion_tokens)
        SELECT g.j, g.c, (now() AT TIME ZONE 'UTC')::date, g.p, g.q FROM given g ORDER BY g.j
        ON CONFLICT (job) DO NOTHING
        RETURNING m.job, m.client, m.day, m.prompt_tokens, m.completion_tokens
    ), total AS (
        INSERT INTO access.daily_tokens AS d (client, day, tokens, calls, prompt_tokens, completion_tokens)
        SELECT n.client, n.day, sum(n.prompt_tokens::bigint + n.completion_tokens), count(*),
               sum(n.prompt_tokens), sum(n.completion_tokens)
        FROM new n GROUP BY n.client, n.day ORDER BY n.client, n.day
        ON CONFLICT (client, day) DO UPDATE SET tokens = d.tokens + EXCLUDED.tokens, calls = d.calls + EXCLUDED.calls,
            prompt_tokens = d.prompt_tokens + EXCLUDED.prompt_tokens,
            completion_tokens = d.completion_tokens + EXCLUDED.completion_tokens
    )
    SELECT n.job FROM new n;
END $$;
-- +goose StatementEnd

-- +goose Down
DROP FUNCTION access.record_model_calls(uuid[], uuid[], integer[], integer[]);
