package main

import (
	"context"
	"fmt"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"
)

// `billing runs show` lists an account the run could not bill, with its
// reason, beside a completed run that billed the rest of its shard.
func TestRunsShowListsAnAccountThatCannotBeBilled(t *testing.T) {
	t.Parallel()
	c := newCLI(t)
	c.ok("catalog", "import", writeFile(t, "catalog.ndjson", testCatalog))
	c.ok("accounts", "import", writeFile(t, "accounts.ndjson", financeAccounts))
	c.ok("usage", "import", writeFile(t, "usage.ndjson", financeUsage))
	// Usage of acc_2 no invoice can hold, stored past the import's bounds.
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, c.url)
	require.NoError(t, err)
	defer conn.Close(ctx)
	for _, q := range []string{
		`INSERT INTO resources (resource) VALUES ('legacy')`,
		`INSERT INTO prices (resource, effective_from, price_per_hour, description) VALUES ('legacy', '2026-01-01T00:00:00Z', 999999.99, 'legacy')`,
		`INSERT INTO usage_segments (id, account_id, app, resource, quantity, started_at, ended_at)
		 VALUES ('x1', 'acc_2', 'web', 'legacy', 1000000, '2026-10-01T00:00:00Z', '2026-10-31T00:00:00Z')`,
	} {
		_, err := conn.Exec(ctx, q)
		require.NoError(t, err)
	}

	var started struct {
		RunID int64 `json:"run_id"`
	}
	c.json(&started, "run", "--period", "2026-10")
	c.ok("worker", "--until-idle")

	var report struct {
		State            string         `json:"state"`
		InvoicesByStatus map[string]int `json:"invoices_by_status"`
		Failures         []map[string]any
	}
	c.json(&report, "runs", "show", fmt.Sprint(started.RunID), "--json")
	require.Equal(t, "completed", report.State)
	require.Equal(t, 1, report.InvoicesByStatus["paid"], "acc_1 is billed")
	require.Equal(t, []map[string]any{{"kind": "account", "state": "failed", "account_id": "acc_2",
		"error": "its subtotal 719999992800006.67 is over the 499999999999.99 one invoice can hold"}}, report.Failures)
	require.Contains(t, c.ok("runs", "show", fmt.Sprint(started.RunID)),
		"FAILED account acc_2 (not billed, the rest was): its subtotal 719999992800006.67 is over the 499999999999.99 one invoice can hold")
}
