-- PDF documents of invoices and credit notes, by number, every version
-- kept: a document is re-rendered when its payment status changes, and the
-- newest version is the one served.
CREATE TABLE documents (
    number      text NOT NULL CHECK (number ~ '^(INV|CN)-20[0-9]{2}-[0-9]{6}$'),
    version     integer NOT NULL CHECK (version >= 1),
    sha256      text NOT NULL CHECK (sha256 ~ '^[0-9a-f]{64}$'),
    pdf         bytea NOT NULL CHECK (length(pdf) > 0),
    -- The state the document shows, so that a render of an older state
    -- never replaces a newer one.
    stamp       text NOT NULL,
    rendered_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (number, version)
);

CREATE TRIGGER documents_append_only BEFORE UPDATE OR DELETE OR TRUNCATE ON documents
    FOR EACH STATEMENT EXECUTE FUNCTION forbid_change();
