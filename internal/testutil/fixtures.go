package testutil

import (
	"context"
	"fmt"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"
)

// Invoice is a finalized open invoice inserted directly, for tests of what
// happens after finalization.
type Invoice struct {
	ID     int64
	Number string
}

// OpenInvoice inserts an account (if missing) and an open invoice of total
// for it, numbered INV-2026-<n>.
func OpenInvoice(tb testing.TB, pool *pgxpool.Pool, accountID string, n int, total string) Invoice {
	tb.Helper()
	ctx := context.Background()
	_, err := pool.Exec(ctx, `
		INSERT INTO accounts (id, name, email, country, created_at) VALUES ($1, 'Test ' || $1, $1 || '@example.test', 'FR', '2026-01-01Z')
		ON CONFLICT (id) DO NOTHING`, accountID)
	if err != nil {
		tb.Fatal(err)
	}
	var runID int64
	if err := pool.QueryRow(ctx, `INSERT INTO billing_runs (period, requested_by) VALUES ('2026-10', 'test') RETURNING id`).Scan(&runID); err != nil {
		tb.Fatal(err)
	}
	inv := Invoice{Number: fmt.Sprintf("INV-2026-%06d", n)}
	err = pool.QueryRow(ctx, `
		INSERT INTO invoices (number, account_id, period, period_start, period_end, run_id, status, subtotal, discount,
		                      tax_rate, vat_treatment, tax, total, issued_at, buyer_name, buyer_email, buyer_country)
		VALUES ($1, $2, '2026-10', '2026-10-01Z', '2026-11-01Z', $3, 'open', $4, 0, 0, 'outside_eu', 0, $4, now(), 'Test', 't@example.test', 'US')
		RETURNING id`, inv.Number, accountID, runID, total).Scan(&inv.ID)
	if err != nil {
		tb.Fatal(err)
	}
	return inv
}
