-- Accounts, payment methods, the effective-dated price catalog and usage
-- segments: the inputs of billing. Constraints here are the last line of
-- defence behind the importers' validation: a bad state must be impossible,
-- not merely unlikely. Identifiers use the "C" collation: byte order is the
-- same on every server (shards and listings are reproducible) and compares
-- fastest. Checks avoid bounded regex repetition ({1,128}), which Postgres
-- evaluates slowly enough to dominate a bulk insert.

CREATE TABLE accounts (
    id          text COLLATE "C" PRIMARY KEY CHECK (length(id) BETWEEN 1 AND 128 AND id !~ '[[:space:][:cntrl:]]'),
    name        text NOT NULL CHECK (length(name) BETWEEN 1 AND 300 AND name !~ '[[:cntrl:]]'),
    email       text NOT NULL CHECK (length(email) <= 254 AND email ~ '^[^@[:space:][:cntrl:]]+@[^@[:space:][:cntrl:]]+$'),
    country     text NOT NULL CHECK (country ~ '^[A-Z]{2}$'),
    vat_number  text CHECK (vat_number ~ '^[A-Z]{2}[0-9A-Z+*]{2,13}$'),
    created_at  timestamptz NOT NULL,
    referred_by text COLLATE "C" REFERENCES accounts (id) CHECK (referred_by <> id),
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
    account_id  text COLLATE "C" NOT NULL REFERENCES accounts (id),
    type        text NOT NULL CHECK (type IN ('card', 'sepa_debit')),
    external_id text NOT NULL CHECK (length(external_id) BETWEEN 1 AND 255 AND external_id !~ '[[:space:][:cntrl:]]'),
    created_at  timestamptz NOT NULL DEFAULT now(),
    replaced_at timestamptz CHECK (replaced_at >= created_at)
);

CREATE UNIQUE INDEX payment_methods_current ON payment_methods (account_id) WHERE replaced_at IS NULL;

-- A resource exists once it has a price; usage may only name resources.
CREATE TABLE resources (
    resource text COLLATE "C" PRIMARY KEY CHECK (length(resource) BETWEEN 1 AND 100 AND resource !~ '[[:space:][:cntrl:]]')
);

-- The price in force at an instant is the row of the resource with the latest
-- effective_from <= that instant.
CREATE TABLE prices (
    resource       text COLLATE "C" NOT NULL REFERENCES resources (resource),
    effective_from timestamptz NOT NULL,
    price_per_hour numeric NOT NULL CHECK (price_per_hour >= 0 AND price_per_hour < 1000000 AND scale(price_per_hour) <= 10),
    description    text NOT NULL CHECK (length(description) BETWEEN 1 AND 300 AND description !~ '[[:cntrl:]]'),
    PRIMARY KEY (resource, effective_from)
);

-- Usage is the one table that grows by millions of rows a month, so its
-- references are enforced per statement, not per row: a row-level foreign key
-- costs a locking lookup per segment (measured: it triples the time of a bulk
-- insert), while the statement trigger below checks a whole COPY or INSERT
-- with one anti-join. Accounts and resources can never be deleted or re-keyed
-- (guards below), so a reference checked once stays valid.
CREATE TABLE usage_segments (
    id          text COLLATE "C" PRIMARY KEY CHECK (length(id) BETWEEN 1 AND 128 AND id !~ '[[:space:][:cntrl:]]'),
    account_id  text COLLATE "C" NOT NULL,
    app         text NOT NULL CHECK (length(app) BETWEEN 1 AND 128 AND app !~ '[[:cntrl:]]'),
    resource    text COLLATE "C" NOT NULL,
    quantity    integer NOT NULL CHECK (quantity BETWEEN 1 AND 1000000),
    started_at  timestamptz NOT NULL,
    ended_at    timestamptz CHECK (ended_at > started_at),
    inserted_at timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX usage_segments_account ON usage_segments (account_id, started_at);

CREATE FUNCTION usage_segments_references() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    bad text;
BEGIN
    SELECT n.account_id INTO bad FROM (SELECT DISTINCT account_id FROM new_rows) n
    WHERE NOT EXISTS (SELECT 1 FROM accounts a WHERE a.id = n.account_id) LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'usage_segments: unknown account %', bad USING ERRCODE = 'foreign_key_violation';
    END IF;
    SELECT n.resource INTO bad FROM (SELECT DISTINCT resource FROM new_rows) n
    WHERE NOT EXISTS (SELECT 1 FROM resources r WHERE r.resource = n.resource) LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'usage_segments: unknown resource %', bad USING ERRCODE = 'foreign_key_violation';
    END IF;
    RETURN NULL;
END
$$;

CREATE TRIGGER usage_segments_references_insert AFTER INSERT ON usage_segments
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION usage_segments_references();
CREATE TRIGGER usage_segments_references_update AFTER UPDATE ON usage_segments
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION usage_segments_references();

CREATE FUNCTION forbid_delete() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '% rows are never deleted', TG_TABLE_NAME USING ERRCODE = 'restrict_violation';
END
$$;

CREATE FUNCTION forbid_rekey() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '% keys never change', TG_TABLE_NAME USING ERRCODE = 'restrict_violation';
END
$$;

CREATE TRIGGER accounts_no_delete BEFORE DELETE OR TRUNCATE ON accounts FOR EACH STATEMENT EXECUTE FUNCTION forbid_delete();
CREATE TRIGGER resources_no_delete BEFORE DELETE OR TRUNCATE ON resources FOR EACH STATEMENT EXECUTE FUNCTION forbid_delete();
CREATE TRIGGER accounts_no_rekey BEFORE UPDATE OF id ON accounts FOR EACH ROW WHEN (NEW.id <> OLD.id) EXECUTE FUNCTION forbid_rekey();
CREATE TRIGGER resources_no_rekey BEFORE UPDATE OF resource ON resources FOR EACH ROW WHEN (NEW.resource <> OLD.resource) EXECUTE FUNCTION forbid_rekey();

-- rfc3339 formats an instant for messages the way the inputs spell it.
CREATE FUNCTION rfc3339(t timestamptz) RETURNS text LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT regexp_replace(to_char(t AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US'), '\.?0+$', '') || 'Z'
$$;
