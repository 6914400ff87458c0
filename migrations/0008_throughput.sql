-- Throughput at a hundred thousand invoices a run (docs/benchmarks.md).

-- Finalization finds the reversals charged on its drafts by invoice.
CREATE INDEX referral_reversals_charged ON referral_reversals (charged_invoice_id) WHERE charged_invoice_id IS NOT NULL;

-- The invoice guards run their checks as trigger conditions, evaluated
-- without calling PL/pgSQL for the updates that are allowed (finalizing a
-- draft, moving its payment status): the function only raises.
DROP TRIGGER invoices_guard ON invoices;
CREATE TRIGGER invoices_guard BEFORE UPDATE ON invoices FOR EACH ROW
    WHEN (OLD.status = 'draft' AND (NEW.subtotal <> OLD.subtotal OR NEW.account_id <> OLD.account_id OR NEW.period <> OLD.period)
          OR OLD.status <> 'draft' AND (
              (NEW.number, NEW.account_id, NEW.period, NEW.subtotal, NEW.discount, NEW.tax_rate, NEW.tax, NEW.total,
               NEW.issued_at, NEW.buyer_name, NEW.buyer_email, NEW.buyer_country, NEW.buyer_vat_number, NEW.vat_mention)
              IS DISTINCT FROM
              (OLD.number, OLD.account_id, OLD.period, OLD.subtotal, OLD.discount, OLD.tax_rate, OLD.tax, OLD.total,
               OLD.issued_at, OLD.buyer_name, OLD.buyer_email, OLD.buyer_country, OLD.buyer_vat_number, OLD.vat_mention)
              OR OLD.status = 'void' AND NEW.status <> 'void'
              OR NEW.status = 'draft'))
    EXECUTE FUNCTION invoices_guard();

DROP TRIGGER invoices_status_guard ON invoices;
CREATE TRIGGER invoices_status_guard BEFORE UPDATE OF status ON invoices FOR EACH ROW
    WHEN (NEW.status IS DISTINCT FROM OLD.status AND NOT (
        (OLD.status = 'draft' AND NEW.status IN ('open', 'paid')) OR
        (OLD.status = 'open' AND NEW.status IN ('processing', 'paid', 'void')) OR
        (OLD.status = 'processing' AND NEW.status IN ('open', 'paid', 'void')) OR
        (OLD.status = 'paid' AND NEW.status = 'void')))
    EXECUTE FUNCTION invoices_status_guard();

-- The account timeline is a log written beside the rows it names, which
-- can never be deleted: its foreign keys cost a lookup per event and
-- protect nothing.
ALTER TABLE account_events DROP CONSTRAINT account_events_account_id_fkey;
ALTER TABLE account_events DROP CONSTRAINT account_events_invoice_id_fkey;

-- Invoice lines likewise: written only with their invoice, in its
-- transaction, and never deleted. Their two foreign keys made up two
-- thirds of the cost of storing a line (a million and a half lines a run);
-- `billing audit` checks that every line belongs to an invoice.
ALTER TABLE invoice_lines DROP CONSTRAINT invoice_lines_invoice_id_fkey;
ALTER TABLE invoice_lines DROP CONSTRAINT invoice_lines_referee_account_id_fkey;
