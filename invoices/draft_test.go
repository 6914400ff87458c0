package invoices_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/shopspring/decimal"
	"github.com/stretchr/testify/require"

	"github.com/billingengine/engine/billing"
	"github.com/billingengine/engine/internal/dbtest"
	"github.com/billingengine/engine/internal/ingest"
	"github.com/billingengine/engine/invoices"
)

// loadUnbillable loads four accounts in one shard: ok1 and ok2 with
// ordinary usage, huge with usage whose month overflows an invoice, and
// unpriced with usage before its resource has a price. The last two are
// inserted directly, as data that predates the import's bounds would be.
func loadUnbillable(t *testing.T, pool *pgxpool.Pool) {
	t.Helper()
	ctx := context.Background()
	report := func(p ingest.Problem) { t.Errorf("line %d: %s", p.Line, p.Message) }
	_, err := ingest.ImportCatalog(ctx, pool, strings.NewReader(
		`{"resource":"c","description":"C","price_per_hour":"1.00","effective_from":"2025-01-01T00:00:00Z"}`+"\n"+
			`{"resource":"late","description":"Late","price_per_hour":"1.00","effective_from":"2026-10-20T00:00:00Z"}`),
		ingest.Options{Name: "catalog", Report: report})
	require.NoError(t, err)
	var accs strings.Builder
	for _, id := range []string{"huge", "ok1", "ok2", "unpriced"} {
		accs.WriteString(`{"id":"` + id + `","name":"` + id + `","email":"` + id + `@example.test","country":"FR","created_at":"2025-01-01T00:00:00Z"}` + "\n")
	}
	_, err = ingest.ImportAccounts(ctx, pool, strings.NewReader(accs.String()), ingest.AccountsOptions{Options: ingest.Options{Name: "accounts", Report: report}})
	require.NoError(t, err)
	_, err = ingest.ImportUsage(ctx, pool, strings.NewReader(
		`{"id":"u1","account_id":"ok1","app":"web","resource":"c","quantity":1,"started_at":"2026-10-01T00:00:00Z","ended_at":"2026-10-01T10:00:00Z"}`+"\n"+
			`{"id":"u2","account_id":"ok2","app":"web","resource":"c","quantity":2,"started_at":"2026-10-01T00:00:00Z","ended_at":"2026-10-01T10:00:00Z"}`),
		ingest.Options{Name: "usage", Report: report})
	require.NoError(t, err)
	_, err = pool.Exec(ctx, `
		INSERT INTO resources (resource) VALUES ('legacy');
		INSERT INTO prices (resource, effective_from, price_per_hour, description) VALUES ('legacy', '2025-01-01T00:00:00Z', 999999.99, 'legacy');
		INSERT INTO usage_segments (id, account_id, app, resource, quantity, started_at, ended_at) VALUES
		    ('h1', 'huge', 'web', 'legacy', 1000000, '2026-10-01T00:00:00Z', NULL),
		    ('h2', 'huge', 'web', 'c', 1, '2026-10-01T00:00:00Z', '2026-10-01T10:00:00Z'),
		    ('p1', 'unpriced', 'web', 'late', 1, '2026-10-01T00:00:00Z', '2026-10-02T00:00:00Z')`)
	require.NoError(t, err)
}

// planOneShard records a run of 2026-10 over every account, in one shard.
func planOneShard(t *testing.T, pool *pgxpool.Pool) int64 {
	t.Helper()
	ctx := context.Background()
	var runID int64
	require.NoError(t, pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		if err := tx.QueryRow(ctx, `INSERT INTO billing_runs (period, requested_by) VALUES ('2026-10', 'test') RETURNING id`).Scan(&runID); err != nil {
			return err
		}
		shards, err := invoices.PlanRun(ctx, tx, runID, 100)
		require.Len(t, shards, 1)
		return err
	}))
	return runID
}

