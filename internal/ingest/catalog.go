package ingest

import (
	"context"
	"io"

	"github.com/jackc/pgx/v5"

	"github.com/billingengine/engine/billing"
	"github.com/billingengine/engine/internal/platform/pgdb"
)

var catalogSpec = &spec{
	kind:         "catalog",
	fields:       []string{"resource", "description", "price_per_hour", "effective_from"},
	stageColumns: `resource text COLLATE "C" NOT NULL, description text NOT NULL, price_per_hour numeric NOT NULL, effective_from timestamptz NOT NULL`,
	columns:      []string{"resource", "description", "price_per_hour", "effective_from"},
	decode: func(f *fieldReader) []any {
		res, _ := f.ident("resource", true)
		desc, _ := f.text("description", true, 300)
		price, ok := f.decimal("price_per_hour", 6, 10)
		if ok && price.GreaterThan(billing.MaxPricePerHour) {
			f.fail("price_per_hour", "%s is over the maximum %s: a month of the largest quantity (%d units) must fit on one invoice",
				price, billing.MaxPricePerHour, billing.MaxQuantity)
		}
		from, _ := f.timestamp("effective_from", true)
		if f.msgs != nil {
			return nil
		}
		return []any{res, desc, price, from}
	},
	checks: []string{
		// A run rates with a share lock on the resources: lock the ones
		// priced here, then look at what is invoiced.
		`SELECT 1 FROM resources WHERE resource IN (SELECT resource FROM ingest_stage) ORDER BY resource FOR NO KEY UPDATE`,
		// A new price of a resource in use must not change what is already
		// invoiced (or being invoiced).
		`INSERT INTO ingest_problems
		 SELECT s.line, format('effective_from: %s is before the end of the last invoiced period (%s): a price can only change after it',
		                       rfc3339(s.effective_from), rfc3339(inv.last_end))
		 FROM ingest_stage s
		 CROSS JOIN (SELECT max(period_end) AS last_end FROM invoices WHERE status <> 'void') inv
		 WHERE s.effective_from < inv.last_end
		   AND EXISTS (SELECT 1 FROM resources r WHERE r.resource = s.resource)
		   AND NOT EXISTS (SELECT 1 FROM prices p WHERE p.resource = s.resource AND p.effective_from = s.effective_from)`,
		`INSERT INTO ingest_problems
		 SELECT line, format('duplicate price for %s from %s in this file (lines %s)', resource, rfc3339(effective_from), lines)
		 FROM (SELECT line, resource, effective_from,
		              count(*) OVER w AS n, string_agg(line::text, ', ') OVER w AS lines
		       FROM ingest_stage WINDOW w AS (PARTITION BY resource, effective_from)) d
		 WHERE n > 1`,
		`INSERT INTO ingest_problems
		 SELECT s.line, format('price_per_hour: conflicting re-import: %s from %s is already priced %s; a new price needs a new effective_from',
		                       s.resource, rfc3339(s.effective_from), p.price_per_hour)
		 FROM ingest_stage s JOIN prices p USING (resource, effective_from)
		 WHERE p.price_per_hour <> s.price_per_hour`,
	},
	apply: func(ctx context.Context, tx pgx.Tx, res *Result) error {
		if _, err := tx.Exec(ctx, `INSERT INTO resources (resource) SELECT DISTINCT resource FROM ingest_stage ON CONFLICT DO NOTHING`); err != nil {
			return err
		}
		return countUpserts(ctx, tx, res, `
			INSERT INTO prices (resource, effective_from, price_per_hour, description)
			SELECT resource, effective_from, price_per_hour, description FROM ingest_stage
			ON CONFLICT (resource, effective_from) DO UPDATE SET description = EXCLUDED.description
			WHERE prices.description <> EXCLUDED.description
			RETURNING xmax = 0`)
	},
}

// ImportCatalog loads prices (SPEC §2): one price per line, effective from
// an instant. Re-importing a line is a no-op and a description may be
// reworded, but a price once set never changes: a new price is a new line
// with a later effective_from.
func ImportCatalog(ctx context.Context, db pgdb.DB, r io.Reader, o Options) (*Result, error) {
	return run(ctx, db, r, catalogSpec, o)
}

// countUpserts runs an INSERT … ON CONFLICT … RETURNING xmax = 0 and counts
// inserted, updated and (from the staged total) unchanged rows.
func countUpserts(ctx context.Context, tx pgx.Tx, res *Result, q string) error {
	rows, err := tx.Query(ctx, q)
	if err != nil {
		return err
	}
	inserted, err := pgx.CollectRows(rows, pgx.RowTo[bool])
	if err != nil {
		return err
	}
	for _, ins := range inserted {
		if ins {
			res.Inserted++
		} else {
			res.Updated++
		}
	}
	var staged int
	if err := tx.QueryRow(ctx, `SELECT count(*) FROM ingest_stage`).Scan(&staged); err != nil {
		return err
	}
	res.Unchanged = staged - res.Inserted - res.Updated
	return nil
}
