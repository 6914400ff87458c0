package pgdb_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/billingengine/engine/internal/dbtest"
	"github.com/billingengine/engine/internal/platform/pgdb"
)

// Migration 0024 moves the lines written one row each into at most two
// rows per invoice, in position order, the usage lines' prices with them,
// and drops invoice_lines.
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

	var usageRows, others int
	require.NoError(t, d.Pool.QueryRow(ctx, `SELECT (SELECT count(*) FROM invoice_usage_lines), (SELECT count(*) FROM invoice_referral_lines)`).Scan(&usageRows, &others))
	require.Equal(t, 2, usageRows, "one row per invoice")
	require.Equal(t, 1, others, "one row for the invoice with a referral line")

	type usage struct{ apps, resources, hours, amounts, counts, perHour, priceHours string }
	read := func(id int) usage {
		var u usage
		require.NoError(t, d.Pool.QueryRow(ctx, `
			SELECT apps::text, resources::text, hours::text, amounts::text, price_counts::text, prices_per_hour::text, price_hours::text
			FROM invoice_usage_lines WHERE invoice_id = $1`, id).Scan(&u.apps, &u.resources, &u.hours, &u.amounts, &u.counts, &u.perHour, &u.priceHours))
		return u
	}
	require.Equal(t, usage{apps: "{web,db}", resources: "{container:M,addon:pg}", hours: "{250.500000,720.000000}", amounts: "{6.30,7.20}",
		counts: "{2,1}", perHour: "{0.02,0.0278,0.0100}", priceHours: "{100.000000,150.500000,720.000000}"}, read(7),
		"in position order, each line's prices after the line before's")
	require.Equal(t, usage{apps: "{web}", resources: "{container:S}", hours: "{1.250000}", amounts: "{0.50}", counts: "{0}", perHour: "{}", priceHours: "{}"}, read(8),
		"a line stored without prices has none")
	var types, referees, amounts string
	require.NoError(t, d.Pool.QueryRow(ctx, `
		SELECT types::text, referee_account_ids::text, amounts::text FROM invoice_referral_lines WHERE invoice_id = 7`).Scan(&types, &referees, &amounts))
	require.Equal(t, []string{"{referral,referral_carryover}", "{a2,NULL}", "{-1.50,0.50}"}, []string{types, referees, amounts})
	var gone bool
	require.NoError(t, d.Pool.QueryRow(ctx, `SELECT to_regclass('invoice_lines') IS NULL`).Scan(&gone))
	require.True(t, gone, "invoice_lines is dropped")

	_, err = d.Pool.Exec(ctx, `UPDATE invoice_usage_lines SET amounts[1] = 1`)
	require.ErrorContains(t, err, "append-only", "usage lines are never changed")
	_, err = d.Pool.Exec(ctx, `INSERT INTO invoice_referral_lines (invoice_id, types, referee_account_ids, amounts) VALUES (8, '{referral}', '{a1}', '{1.00}')`)
	require.ErrorContains(t, err, "invoice_referral_lines_check", "a referral line's amount is negative")
	_, err = d.Pool.Exec(ctx, `INSERT INTO invoice_referral_lines (invoice_id, types, referee_account_ids, amounts) VALUES (8, '{usage}', '{NULL}', '{1.00}')`)
	require.ErrorContains(t, err, "invoice_referral_lines_check", "usage lines have their own table")
}
