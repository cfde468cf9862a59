-- +goose Up
-- Usage statistics per client and UTC day (internal/access): counters that the front doors
-- add to in batches, off the hot path. kind is 'rpc' (name: method and code, "Say/ok"),
-- 'queued' (sentences accepted into the queue) or 'refused' (name: the quota: requests,
-- sentences, tokens). Model calls and tokens are in access.daily_tokens, counted once per job
-- by the workers; it gains the prompt/completion split here.
CREATE TABLE access.usage (
    client uuid NOT NULL,
    day    date NOT NULL,
    kind   text NOT NULL CHECK (kind IN ('rpc', 'queued', 'refused')),
    name   text NOT NULL DEFAULT '',
    count  bigint NOT NULL,
    PRIMARY KEY (client, day, kind, name)
);

ALTER TABLE access.daily_tokens
    ADD COLUMN prompt_tokens bigint NOT NULL DEFAULT 0,
    ADD COLUMN completion_tokens bigint NOT NULL DEFAULT 0;

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

-- +goose Down
-- +goose StatementBegin
CREATE OR REPLACE FUNCTION access.record_model_call(p_job uuid, p_client uuid, p_prompt integer, p_completion integer)
RETURNS boolean LANGUAGE sql AS $$
    WITH new AS (
        INSERT INTO access.model_call (job, client, day, prompt_tokens, completion_tokens)
        VALUES (p_job, p_client, (now() AT TIME ZONE 'UTC')::date, p_prompt, p_completion)
        ON CONFLICT (job) DO NOTHING
        RETURNING client, day, prompt_tokens + completion_tokens AS tokens
    ), total AS (
        INSERT INTO access.daily_tokens AS d (client, day, tokens, calls)
        SELECT client, day, tokens, 1 FROM new
        ON CONFLICT (client, day) DO UPDATE SET tokens = d.tokens + EXCLUDED.tokens, calls = d.calls + 1
        RETURNING 1
    )
    SELECT count(*) > 0 FROM total;
$$;
-- +goose StatementEnd
ALTER TABLE access.daily_tokens DROP COLUMN prompt_tokens, DROP COLUMN completion_tokens;
DROP TABLE access.usage;
