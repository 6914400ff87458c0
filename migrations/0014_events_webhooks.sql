-- Events (SPEC §11): one row per change that matters, written in the
-- change's own transaction. seq orders the rows of one transaction; txid is
-- the writing transaction's id, so that readers can hold back what a
-- transaction still in flight may yet commit below what they have seen
-- (internal/events). The public id, evt_<txid><seq> in fixed-width hex,
-- sorts as readers page: by (txid, seq).
CREATE TABLE events (
    seq        bigint GENERATED ALWAYS AS IDENTITY,
    txid       bigint NOT NULL DEFAULT (pg_current_xact_id()::text::bigint),
    id         text COLLATE "C" GENERATED ALWAYS AS
                   ('evt_' || lpad(to_hex(txid), 16, '0') || lpad(to_hex(seq), 16, '0')) STORED,
    type       text NOT NULL,
    account_id text COLLATE "C",
    created_at timestamptz NOT NULL,
    -- json, not jsonb: kept as written, so bodies show the fields in the
    -- order of SPEC §7, and nothing is parsed again on the way in.
    data       json NOT NULL,
    PRIMARY KEY (txid, seq)
);
-- No index on id: it is (txid, seq) spelt out, and readers look events up
-- by those (internal/events.ParseID); one index fewer per event written.
CREATE INDEX events_account ON events (account_id, txid, seq);
CREATE INDEX events_type ON events (type, txid, seq);
CREATE INDEX events_created ON events (created_at);

-- Webhook endpoints: where events are posted, signed with the endpoint's
-- secret (whsec_…, shown once at creation; kept, since signing needs it).
-- event_types NULL subscribes to every type.
CREATE TABLE webhook_endpoints (
    id          text COLLATE "C" PRIMARY KEY,
    url         text NOT NULL,
    secret      text NOT NULL,
    event_types text[],
    created_at  timestamptz NOT NULL DEFAULT now(),
    CHECK (event_types IS NULL OR cardinality(event_types) > 0)
);

-- One delivery per (endpoint, event): its state, attempts and the next
-- one. leased_until is set while a worker is posting it, so that a second
-- worker leaves it alone and a killed one's lease simply runs out.
CREATE TABLE webhook_deliveries (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    endpoint_id     text COLLATE "C" NOT NULL REFERENCES webhook_endpoints (id) ON DELETE CASCADE,
    event_txid      bigint NOT NULL,
    event_seq       bigint NOT NULL,
    state           text NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'delivered', 'failed')),
    attempts        int NOT NULL DEFAULT 0,
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    -- Retries stop after this (SPEC §11: 3 days); a redelivery starts over.
    give_up_at      timestamptz NOT NULL DEFAULT now() + interval '3 days',
    leased_until    timestamptz,
    last_status     int,
    last_error      text NOT NULL DEFAULT '',
    delivered_at    timestamptz,
    created_at      timestamptz NOT NULL DEFAULT now(),
    UNIQUE (endpoint_id, event_txid, event_seq),
    FOREIGN KEY (event_txid, event_seq) REFERENCES events (txid, seq) ON DELETE CASCADE
);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (endpoint_id, next_attempt_at) WHERE state = 'pending';
CREATE INDEX webhook_deliveries_event ON webhook_deliveries (event_txid, event_seq);
