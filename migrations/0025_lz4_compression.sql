-- The values Postgres compresses are compressed with lz4 rather than its
-- default pglz, where the server has it (Debian's and most builds do): a
-- Factur-X XML (24 KB, a third of the documents), the data of an event
-- larger than 2 KB (a fifth of them: an invoice's JSON) and an invoice's
-- longer usage lines. pglz spent about 5 s of Postgres's CPU on the XMLs of
-- a 100,000-invoice month, lz4 a fifth of that, for 22 % more bytes
-- (docs/benchmarks.md). Values stored before keep their compression; a
-- server without lz4 keeps pglz for all.
DO $$
BEGIN
    ALTER TABLE documents ALTER COLUMN xml SET COMPRESSION lz4;
    ALTER TABLE events ALTER COLUMN data SET COMPRESSION lz4;
    ALTER TABLE invoice_usage_lines
        ALTER COLUMN apps SET COMPRESSION lz4, ALTER COLUMN resources SET COMPRESSION lz4,
        ALTER COLUMN hours SET COMPRESSION lz4, ALTER COLUMN amounts SET COMPRESSION lz4,
        ALTER COLUMN price_counts SET COMPRESSION lz4, ALTER COLUMN prices_per_hour SET COMPRESSION lz4,
        ALTER COLUMN price_hours SET COMPRESSION lz4;
EXCEPTION WHEN feature_not_supported THEN
    RAISE NOTICE 'this server was built without lz4: documents, events and lines keep pglz compression';
END $$;
