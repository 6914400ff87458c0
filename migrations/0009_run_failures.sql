-- Accounts a billing run could not bill: usage that cannot be rated (no
-- price in force, a quantity below 1) or that doesn't fit on one invoice
-- (numeric(14, 2)). Drafting records them and bills the rest of their shard,
-- so that one account's data never blocks a shard, or every rerun of the
-- period; `billing runs show` lists them, and a later run of the period bills
-- them once their data is fixed (they have no invoice, so it picks them up).
CREATE TABLE billing_run_failures (
    run_id     bigint NOT NULL REFERENCES billing_runs (id),
    account_id text COLLATE "C" NOT NULL,
    shard      integer NOT NULL,
    message    text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (run_id, account_id)
);
