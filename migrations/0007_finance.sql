-- Finance operations: voiding an invoice with a credit note, and taking
-- back the referral reward a voided invoice had earned.

-- A credit note cancels one invoice, whole. Its amounts are the invoice's,
-- negated, so that invoices and credit notes add up to what was really
-- billed. refunded is what had been paid on the invoice when it was voided:
-- it went to the account's prepaid credit (a payment that settles later is
-- refunded to credit when it does, in the ledger).
CREATE TABLE credit_notes (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    number       text NOT NULL UNIQUE CHECK (number ~ '^CN-20[0-9]{2}-[0-9]{6}$'),
    invoice_id   bigint NOT NULL UNIQUE REFERENCES invoices (id),
    account_id   text COLLATE "C" NOT NULL REFERENCES accounts (id),
    reason       text NOT NULL CHECK (length(btrim(reason)) BETWEEN 1 AND 1000),
    issued_at    timestamptz NOT NULL,
    subtotal     numeric(14, 2) NOT NULL CHECK (subtotal < 0),
    discount     numeric(14, 2) NOT NULL CHECK (discount <= 0),
    tax          numeric(14, 2) NOT NULL CHECK (tax <= 0),
    total        numeric(14, 2) NOT NULL CHECK (total <= 0),
    refunded     numeric(14, 2) NOT NULL CHECK (refunded >= 0),
    requested_by text NOT NULL DEFAULT '',
    CHECK (total = subtotal - discount + tax)
);

CREATE INDEX credit_notes_account ON credit_notes (account_id);

CREATE TRIGGER credit_notes_append_only BEFORE UPDATE OR DELETE OR TRUNCATE ON credit_notes
    FOR EACH STATEMENT EXECUTE FUNCTION forbid_change();

-- A reward whose referee invoice is voided before the referrer's invoice
-- took it is cancelled: 'void'.
ALTER TABLE referral_rewards DROP CONSTRAINT referral_rewards_state_check;
ALTER TABLE referral_rewards ADD CONSTRAINT referral_rewards_state_check
    CHECK (state IN ('pending', 'applied', 'credited', 'void'));

-- A reward taken back because its referee invoice was voided: as much as
-- the referrer's prepaid credit holds (a 'referral_reversal' ledger entry),
-- the rest charged on the referrer's next invoice as a referral_reversal
-- line. charged_invoice_id is that invoice; it is cleared again if that
-- invoice is voided in turn, so the charge moves to the next one.
CREATE TABLE referral_reversals (
    id                  bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    reward_id           bigint NOT NULL UNIQUE REFERENCES referral_rewards (id),
    referrer_account_id text COLLATE "C" NOT NULL REFERENCES accounts (id),
    referee_account_id  text COLLATE "C" NOT NULL REFERENCES accounts (id),
    credit_note_id      bigint NOT NULL REFERENCES credit_notes (id),
    amount              numeric(14, 2) NOT NULL CHECK (amount > 0),
    from_credit         numeric(14, 2) NOT NULL CHECK (from_credit >= 0 AND from_credit <= amount),
    charged_invoice_id  bigint REFERENCES invoices (id),
    created_at          timestamptz NOT NULL DEFAULT now(),
    CHECK (charged_invoice_id IS NULL OR from_credit < amount)
);

CREATE INDEX referral_reversals_outstanding ON referral_reversals (referrer_account_id)
    WHERE charged_invoice_id IS NULL AND from_credit < amount;

ALTER TABLE invoice_lines DROP CONSTRAINT invoice_lines_type_check;
ALTER TABLE invoice_lines ADD CONSTRAINT invoice_lines_type_check
    CHECK (type IN ('usage', 'referral', 'referral_carryover', 'referral_reversal'));
ALTER TABLE invoice_lines ADD CONSTRAINT invoice_lines_reversal_check
    CHECK (type <> 'referral_reversal' OR (referee_account_id IS NOT NULL AND amount > 0));

-- Who voided an invoice, and why, is on its credit note; the runs list
-- shows who asked for each run.
CREATE INDEX billing_runs_in_flight ON billing_runs (period) WHERE state <> 'completed';
