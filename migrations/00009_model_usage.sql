-- +goose Up
-- The model tokens each client spends (internal/access): one row per job that the model
-- answered, keyed by job, so that a job redone after a worker died is counted once however
-- often it is recorded; and the running total per client and UTC day, which the front doors
-- read to enforce a client's tokens per day. The anonymous client is the nil UUID; neither
-- table references access.client, so that a deleted client's spending stays on record.
CREATE TABLE access.model_call (
    job               uuid PRIMARY KEY,
    client            uuid NOT NULL,
    day               date NOT NULL,
    prompt_tokens     integer NOT NULL CHECK (prompt_tokens >= 0),
    completion_tokens integer NOT NULL CHECK (completion_tokens >= 0),
    at                timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX model_call_at_idx ON access.model_call (at);

CREATE TABLE access.daily_tokens (
    client uuid NOT NULL,
    day    date NOT NULL,
    tokens bigint NOT NULL,
    calls  bigint NOT NULL,
    PRIMARY KEY (client, day)
);

-- record_model_call counts a job's tokens once: the day's total grows only when the job's row
-- is new. One statement, one round trip.
-- +goose StatementBegin
CREATE FUNCTION access.record_model_call(p_job uuid, p_client uuid, p_prompt integer, p_completion integer)
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

-- +goose Down
DROP FUNCTION access.record_model_call(uuid, uuid, integer, integer);
DROP TABLE access.daily_tokens;
DROP TABLE access.model_call;
