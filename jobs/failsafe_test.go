package jobs_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/billingengine/engine/jobs"
)

// A run whose shard holds an account that cannot be billed (a month that
// overflows an invoice, inserted past the import's bounds) completes: the
// other accounts of the shard are invoiced, and the account is listed with
// its reason among the run's failures (what `billing runs show` prints).
// A rerun of the period is not blocked either: it fails that account again
// and nothing else.
func TestRunBillsTheShardAroundAnAccountThatCannotBeRated(t *testing.T) {
	t.Parallel()
	tb := setup(t)
	tb.cfg.ShardSize = 10
	tb.loadSmoke(t)
	ctx := context.Background()
	_, err := tb.pool.Exec(ctx, `
		INSERT INTO accounts (id, name, email, country, created_at) VALUES ('a0', 'Overflow', 'a0@example.test', 'FR', '2026-01-01T00:00:00Z');
		INSERT INTO resources (resource) VALUES ('legacy');
		INSERT INTO prices (resource, effective_from, price_per_hour, description) VALUES ('legacy', '2026-01-01T00:00:00Z', 999999.99, 'legacy');
		INSERT INTO usage_segments (id, account_id, app, resource, quantity, started_at, ended_at)
		VALUES ('x1', 'a0', 'web', 'legacy', 1000000, '2026-09-01T00:00:00Z', NULL)`)
	require.NoError(t, err)
	client := tb.startWorker(t)

	run := tb.run(t, client, "2026-10")
	require.Equal(t, 1, run.ShardsTotal, "a0 shares its shard with the others")
	require.Equal(t, 3, run.InvoicesFinalized)
	got := tb.invoices(t, "2026-10")
	require.Len(t, got, 3)
	require.NotContains(t, got, "a0")

	report, err := jobs.Report(ctx, tb.pool, run.ID)
	require.NoError(t, err)
	require.Equal(t, []jobs.JobFailure{{Kind: "account", State: "failed", AccountID: "a0",
		Error: "its subtotal 743999992560000.00 is over the 499999999999.99 one invoice can hold"}}, report.Failures)
	require.Equal(t, 3, report.InvoicesByStatus["open"]+report.InvoicesByStatus["processing"]+report.InvoicesByStatus["paid"])

	rerun := tb.run(t, client, "2026-10")
	require.Equal(t, 1, rerun.AccountsTotal, "only a0 is left to bill")
	require.Zero(t, rerun.InvoicesDrafted)
	report, err = jobs.Report(ctx, tb.pool, rerun.ID)
	require.NoError(t, err)
	require.Len(t, report.Failures, 1)
	require.Equal(t, "a0", report.Failures[0].AccountID)
}
