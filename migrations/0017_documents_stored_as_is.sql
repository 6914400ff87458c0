-- PDFs are stored as they are (SPEC §6, §13): their fonts and content
-- streams are compressed by the renderer since every document embeds its
-- fonts, so Postgres's own compression would spend its CPU (the run's
-- bottleneck) on bytes it can't shrink. EXTERNAL keeps them out of line,
-- uncompressed. Rows already stored keep their storage.
ALTER TABLE documents ALTER COLUMN pdf SET STORAGE EXTERNAL;
