-- An invoice's lines in at most two rows, each keyed by the invoice alone,
-- instead of one row per line. A month wrote 1.45 million rows of
-- invoice_lines for 100,000 invoices (a tuple, an index entry and their WAL
-- for every line) and read each back twice, for the invoice.finalized and
-- invoice.paid events, then again for the documents: the costliest COPY of
-- the run and the costliest read of its events.
--
-- invoice_usage_lines holds the usage lines, written with the draft: line
-- n is apps[n], resources[n], hours[n], amounts[n], and its prices are the
-- price_counts[n] entries of prices_per_hour and price_hours that follow
-- those of lines 1…n−1 (one price, or more when the price changed within
-- the period). invoice_referral_lines holds the lines that follow them,
-- written at finalization: reversals charged on the invoice, referral
-- discounts, the carry-over, in that order. Typed arrays, not JSON:
-- Postgres keeps the columns' precision, the audit sums amounts with
-- unnest, and no one parses text to read a line. Each read is a lookup of
-- unique keys, which the planner estimates right without statistics (a
-- table of lines keyed (invoice, position) was analyzed empty at the first
-- month's drafts, and its reads then scanned it whole for every batch).
CREATE TABLE invoice_usage_lines (
    invoice_id      bigint PRIMARY KEY,
    apps            text[] NOT NULL,
    resources       text[] NOT NULL,
    hours           numeric(20, 6)[] NOT NULL,
    amounts         numeric(14, 2)[] NOT NULL,
    price_counts    integer[] NOT NULL,
    prices_per_hour numeric[] NOT NULL,
    price_hours     numeric(20, 6)[] NOT NULL,
    CHECK (array_ndims(apps) = 1 AND cardinality(apps) >= 1
           AND array_ndims(resources) = 1 AND cardinality(resources) = cardinality(apps)
           AND array_ndims(hours) = 1 AND cardinality(hours) = cardinality(apps)
           AND array_ndims(amounts) = 1 AND cardinality(amounts) = cardinality(apps)
           AND array_ndims(price_counts) = 1 AND cardinality(price_counts) = cardinality(apps)),
    CHECK (coalesce(array_ndims(prices_per_hour), 1) = 1 AND coalesce(array_ndims(price_hours), 1) = 1
           AND cardinality(prices_per_hour) = cardinality(price_hours)),
    CHECK (array_position(apps, NULL) IS NULL AND array_position(resources, NULL) IS NULL
           AND array_position(hours, NULL) IS NULL AND array_position(amounts, NULL) IS NULL
           AND array_position(price_counts, NULL) IS NULL AND array_position(prices_per_hour, NULL) IS NULL
           AND array_position(price_hours, NULL) IS NULL),
    CHECK (0 <= ALL (hours) AND 0 < ALL (amounts) AND 0 <= ALL (price_counts) AND 0 <= ALL (price_hours))
);

-- A referral line's rules, line by line (those of invoice_lines' CHECKs).
CREATE FUNCTION referral_lines_valid(types text[], referees text[], amounts numeric[]) RETURNS boolean
LANGUAGE sql IMMUTABLE AS $$
    SELECT array_ndims(types) = 1 AND cardinality(types) >= 1
       AND array_ndims(referees) = 1 AND cardinality(referees) = cardinality(types)
       AND array_ndims(amounts) = 1 AND cardinality(amounts) = cardinality(types)
       AND NOT EXISTS (
           SELECT 1 FROM unnest(types, referees, amounts) AS l(type, referee, amount)
           WHERE amount IS NULL OR NOT CASE type
               WHEN 'referral' THEN referee IS NOT NULL AND amount < 0
               WHEN 'referral_carryover' THEN amount > 0
               WHEN 'referral_reversal' THEN referee IS NOT NULL AND amount > 0
               ELSE false END)
$$;

CREATE TABLE invoice_referral_lines (
    invoice_id          bigint PRIMARY KEY,
    types               text[] NOT NULL,
    referee_account_ids text[] NOT NULL, -- NULL for the carry-over
    amounts             numeric(14, 2)[] NOT NULL,
    CHECK (referral_lines_valid(types, referee_account_ids, amounts))
);

-- Lines are never changed nor removed once written: a draft's usage lines
-- are written with it, the others with its finalization, and a finalized
-- invoice is immutable.
CREATE TRIGGER invoice_usage_lines_append_only BEFORE UPDATE OR DELETE OR TRUNCATE ON invoice_usage_lines
    FOR EACH STATEMENT EXECUTE FUNCTION forbid_change();
CREATE TRIGGER invoice_referral_lines_append_only BEFORE UPDATE OR DELETE OR TRUNCATE ON invoice_referral_lines
    FOR EACH STATEMENT EXECUTE FUNCTION forbid_change();

-- The lines written before move, in their order: an invoice's usage lines
-- were its first.
DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM invoice_lines u JOIN invoice_lines o ON o.invoice_id = u.invoice_id
               WHERE u.type = 'usage' AND o.type <> 'usage' AND o.position < u.position) THEN
        RAISE EXCEPTION 'an invoice has a usage line after another kind of line: its lines cannot move';
    END IF;
END $$;

INSERT INTO invoice_usage_lines (invoice_id, apps, resources, hours, amounts, price_counts, prices_per_hour, price_hours)
SELECT l.invoice_id,
       array_agg(l.app ORDER BY l.position), array_agg(l.resource ORDER BY l.position),
       array_agg(l.hours ORDER BY l.position), array_agg(l.amount ORDER BY l.position),
       array_agg(coalesce(jsonb_array_length(l.prices), 0) ORDER BY l.position),
       coalesce((SELECT array_agg((p.e->>'price_per_hour')::numeric ORDER BY m.position, p.n)
                 FROM invoice_lines m, jsonb_array_elements(m.prices) WITH ORDINALITY AS p(e, n)
                 WHERE m.invoice_id = l.invoice_id AND m.type = 'usage'), '{}'),
       coalesce((SELECT array_agg((p.e->>'hours')::numeric ORDER BY m.position, p.n)
                 FROM invoice_lines m, jsonb_array_elements(m.prices) WITH ORDINALITY AS p(e, n)
                 WHERE m.invoice_id = l.invoice_id AND m.type = 'usage'), '{}')
FROM invoice_lines l
WHERE l.type = 'usage'
GROUP BY l.invoice_id;

INSERT INTO invoice_referral_lines (invoice_id, types, referee_account_ids, amounts)
SELECT invoice_id, array_agg(type ORDER BY position), array_agg(referee_account_id ORDER BY position),
       array_agg(amount ORDER BY position)
FROM invoice_lines
WHERE type <> 'usage'
GROUP BY invoice_id;

DROP TABLE invoice_lines;
