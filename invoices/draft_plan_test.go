package invoices

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/billingengine/engine/internal/dbtest"
)

// TestShardAccountsProbeTheirInvoiceWhateverTheStatistics is a first
// month's drafting: invoices was analyzed while empty, then the run's own
// drafts filled the period. Each account's invoice must be one probe of
// the per-period index, not an anti join reading the period's invoices
// once per account.
func TestShardAccountsProbeTheirInvoiceWhateverTheStatistics(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	d := dbtest.New(t)
	d.FirstMonth(t, 20000, "acc_019000", false)
	plan := d.Explain(t, shardAccountsSQL, "acc_018500", "acc_018999", nil, "2026-10")
	require.Contains(t, plan, "invoices_one_per_period", plan)
	require.NotContains(t, plan, "Anti Join", plan)

	// And it still finds the accounts without an invoice, only those.
	tx, err := d.Pool.Begin(ctx)
	require.NoError(t, err)
	defer tx.Rollback(ctx) //nolint:errcheck // read only
	rows, err := tx.Query(ctx, shardAccountsSQL, "acc_018990", "acc_019009", nil, "2026-10")
	require.NoError(t, err)
	var ids []string
	for rows.Next() {
		var id string
		require.NoError(t, rows.Scan(&id))
		ids = append(ids, id)
	}
	require.NoError(t, rows.Err())
	require.Equal(t, []string{"acc_019000", "acc_019001", "acc_019002", "acc_019003", "acc_019004",
		"acc_019005", "acc_019006", "acc_019007", "acc_019008", "acc_019009"}, ids)
}
