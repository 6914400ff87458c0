package payments

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/billingengine/engine/internal/dbtest"
)

// TestDunningFactsByIDLookTheBatchUpByID is the first month's run: the
// statistics date from the drafts, so the partial index of open invoices
// looks empty while collection fills it, and a plan through it scans every
// open invoice for each batch of declines.
func TestDunningFactsByIDLookTheBatchUpByID(t *testing.T) {
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
	ids := make([]int64, 25)
	for i := range ids {
		ids[i] = int64(i*797 + 1)
	}
	require.Contains(t, dunningByIDSQL, "FROM batch i\n")
	rows, err := d.Pool.Query(ctx, "EXPLAIN "+dunningByIDSQL, ids)
	require.NoError(t, err)
	var plan []string
	for rows.Next() {
		var line string
		require.NoError(t, rows.Scan(&line))
		plan = append(plan, line)
	}
	require.NoError(t, rows.Err())
	require.Contains(t, strings.Join(plan, "\n"), "invoices_pkey", strings.Join(plan, "\n"))
	require.NotContains(t, strings.Join(plan, "\n"), "invoices_open", strings.Join(plan, "\n"))

	// And it reads what the other forms read.
	got, err := DunningCandidatesByID(ctx, d.Pool, ids, time.Date(2026, 11, 2, 0, 0, 0, 0, time.UTC))
	require.NoError(t, err)
	require.Len(t, got, len(ids))
}
