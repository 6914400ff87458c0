-- E-invoices (SPEC §13): a business buyer's document version carries its
-- Factur-X EN16931 CII XML beside the PDF, written in the same row, so the
-- bytes sent are the bytes kept. NULL for a consumer's document (the plain
-- PDF) and for versions rendered before e-invoices.
ALTER TABLE documents ADD COLUMN xml bytea CHECK (xml IS NULL OR length(xml) > 0);
