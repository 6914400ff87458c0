-- Customer emails (SPEC §12): an outbox of one row per (event, template),
-- written in the event's transaction by jobs.Enqueue, sent by River jobs.
-- The Message-ID is built from the event id and the template, so a resend
-- after a crash between the server's acceptance and the row's update is the
-- same message (at least once, deduplicated by Message-ID).
-- state: pending (to send at next_attempt_at), sent (the server accepted
-- it), failed (retries exhausted), unsent (no BILLING_SMTP_URL: kept, not
-- sent). leased_until is set while a worker is sending it.
CREATE TABLE emails (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    event_txid      bigint NOT NULL,
    event_seq       bigint NOT NULL,
    template        text NOT NULL,
    account_id      text COLLATE "C" NOT NULL,
    state           text NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'sent', 'failed', 'unsent')),
    attempts        int NOT NULL DEFAULT 0,
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    give_up_at      timestamptz NOT NULL DEFAULT now() + interval '3 days',
    leased_until    timestamptz,
    message_id      text NOT NULL DEFAULT '',
    recipient       text NOT NULL DEFAULT '',
    subject         text NOT NULL DEFAULT '',
    last_error      text NOT NULL DEFAULT '',
    sent_at         timestamptz,
    created_at      timestamptz NOT NULL DEFAULT now(),
    UNIQUE (event_txid, event_seq, template),
    FOREIGN KEY (event_txid, event_seq) REFERENCES events (txid, seq) ON DELETE CASCADE
);
CREATE INDEX emails_due ON emails (next_attempt_at) WHERE state = 'pending';
CREATE INDEX emails_account ON emails (account_id, id);

-- BILLING_SEPA_DEBIT_DELAY: a SEPA debit collected N days after the invoice
-- that pre-notifies it. collect_at is that first collection's time, t0 of
-- dunning (SPEC §5); NULL is at issue.
ALTER TABLE invoices ADD COLUMN collect_at timestamptz CHECK (collect_at >= issued_at);
