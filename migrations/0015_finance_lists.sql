-- Finance listings and reports (SPEC §8, §15): the indexes that serve
-- GET /v1/accounts, GET /v1/invoices (billing accounts list, billing
-- invoices list) page by page, keyset on the account id or the invoice
-- number, whatever the filter; and the reports by month of issue.

-- accounts?status=: one range of (status, id) per page.
CREATE INDEX accounts_status_id ON accounts (status, id);

-- accounts?search=: a substring of the id, name or email, in any case,
-- through trigrams (pg_trgm ships with Postgres and is a trusted
-- extension: the database's owner may create it). The fields are joined
-- with a character none of them may hold (the CHECKs of 0001 refuse
-- control characters), so that a match never spans two fields.
CREATE EXTENSION IF NOT EXISTS pg_trgm;
CREATE INDEX accounts_search ON accounts
    USING gin ((lower(id) || E'\x01' || lower(name) || E'\x01' || lower(email)) gin_trgm_ops);

-- invoices?status=open (the unpaid ones among millions): one range of
-- (status, number) per page.
CREATE INDEX invoices_status_number ON invoices (status, number) WHERE number IS NOT NULL;
-- invoices?overdue=true: few rows, kept apart.
CREATE INDEX invoices_overdue_number ON invoices (number)
    WHERE overdue_at IS NOT NULL AND status IN ('open', 'processing');
-- invoices?account= and invoices?period=.
CREATE INDEX invoices_account_number ON invoices (account_id, number) WHERE number IS NOT NULL;
CREATE INDEX invoices_period_number ON invoices (period, number) WHERE number IS NOT NULL;

-- The VAT report and the sales journal read a month of issue.
CREATE INDEX invoices_issued_at ON invoices (issued_at) WHERE number IS NOT NULL;
CREATE INDEX credit_notes_issued_at ON credit_notes (issued_at);
