-- The buyer's legal data as invoiced (SPEC §6, since v2): finalization
-- copies the account's billing address, SIREN and language onto the
-- invoice beside its name and VAT number, so that an issued document (and
-- every later rendering of it, and its credit note) shows the buyer as it
-- was when the invoice was issued, whatever the account becomes.
ALTER TABLE invoices
    ADD COLUMN buyer_address_line1       text,
    ADD COLUMN buyer_address_line2       text,
    ADD COLUMN buyer_address_postal_code text,
    ADD COLUMN buyer_address_city        text,
    ADD COLUMN buyer_address_country     text,
    ADD COLUMN buyer_siren               text,
    ADD COLUMN buyer_language            text CHECK (buyer_language IN ('fr', 'en'));

-- Invoices issued before: the language their account has now (every
-- account has one since 0012); their address and SIREN stay unknown
-- rather than made up after the fact.
UPDATE invoices i SET buyer_language = a.language FROM accounts a WHERE a.id = i.account_id AND i.status <> 'draft';

-- The guard of finalized invoices covers the new columns too. Its trigger
-- condition says when an update is refused; the function only says why.
CREATE FUNCTION invoices_guard_v2() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF OLD.status = 'draft' THEN
        RAISE EXCEPTION 'invoice %: a draft''s usage cannot change', OLD.id USING ERRCODE = 'check_violation';
    END IF;
    IF OLD.status = 'void' AND NEW.status <> 'void' THEN
        RAISE EXCEPTION 'invoice %: a void invoice stays void', OLD.number USING ERRCODE = 'check_violation';
    END IF;
    IF NEW.status = 'draft' THEN
        RAISE EXCEPTION 'invoice %: a finalized invoice cannot become a draft again', OLD.number USING ERRCODE = 'check_violation';
    END IF;
    RAISE EXCEPTION 'invoice %: a finalized invoice is never rewritten', OLD.number USING ERRCODE = 'check_violation';
END
$$;

DROP TRIGGER invoices_guard ON invoices;
CREATE TRIGGER invoices_guard BEFORE UPDATE ON invoices FOR EACH ROW
    WHEN (OLD.status = 'draft' AND (NEW.subtotal <> OLD.subtotal OR NEW.account_id <> OLD.account_id OR NEW.period <> OLD.period)
          OR OLD.status <> 'draft' AND (
              (NEW.number, NEW.account_id, NEW.period, NEW.subtotal, NEW.discount, NEW.tax_rate, NEW.tax, NEW.total,
               NEW.issued_at, NEW.buyer_name, NEW.buyer_email, NEW.buyer_country, NEW.buyer_vat_number, NEW.vat_mention,
               NEW.buyer_address_line1, NEW.buyer_address_line2, NEW.buyer_address_postal_code, NEW.buyer_address_city,
               NEW.buyer_address_country, NEW.buyer_siren, NEW.buyer_language)
              IS DISTINCT FROM
              (OLD.number, OLD.account_id, OLD.period, OLD.subtotal, OLD.discount, OLD.tax_rate, OLD.tax, OLD.total,
               OLD.issued_at, OLD.buyer_name, OLD.buyer_email, OLD.buyer_country, OLD.buyer_vat_number, OLD.vat_mention,
               OLD.buyer_address_line1, OLD.buyer_address_line2, OLD.buyer_address_postal_code, OLD.buyer_address_city,
               OLD.buyer_address_country, OLD.buyer_siren, OLD.buyer_language)
              OR OLD.status = 'void' AND NEW.status <> 'void'
              OR NEW.status = 'draft'))
    EXECUTE FUNCTION invoices_guard_v2();
