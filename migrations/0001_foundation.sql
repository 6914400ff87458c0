-- Accounts, payment methods, the effective-dated price catalog and usage
-- segments: the inputs of billing. Constraints here are the last line of
-- defence behind the importers' validation: a bad state must be impossible,
-- not merely unlikely.

CREATE TABLE accounts (
    id          text PRIMARY KEY CHECK (id ~ '^[^[:space:][:cntrl:]]{1,128}$'),
    name        text NOT NULL CHECK (length(name) BETWEEN 1 AND 300 AND name !~ '[[:cntrl:]]'),
    email       text NOT NULL CHECK (length(email) <= 254 AND email ~ '^[^@[:space:][:cntrl:]]+@[^@[:space:][:cntrl:]]+$'),
    country     text NOT NULL CHECK (country ~ '^[A-Z]{2}$'),
    vat_number  text CHECK (vat_number ~ '^[A-Z]{2}[0-9A-Z+*]{2,13}$'),
    created_at  timestamptz NOT NULL,
    referred_by text REFERENCES accounts (id) CHECK (referred_by <> id),
    status      text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'suspended')),
    inserted_at timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX accounts_referred_by ON accounts (referred_by) WHERE referred_by IS NOT NULL;

-- created_at and referred_by are history: once set they never change, and a
-- referrer must exist before the account it referred.
CREATE FUNCTION accounts_guard() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'UPDATE' THEN
        IF NEW.created_at IS DISTINCT FROM OLD.created_at THEN
            RAISE EXCEPTION 'account %: created_at cannot change', OLD.id USING ERRCODE = 'check_violation';
        END IF;
        IF OLD.referred_by IS NOT NULL AND NEW.referred_by IS DISTINCT FROM OLD.referred_by THEN
            RAISE EXCEPTION 'account %: referred_by cannot change', OLD.id USING ERRCODE = 'check_violation';
        END IF;
    END IF;
    IF NEW.referred_by IS NOT NULL AND NEW.referred_by IS DISTINCT FROM (CASE WHEN TG_OP = 'UPDATE' THEN OLD.referred_by END) THEN
        IF NOT EXISTS (SELECT 1 FROM accounts r WHERE r.id = NEW.referred_by AND r.created_at < NEW.created_at) THEN
            RAISE EXCEPTION 'account %: referrer % must be an account created earlier', NEW.id, NEW.referred_by
                USING ERRCODE = 'check_violation';
        END IF;
    END IF;
    RETURN NEW;
END
$$;

CREATE TRIGGER accounts_guard BEFORE INSERT OR UPDATE ON accounts
    FOR EACH ROW EXECUTE FUNCTION accounts_guard();

-- One current payment method per account; replaced ones stay as history.
CREATE TABLE payment_methods (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    account_id  text NOT NULL REFERENCES accounts (id),
    type        text NOT NULL CHECK (type IN ('card', 'sepa_debit')),
    external_id text NOT NULL CHECK (external_id ~ '^[^[:space:][:cntrl:]]{1,255}$'),
    created_at  timestamptz NOT NULL DEFAULT now(),
    replaced_at timestamptz CHECK (replaced_at >= created_at)
);

CREATE UNIQUE INDEX payment_methods_current ON payment_methods (account_id) WHERE replaced_at IS NULL;

-- A resource exists once it has a price; usage may only name resources.
CREATE TABLE resources (
    resource text PRIMARY KEY CHECK (resource ~ '^[^[:space:][:cntrl:]]{1,100}$')
);

-- The price in force at an instant is the row of the resource with the latest
-- effective_from <= that instant.
CREATE TABLE prices (
    resource       text NOT NULL REFERENCES resources (resource),
    effective_from timestamptz NOT NULL,
    price_per_hour numeric NOT NULL CHECK (price_per_hour >= 0 AND price_per_hour < 1000000 AND scale(price_per_hour) <= 10),
    description    text NOT NULL CHECK (length(description) BETWEEN 1 AND 300 AND description !~ '[[:cntrl:]]'),
    PRIMARY KEY (resource, effective_from)
);

CREATE TABLE usage_segments (
    id          text PRIMARY KEY CHECK (id ~ '^[^[:space:][:cntrl:]]{1,128}$'),
    account_id  text NOT NULL REFERENCES accounts (id),
    app         text NOT NULL CHECK (app ~ '^[^[:cntrl:]]{1,128}$'),
    resource    text NOT NULL REFERENCES resources (resource),
    quantity    integer NOT NULL CHECK (quantity >= 1),
    started_at  timestamptz NOT NULL,
    ended_at    timestamptz CHECK (ended_at > started_at),
    inserted_at timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX usage_segments_account ON usage_segments (account_id, started_at);

-- rfc3339 formats an instant for messages the way the inputs spell it.
CREATE FUNCTION rfc3339(t timestamptz) RETURNS text LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT regexp_replace(to_char(t AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US'), '\.?0+$', '') || 'Z'
$$;