func draftShard(t *testing.T, pool *pgxpool.Pool, runID int64) *invoices.DraftResult {
	t.Helper()
	ctx := context.Background()
	var res *invoices.DraftResult
	require.NoError(t, pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		var err error
		res, err = invoices.DraftShard(ctx, tx, &invoices.Config{Location: time.UTC}, runID, 0)
		return err
	}))
	return res
}

func drafted(t *testing.T, pool *pgxpool.Pool, runID int64) string {
	t.Helper()
	var s string
	require.NoError(t, pool.QueryRow(context.Background(), `
		SELECT coalesce(string_agg(account_id || '=' || subtotal, ' ' ORDER BY account_id), '') FROM invoices WHERE run_id = $1`, runID).Scan(&s))
	return s
}

// A shard with an account whose month overflows an invoice and one whose
// usage has no price drafts the other accounts, records the two failures
// for `billing runs show`, and completes: no data blocks a shard.
func TestDraftShardBillsTheRestWhenAnAccountCannotBeRated(t *testing.T) {
	t.Parallel()
	db := dbtest.New(t)
	loadUnbillable(t, db.Pool)
	runID := planOneShard(t, db.Pool)

	res := draftShard(t, db.Pool, runID)
	require.Equal(t, 4, res.Accounts)
	require.Equal(t, 2, res.Invoices)
	require.True(t, res.LastShard, "the shard is done: finalization follows")
	require.Equal(t, "ok1=10.00 ok2=20.00", drafted(t, db.Pool, runID))

	failures, err := invoices.RunAccountFailures(context.Background(), db.Pool, runID)
	require.NoError(t, err)
	require.Len(t, failures, 2)
	require.Equal(t, "huge", failures[0].AccountID)
	require.Equal(t, "its subtotal 743999992560010.00 is over the 499999999999.99 one invoice can hold", failures[0].Message)
	require.Equal(t, "unpriced", failures[1].AccountID)
	require.Equal(t, "its usage cannot be rated: no price in force for late at 2026-10-01T00:00:00Z", failures[1].Message)
	require.Len(t, res.Failed, 2)
	require.Equal(t, []string{"huge", "unpriced"}, []string{res.Failed[0].AccountID, res.Failed[1].AccountID})

	// Drafting the shard again does nothing, and records nothing twice.
	require.True(t, draftShard(t, db.Pool, runID).Already)
	failures, err = invoices.RunAccountFailures(context.Background(), db.Pool, runID)
	require.NoError(t, err)
	require.Len(t, failures, 2)
}

// Should a value pass the checks made before writing and still be refused
// by Postgres (here: the subtotal bound lifted, so that the numeric(14, 2)
// column overflows), the shard is written again one account at a time and
// only that account fails. Not parallel: it changes a package variable.
func TestDraftShardIsolatesAnAccountPostgresRefuses(t *testing.T) {
	saved := billing.MaxSubtotal
	billing.MaxSubtotal = decimal.New(1, 30)
	t.Cleanup(func() { billing.MaxSubtotal = saved })
	db := dbtest.New(t)
	loadUnbillable(t, db.Pool)
	runID := planOneShard(t, db.Pool)

	res := draftShard(t, db.Pool, runID)
	require.Equal(t, 2, res.Invoices)
	require.Equal(t, "ok1=10.00 ok2=20.00", drafted(t, db.Pool, runID))
	failures, err := invoices.RunAccountFailures(context.Background(), db.Pool, runID)
	require.NoError(t, err)
	require.Len(t, failures, 2)
	require.Equal(t, "huge", failures[0].AccountID)
	require.Equal(t, "its invoice cannot be stored: numeric field overflow", failures[0].Message)
	require.Equal(t, "unpriced", failures[1].AccountID)
	var lines int
	require.NoError(t, db.Pool.QueryRow(context.Background(), `
		SELECT coalesce(sum(cardinality(apps)), 0) FROM invoice_usage_lines`).Scan(&lines))
	require.Equal(t, 2, lines, "nothing of the refused account's invoice is left")
}
