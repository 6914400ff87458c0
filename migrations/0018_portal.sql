-- The customer's billing pages (SPEC §14): SEPA mandates accepted online,
-- the one-time links that open the portal, and its sessions.

-- A SEPA Core mandate, accepted online by the debtor. The IBAN itself is
-- not kept: the processor holds it behind payment_method_id; the mandate
-- shows it masked, as the PDF prints it. The reference is unique, as the
-- rulebook asks, and never reused.
CREATE TABLE sepa_mandates (
    id                 bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    reference          text COLLATE "C" NOT NULL UNIQUE CHECK (reference ~ '^[A-Z0-9-]{1,35}$'),
    account_id         text COLLATE "C" NOT NULL REFERENCES accounts (id),
    payment_method_id  text NOT NULL,
    holder_name        text NOT NULL CHECK (length(holder_name) BETWEEN 1 AND 70),
    iban_masked        text NOT NULL,
    iban_country       text NOT NULL CHECK (iban_country ~ '^[A-Z]{2}$'),
    bic                text,
    -- How and when it was accepted: online, from this address and browser.
    accepted_at        timestamptz NOT NULL,
    accepted_ip        text NOT NULL,
    accepted_user_agent text NOT NULL,
    language           text NOT NULL CHECK (language IN ('fr', 'en'))
);

CREATE INDEX sepa_mandates_account ON sepa_mandates (account_id, id);
CREATE TRIGGER sepa_mandates_append_only BEFORE UPDATE OR DELETE OR TRUNCATE ON sepa_mandates
    FOR EACH STATEMENT EXECUTE FUNCTION forbid_change();

-- One-time links into the portal: only the token's SHA-256 is kept. A link
-- is used once (used_at), before expires_at.
CREATE TABLE portal_links (
    token_hash  bytea PRIMARY KEY CHECK (length(token_hash) = 32),
    account_id  text COLLATE "C" NOT NULL REFERENCES accounts (id),
    created_at  timestamptz NOT NULL,
    expires_at  timestamptz NOT NULL CHECK (expires_at > created_at),
    used_at     timestamptz
);

-- A portal session, started by a link: the cookie's SHA-256, the CSRF
-- token of its forms, and when it was last used (1 h idle expiry).
CREATE TABLE portal_sessions (
    token_hash   bytea PRIMARY KEY CHECK (length(token_hash) = 32),
    account_id   text COLLATE "C" NOT NULL REFERENCES accounts (id),
    csrf_token   text NOT NULL,
    created_at   timestamptz NOT NULL,
    last_seen_at timestamptz NOT NULL
);
