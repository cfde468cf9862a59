-- +goose Up
-- record_model_call as in 00010, committing without waiting for the disk, and in PL/pgSQL.
--
-- Every model call of every worker adds to one row of access.daily_tokens per client and day
-- (the anonymous client's, for everyone without a token), and an update holds its row's lock
-- until the transaction ends. Waiting for the disk at commit made the workers take that lock
-- one disk flush at a time: bench-llm measured 1.5 ms per call, the slowest statement of an
-- answered sentence, and a ceiling of about one call per flush for the whole system.
--
-- Nothing is lost by it. The worker records a call before it stores the job's outcome
-- (transcript.finish), whose commit waits for the disk, and Postgres writes its log in order:
-- once the outcome is on disk, so is the count before it. A crash in between loses at most a
-- count whose job has no outcome yet, and that job is redone and counted then.
--
-- PL/pgSQL because Postgres 15 parses and plans the body of a SQL function that it cannot
-- inline on every call, while a PL/pgSQL function keeps its plans for the session: a profile
-- of bench-llm's throughput run had a sixth of Postgres's CPU in planning this function.
-- +goose StatementBegin
CREATE OR REPLACE FUNCTION access.record_model_call(p_job uuid, p_client uuid, p_prompt integer, p_completion integer)
RETURNS boolean LANGUAGE plpgsql AS $$
DECLARE
    counted boolean;
BEGIN
    PERFORM set_config('synchronous_commit', 'off', true);
    WITH new AS (
        INSERT INTO access.model_call (job, client, day, prompt_tokens, completion_tokens)
        VALUES (p_job, p_client, (now() AT TIME ZONE 'UTC')::date, p_prompt, p_completion)
        ON CONFLICT (job) DO NOTHING
        RETURNING client, day, prompt_tokens, completion_tokens
    ), total AS (
        INSERT INTO access.daily_tokens AS d (client, day, tokens, calls, prompt_tokens, completion_tokens)
        SELECT client, day, prompt_tokens + completion_tokens, 1, prompt_tokens, completion_tokens FROM new
        ON CONFLICT (client, day) DO UPDATE SET tokens = d.tokens + EXCLUDED.tokens, calls = d.calls + 1,
            prompt_tokens = d.prompt_tokens + EXCLUDED.prompt_tokens,
            completion_tokens = d.completion_tokens + EXCLUDED.completion_tokens
        RETURNING 1
    )
    SELECT count(*) > 0 INTO counted FROM total;
    RETURN counted;
END $$;
-- +goose StatementEnd

-- +goose Down
-- +goose StatementBegin
CREATE OR REPLACE FUNCTION access.record_model_call(p_job uuid, p_client uuid, p_prompt integer, p_completion integer)
RETURNS boolean LANGUAGE sql AS $$
    WITH new AS (
        INSERT INTO access.model_call (job, client, day, prompt_tokens, completion_tokens)
        VALUES (p_job, p_client, (now() AT TIME ZONE 'UTC')::date, p_prompt, p_completion)
        ON CONFLICT (job) DO NOTHING
        RETURNING client, day, prompt_tokens, completion_tokens
    ), total AS (
        INSERT INTO access.daily_tokens AS d (client, day, tokens, calls, prompt_tokens, completion_tokens)
        SELECT client, day, prompt_tokens + completion_tokens, 1, prompt_tokens, completion_tokens FROM new
        ON CONFLICT (client, day) DO UPDATE SET tokens = d.tokens + EXCLUDED.tokens, calls = d.calls + 1,
            prompt_tokens = d.prompt_tokens + EXCLUDED.prompt_tokens,
            completion_tokens = d.completion_tokens + EXCLUDED.completion_tokens
        RETURNING 1
    )
    SELECT count(*) > 0 FROM total;
$$;
-- +goose StatementEnd
