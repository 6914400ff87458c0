package pgdb_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/billingengine/engine/internal/dbtest"
	"github.com/billingengine/engine/internal/platform/pgdb"
	"github.com/billingengine/engine/invoices"
)

// Migration 0024 moves the lines written one row each into at most two
// rows per invoice, in position order, the usage lines' prices with them:
// the invoice reads as it did.
func TestLinesMoveToRowsPerInvoice(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	d := dbtest.Empty(t)
	_, err := pgdb.MigrateThrough(ctx, d.Pool, 23)
	require.NoError(t, err)
	_, err = d.Pool.Exec(ctx, `
		INSERT INTO accounts (id, name, email, country, created_at) VALUES ('a1', 'One', 'a1@example.test', 'FR', '2026-01-01Z');
		INSERT INTO accounts (id, name, email, country, created_at) VALUES ('a2', 'Two', 'a2@example.test', 'FR', '2026-01-01Z');
		INSERT INTO billing_runs (period, requested_by) VALUES ('2026-09', 'test');
		INSERT INTO invoices (id, number, account_id, period, period_start, period_end, run_id, status, subtotal, discount,
		                      tax_rate, vat_treatment, tax, total, issued_at, buyer_name, buyer_email, buyer_country)
		VALUES (7, 'INV-2026-000001', 'a1', '2026-09', '2026-09-01Z', '2026-10-01Z', (SELECT min(id) FROM billing_runs), 'open',
		        13.50, 1.00, 20, 'domestic', 2.50, 15.00, '2026-10-01T00:30:00Z', 'One', 'a1@example.test', 'FR'),
		       (8, 'INV-2026-000002', 'a2', '2026-09', '2026-09-01Z', '2026-10-01Z', (SELECT min(id) FROM billing_runs), 'open',
		        0.50, 0, 20, 'domestic', 0.10, 0.60, '2026-10-01T00:30:00Z', 'Two', 'a2@example.test', 'FR');
		INSERT INTO invoice_lines (invoice_id, position, type, app, resource, hours, prices, amount, referee_account_id) VALUES
		    (7, 2, 'usage', 'db', 'addon:pg', 720, '[{"price_per_hour": "0.0100", "hours": "720.000000"}]', 7.20, NULL),
		    (7, 1, 'usage', 'web', 'container:M', 250.5, '[{"price_per_hour": "0.02", "hours": "100.000000"}, {"price_per_hour": "0.0278", "hours": "150.500000"}]', 6.30, NULL),
		    (7, 4, 'referral_carryover', NULL, NULL, NULL, NULL, 0.50, NULL),
		    (7, 3, 'referral', NULL, NULL, NULL, NULL, -1.50, 'a2'),
		    (8, 1, 'usage', 'web', 'container:S', 1.25, NULL, 0.50, NULL);`)
	require.NoError(t, err)

	_, err = pgdb.Migrate(ctx, d.Pool)
	require.NoError(t, err)

	var usage, others int
	require.NoError(t, d.Pool.QueryRow(ctx, `SELECT (SELECT count(*) FROM invoice_usage_lines), (SELECT count(*) FROM invoice_referral_lines)`).Scan(&usage, &others))
	require.Equal(t, 2, usage, "one row per invoice")
	require.Equal(t, 1, others, "one row for the invoice with a referral line")

	inv, err := invoices.Get(ctx, d.Pool, "INV-2026-000001")
	require.NoError(t, err)
	require.Equal(t, []invoices.Line{
		{Type: "usage", App: "web", Resource: "container:M", Hours: "250.500000", Amount: "6.30",
			Prices: []invoices.LinePrice{{PerHour: "0.02", Hours: "100.000000"}, {PerHour: "0.0278", Hours: "150.500000"}}},
		{Type: "usage", App: "db", Resource: "addon:pg", Hours: "720.000000", Amount: "7.20",
			Prices: []invoices.LinePrice{{PerHour: "0.01", Hours: "720.000000"}}},
		{Type: "referral", RefereeAccountID: "a2", Amount: "-1.50"},
		{Type: "referral_carryover", Amount: "0.50"},
	}, inv.Lines)
	inv, err = invoices.Get(ctx, d.Pool, "INV-2026-000002")
	require.NoError(t, err)
	require.Equal(t, []invoices.Line{{Type: "usage", App: "web", Resource: "container:S", Hours: "1.250000", Amount: "0.50"}}, inv.Lines)

	_, err = d.Pool.Exec(ctx, `UPDATE invoice_usage_lines SET amounts[1] = 1`)
	require.ErrorContains(t, err, "append-only", "usage lines are never changed")
	_, err = d.Pool.Exec(ctx, `INSERT INTO invoice_referral_lines (invoice_id, types, referee_account_ids, amounts) VALUES (8, '{referral}', '{a1}', '{1.00}')`)
	require.ErrorContains(t, err, "invoice_referral_lines_check", "a referral line's amount is negative")
	_, err = d.Pool.Exec(ctx, `INSERT INTO invoice_referral_lines (invoice_id, types, referee_account_ids, amounts) VALUES (8, '{usage}', '{NULL}', '{1.00}')`)
	require.ErrorContains(t, err, "invoice_referral_lines_check", "usage lines have their own table")
}
