-- +goose Up
-- Who may use the front door (internal/access): clients, each with a tier and limits, and
-- their tokens. A token is stored only as its SHA-256: whoever reads this table cannot call
-- the service with what they read, and a lookup by hash compares no secret in a way whose
-- timing could leak it.
CREATE SCHEMA IF NOT EXISTS access;

CREATE TABLE access.client (
    id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    name        text NOT NULL CHECK (name <> '' AND length(name) <= 200),
    -- premium: queued sentences go to the model; free: to the offline ELIZA responder.
    tier        text NOT NULL DEFAULT 'free' CHECK (tier IN ('free', 'premium')),
    -- May read any client's usage.
    admin       boolean NOT NULL DEFAULT false,
    -- Limits of this client; NULL takes the front door's default for the tier.
    requests_per_second  integer CHECK (requests_per_second > 0),
    sentences_per_minute integer CHECK (sentences_per_minute > 0),
    tokens_per_day       bigint CHECK (tokens_per_day > 0),
    created_at  timestamptz NOT NULL DEFAULT now(),
    disabled_at timestamptz
);

CREATE TABLE access.token (
    id         uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    client     uuid NOT NULL REFERENCES access.client (id) ON DELETE CASCADE,
    hash       bytea NOT NULL UNIQUE CHECK (length(hash) = 32),
    created_at timestamptz NOT NULL DEFAULT now(),
    revoked_at timestamptz
);
CREATE INDEX token_client_idx ON access.token (client);

-- Front doors cache what a token resolves to, and drop their cache when anything changes here:
-- a revoked token or a disabled client stops working on every replica as soon as the
-- notification arrives. One notification per statement, with no payload: changes are rare,
-- and dropping the whole cache is simpler than knowing which entries a change touched.
-- +goose StatementBegin
CREATE FUNCTION access.changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('access_changed', '');
    RETURN NULL;
END
$$;
-- +goose StatementEnd
CREATE TRIGGER client_changed AFTER INSERT OR UPDATE OR DELETE ON access.client
    FOR EACH STATEMENT EXECUTE FUNCTION access.changed();
CREATE TRIGGER token_changed AFTER INSERT OR UPDATE OR DELETE ON access.token
    FOR EACH STATEMENT EXECUTE FUNCTION access.changed();

-- +goose Down
DROP SCHEMA access CASCADE;
