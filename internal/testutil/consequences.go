package testutil

import (
	"context"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"
)

// Consequences is what followed a change for one account, as every entry
// point must leave it (jobs.Enqueue): what its timeline says, and which
// invoices were queued for collection.
type Consequences struct {
	// Timeline is the account's events as a JSON array of {"kind", "data"}
	// in order (their times left out, which differ from run to run).
	Timeline string
	// Collected lists the invoice numbers queued for collection (by
	// collect_invoice or collect_invoices jobs), sorted, once per job.
	Collected []string
}

// ConsequencesOf reads Consequences for accountID.
func ConsequencesOf(tb testing.TB, pool *pgxpool.Pool, accountID string) Consequences {
	tb.Helper()
	ctx := context.Background()
	var c Consequences
	if err := pool.QueryRow(ctx, `
		SELECT coalesce(jsonb_agg(jsonb_build_object('kind', kind, 'data', data) ORDER BY id), '[]')::text
		FROM account_events WHERE account_id = $1`, accountID).Scan(&c.Timeline); err != nil {
		tb.Fatal(err)
	}
	if err := pool.QueryRow(ctx, `
		SELECT coalesce(array_agg(n ORDER BY n), '{}') FROM (
			SELECT args->>'invoice_number' AS n FROM river_job WHERE kind = 'collect_invoice'
			UNION ALL
			SELECT e->>'number' FROM river_job, jsonb_array_elements(args->'invoices') e WHERE kind = 'collect_invoices'
		) x JOIN invoices i ON i.number = x.n WHERE i.account_id = $1`, accountID).Scan(&c.Collected); err != nil {
		tb.Fatal(err)
	}
	return c
}
