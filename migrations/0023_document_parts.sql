-- Three quarters of a one-page invoice's PDF are the streams of its two
-- font subsets (and, for a PDF/A-3, the sRGB profile), byte for byte those
-- of every other document whose text uses the same characters. Stored in
-- each row they were most of what storing a document cost: 17 rows of the
-- TOAST table and their WAL for a 33 KB PDF. They are now kept once, in
-- document_parts, named by their SHA-256; a version's pdf holds the rest of
-- the file, and parts[i] goes back in at part_at[i], an offset in pdf (in
-- increasing order; offsets in pdf as stored, each before the parts after
-- it are put back). documents.sha256 is still the digest of the whole file,
-- which every read checks. Versions stored before keep their whole file
-- and no parts.
CREATE TABLE document_parts (
    sha256 bytea PRIMARY KEY CHECK (length(sha256) = 32),
    bytes  bytea NOT NULL CHECK (length(bytes) > 0)
);
ALTER TABLE document_parts ALTER COLUMN bytes SET STORAGE EXTERNAL;

-- A part is never changed nor removed: documents name it.
CREATE TRIGGER document_parts_append_only BEFORE UPDATE OR DELETE OR TRUNCATE ON document_parts
    FOR EACH STATEMENT EXECUTE FUNCTION forbid_change();

ALTER TABLE documents
    ADD COLUMN parts bytea[],
    ADD COLUMN part_at integer[],
    ADD CONSTRAINT documents_parts_check CHECK (
        (parts IS NULL) = (part_at IS NULL)
        AND coalesce(cardinality(parts) = cardinality(part_at), true));
