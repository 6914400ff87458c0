-- The lease queries of the webhook and email senders take the oldest due
-- rows first (webhooks: in event order per endpoint; emails: by id). The
-- indexes of 0014 and 0019 were on (…, next_attempt_at): a claim of a
-- handful of rows read and sorted every pending row of the backlog, so its
-- cost grew with the backlog (100,000 accounts: 181,230 pending deliveries
-- went out at about 63/s, against 530/s at 10,000). Worse, while the
-- table's statistics still said "nearly empty" (it fills during the run,
-- after the last ANALYZE) the planner kept choosing them. These partial
-- indexes are in the claims' order, so a claim reads the rows it takes and
-- the few not due yet before them, whatever the backlog; the old ones go,
-- so that no stale statistics can pick them again. The sweeps' "is
-- anything due" queries read the same indexes.
DROP INDEX webhook_deliveries_due;
CREATE INDEX webhook_deliveries_pending_order ON webhook_deliveries (endpoint_id, event_txid, event_seq)
    WHERE state = 'pending';
DROP INDEX emails_due;
CREATE INDEX emails_pending_order ON emails (id) WHERE state = 'pending';
