package pgdb_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/billingengine/engine/internal/dbtest"
)

// TestLookupByNumberTakesTheUniqueIndexAfterTheDraftsWereAnalyzed is the
// first month: statistics gathered while every invoice is a draft say that
// every number is NULL, and the planner, believing the partial indexes
// "WHERE number IS NOT NULL" empty, scanned one of them whole for each
// lookup by number as the run filled them (migration 0022).
func TestLookupByNumberTakesTheUniqueIndexAfterTheDraftsWereAnalyzed(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	d := dbtest.New(t)
	_, err := d.Pool.Exec(ctx, `
		INSERT INTO accounts (id, name, email, country, created_at)
		SELECT 'acc_' || lpad(a::text, 6, '0'), 'Account ' || a, 'a' || a || '@example.test', 'FR', '2025-01-01Z'
		FROM generate_series(1, 20000) a;
		INSERT INTO billing_runs (period, requested_by) VALUES ('2026-10', 'test');
		INSERT INTO invoices (account_id, period, period_start, period_end, run_id, subtotal)
		SELECT id, '2026-10', '2026-10-01Z', '2026-11-01Z', (SELECT id FROM billing_runs), 10.00 FROM accounts;
		ANALYZE invoices;
		UPDATE invoices SET number = 'INV-2026-' || lpad(id::text, 6, '0'), status = 'open', discount = 0, tax_rate = 20,
		       tax = 2.00, total = 12.00, issued_at = '2026-11-01Z', vat_treatment = 'domestic', buyer_name = 'B', buyer_country = 'FR';`)
	require.NoError(t, err)
	var numbers []string
	for i := range 100 { // a collection batch looks up 500 among 100,000
		numbers = append(numbers, fmt.Sprintf("INV-2026-%06d", i*193+1))
	}
	// The collection's lookup (payments) and the documents' (invoices), as
	// they read. (payments tests the dunning facts' lookup by id.)
	for _, c := range []struct {
		q, index string
		arg      any
	}{
		{`SELECT id, number, account_id, status, coalesce(total, 0), amount_paid, credit_applied FROM invoices WHERE number = ANY($1) ORDER BY id FOR UPDATE`,
			"invoices_number_key", numbers},
		{`SELECT number, status, amount_paid, credit_applied, total FROM invoices WHERE number = ANY($1) ORDER BY id FOR NO KEY UPDATE`,
			"invoices_number_key", numbers},
	} {
		q := c.q
		rows, err := d.Pool.Query(ctx, "EXPLAIN "+q, c.arg)
		require.NoError(t, err)
		var plan []string
		for rows.Next() {
			var line string
			require.NoError(t, rows.Scan(&line))
			plan = append(plan, line)
		}
		require.NoError(t, rows.Err())
		require.Contains(t, strings.Join(plan, "\n"), c.index, "%s\n%s", q, strings.Join(plan, "\n"))
	}
}
