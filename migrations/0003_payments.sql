-- Collecting payment: attempts against the processors, their idempotency
-- keys, the sandbox processor's own ledger of charges, webhook replay
-- protection and PayPal credit purchases.

-- A SEPA debit needs the mandate its SetupIntent produced.
ALTER TABLE payment_methods ADD COLUMN mandate_id text;

-- An account's customer object at a processor (Stripe).
CREATE TABLE processor_customers (
    account_id  text COLLATE "C" NOT NULL REFERENCES accounts (id),
    processor   text NOT NULL,
    customer_id text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (account_id, processor),
    UNIQUE (processor, customer_id)
);

-- One row per call to a processor to collect an invoice. The idempotency
-- key is derived from (invoice, attempt number) and sent with every try of
-- that attempt: a retried job or a retried request can never charge twice,
-- and a new attempt (a dunning retry) gets a new key.
--
--   pending ──> succeeded | declined | failed | processing
--   processing ──> succeeded | failed
--
-- pending means the outcome is not known yet: the request may or may not
-- have reached the processor. It is resolved by sending the same attempt
-- again with the same key, never by starting a new attempt.
CREATE TABLE payment_attempts (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    invoice_id      bigint NOT NULL REFERENCES invoices (id),
    attempt         integer NOT NULL CHECK (attempt >= 1),
    idempotency_key text NOT NULL UNIQUE,
    processor       text NOT NULL,
    method          text NOT NULL CHECK (method IN ('card', 'sepa_debit')),
    payment_method_id text NOT NULL,
    amount          numeric(14, 2) NOT NULL CHECK (amount > 0),
    state           text NOT NULL DEFAULT 'pending'
                    CHECK (state IN ('pending', 'succeeded', 'declined', 'processing', 'failed')),
    code            text NOT NULL DEFAULT '',
    processor_ref   text,
    created_at      timestamptz NOT NULL,
    decided_at      timestamptz,
    settled_at      timestamptz,
    UNIQUE (invoice_id, attempt),
    CHECK ((state = 'pending') = (decided_at IS NULL))
);

CREATE UNIQUE INDEX payment_attempts_ref ON payment_attempts (processor, processor_ref) WHERE processor_ref IS NOT NULL;
-- At most one attempt in flight per invoice.
CREATE UNIQUE INDEX payment_attempts_in_flight ON payment_attempts (invoice_id) WHERE state IN ('pending', 'processing');

CREATE FUNCTION payment_attempts_guard() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF (NEW.invoice_id, NEW.attempt, NEW.idempotency_key, NEW.processor, NEW.method, NEW.payment_method_id, NEW.amount, NEW.created_at)
       IS DISTINCT FROM
       (OLD.invoice_id, OLD.attempt, OLD.idempotency_key, OLD.processor, OLD.method, OLD.payment_method_id, OLD.amount, OLD.created_at) THEN
        RAISE EXCEPTION 'payment attempt %: only its outcome can change', OLD.idempotency_key USING ERRCODE = 'check_violation';
    END IF;
    IF NEW.state IS DISTINCT FROM OLD.state AND NOT (
        (OLD.state = 'pending' AND NEW.state IN ('succeeded', 'declined', 'failed', 'processing')) OR
        (OLD.state = 'processing' AND NEW.state IN ('succeeded', 'failed'))) THEN
        RAISE EXCEPTION 'payment attempt %: % cannot become %', OLD.idempotency_key, OLD.state, NEW.state
            USING ERRCODE = 'check_violation';
    END IF;
    RETURN NEW;
END
$$;

CREATE TRIGGER payment_attempts_guard BEFORE UPDATE ON payment_attempts FOR EACH ROW EXECUTE FUNCTION payment_attempts_guard();
CREATE TRIGGER payment_attempts_no_delete BEFORE DELETE OR TRUNCATE ON payment_attempts FOR EACH STATEMENT EXECUTE FUNCTION forbid_delete();

-- Invoice status moves one way: draft → open ⇄ processing → paid, and
-- anything but a draft may be voided.
CREATE FUNCTION invoices_status_guard() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.status IS DISTINCT FROM OLD.status AND NOT (
        (OLD.status = 'draft' AND NEW.status IN ('open', 'paid')) OR
        (OLD.status = 'open' AND NEW.status IN ('processing', 'paid', 'void')) OR
        (OLD.status = 'processing' AND NEW.status IN ('open', 'paid', 'void')) OR
        (OLD.status = 'paid' AND NEW.status = 'void')) THEN
        RAISE EXCEPTION 'invoice %: % cannot become %', coalesce(OLD.number, OLD.id::text), OLD.status, NEW.status
            USING ERRCODE = 'check_violation';
    END IF;
    RETURN NEW;
END
$$;

CREATE TRIGGER invoices_status_guard BEFORE UPDATE OF status ON invoices FOR EACH ROW EXECUTE FUNCTION invoices_status_guard();

-- The sandbox processor's own books: what a real processor would know.
-- Every charge it accepted, by idempotency key, so a duplicate charge is
-- impossible here and detectable by audit anywhere.
CREATE TABLE sandbox_charges (
    idempotency_key   text PRIMARY KEY,
    reference         text NOT NULL UNIQUE,
    payment_method_id text NOT NULL,
    amount            numeric(14, 2) NOT NULL CHECK (amount > 0),
    outcome           text NOT NULL CHECK (outcome IN ('succeeded', 'declined', 'processing')),
    code              text NOT NULL DEFAULT '',
    settled_outcome   text CHECK (settled_outcome IN ('succeeded', 'failed')),
    created_at        timestamptz NOT NULL DEFAULT now(),
    settled_at        timestamptz
);

-- Webhook events already handled: a replay is acknowledged and ignored.
CREATE TABLE processor_events (
    processor   text NOT NULL,
    event_id    text NOT NULL,
    type        text NOT NULL,
    received_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (processor, event_id)
);

-- Prepaid credit bought with PayPal: create order -> buyer approves ->
-- capture. Credit moves once per capture id (the ledger's reference).
CREATE TABLE paypal_orders (
    order_id     text PRIMARY KEY,
    account_id   text COLLATE "C" NOT NULL REFERENCES accounts (id),
    amount       numeric(14, 2) NOT NULL CHECK (amount > 0),
    status       text NOT NULL,
    approve_url  text NOT NULL DEFAULT '',
    capture_id   text UNIQUE,
    created_at   timestamptz NOT NULL DEFAULT now(),
    captured_at  timestamptz
);
