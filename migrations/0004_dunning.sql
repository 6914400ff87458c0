-- Dunning: daily retries of unpaid invoices, overdue invoices and account
-- suspension.

-- The dunning retry an attempt served: slot k is due at t0 + k × 24 h
-- (k = 1..5). One attempt per slot, however many passes run.
ALTER TABLE payment_attempts ADD COLUMN dunning_slot integer CHECK (dunning_slot BETWEEN 1 AND 5);
CREATE UNIQUE INDEX payment_attempts_slot ON payment_attempts (invoice_id, dunning_slot) WHERE dunning_slot IS NOT NULL;

-- When the invoice became overdue: its last retry failed, or it could not
-- be retried for five days. An account is suspended while it has an open
-- overdue invoice, and only then.
ALTER TABLE invoices ADD COLUMN overdue_at timestamptz;
CREATE INDEX invoices_open ON invoices (account_id) WHERE status IN ('open', 'processing');
