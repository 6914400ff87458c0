package jobs_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/billingengine/engine/billing"
	"github.com/billingengine/engine/invoices"
	"github.com/billingengine/engine/jobs"
)

// A billing_run job that another service inserts for a month still
// running is cancelled with the period_not_ended reason: nothing is
// billed, no run is recorded, and the usage of the month stays open.
func TestBillingRunJobForUnendedPeriodIsCancelled(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	tb := setup(t)
	tb.loadSmoke(t)
	now := time.Now()
	current := billing.PeriodOf(now, time.UTC)
	// Usage of the month so far, which a run would otherwise bill.
	tb.load(t, "usage", fmt.Sprintf(`{"id":"now1","account_id":"a1","app":"web","resource":"container:M","quantity":1,"started_at":%q,"ended_at":null}`+"\n",
		now.Add(-time.Minute).UTC().Format(time.RFC3339)))
	for _, p := range []string{current.String(), current.Add(1).String(), "2099-12"} {
		_, err := tb.pool.Exec(ctx, `
			INSERT INTO river_job (kind, args, queue, max_attempts, priority, state, scheduled_at)
			VALUES ('billing_run', jsonb_build_object('period', $1::text), 'billing', 10, 1, 'available', now())`, p)
		require.NoError(t, err)
	}
	tb.startWorker(t)
	require.NoError(t, jobs.WaitIdle(ctx, tb.pool, time.Minute, 50*time.Millisecond))

	rows, err := tb.pool.Query(ctx, `SELECT state, errors[array_upper(errors, 1)]->>'error' FROM river_job WHERE kind = 'billing_run'`)
	require.NoError(t, err)
	n := 0
	for rows.Next() {
		var state, msg string
		require.NoError(t, rows.Scan(&state, &msg))
		require.Equal(t, "cancelled", state)
		require.Contains(t, msg, "has not ended (it ends ")
		n++
	}
	require.NoError(t, rows.Err())
	require.Equal(t, 3, n)
	var runs, invs int
	require.NoError(t, tb.pool.QueryRow(ctx, `SELECT (SELECT count(*) FROM billing_runs), (SELECT count(*) FROM invoices)`).Scan(&runs, &invs))
	require.Zero(t, runs, "no run recorded for a month that has not ended")
	require.Zero(t, invs)
}

// StartRun, behind the CLI and the API, refuses the current and future
// periods with a *billing.PeriodNotEndedError and writes nothing; the last
// period is accepted from the first instant of the month on.
func TestStartRunRefusesUnendedPeriod(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	tb := setup(t)
	client, err := jobs.NewInsertClient(tb.pool)
	require.NoError(t, err)
	paris, err := time.LoadLocation("Europe/Paris")
	require.NoError(t, err)
	// 23:30 UTC on 31 December is already January in Paris, not in UTC.
	at := time.Date(2026, 12, 31, 23, 30, 0, 0, time.UTC)
	dec := billing.MustPeriod("2026-12")
	_, _, err = jobs.StartRun(ctx, tb.pool, client, invoices.RunParams{Period: dec, RequestedBy: "test", Location: time.UTC, Now: at})
	var notEnded *billing.PeriodNotEndedError
	require.ErrorAs(t, err, &notEnded)
	require.EqualError(t, err, "period 2026-12 has not ended (it ends 2027-01-01T00:00:00Z)")
	_, _, err = jobs.StartRun(ctx, tb.pool, client, invoices.RunParams{Period: billing.MustPeriod("2030-01"), RequestedBy: "test", Location: time.UTC, Now: at})
	require.ErrorAs(t, err, &notEnded)
	var runs, queued int
	require.NoError(t, tb.pool.QueryRow(ctx, `SELECT (SELECT count(*) FROM billing_runs), (SELECT count(*) FROM river_job)`).Scan(&runs, &queued))
	require.Zero(t, runs)
	require.Zero(t, queued)

	run, _, err := jobs.StartRun(ctx, tb.pool, client, invoices.RunParams{Period: dec, RequestedBy: "test", Location: paris, Now: at})
	require.NoError(t, err, "December has ended in Paris")
	require.Equal(t, "2026-12", run.Period)
}

// An empty account_ids, as a service may write it in SQL or JSON, bills
// every account like an absent one (SPEC §9), never none.
func TestBillingRunEmptyAccountIDsBillsEveryAccount(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	tb := setup(t)
	tb.loadSmoke(t)
	_, err := tb.pool.Exec(ctx, `
		INSERT INTO river_job (kind, args, queue, max_attempts, priority, state, scheduled_at)
		VALUES ('billing_run', '{"period": "2026-10", "account_ids": []}', 'billing', 10, 1, 'available', now())`)
	require.NoError(t, err)
	tb.startWorker(t)
	require.NoError(t, jobs.WaitIdle(ctx, tb.pool, time.Minute, 50*time.Millisecond))
	require.Len(t, tb.invoices(t, "2026-10"), 3)
	var scope []string
	require.NoError(t, tb.pool.QueryRow(ctx, `SELECT account_ids FROM billing_runs`).Scan(&scope))
	require.Nil(t, scope, "the run is recorded as a run of every account")

	// The same through StartRun (the CLI and the API): an empty, non-nil
	// list.
	client, err := jobs.NewInsertClient(tb.pool)
	require.NoError(t, err)
	run, _, err := jobs.StartRun(ctx, tb.pool, client, invoices.RunParams{Period: billing.MustPeriod("2026-09"), AccountIDs: []string{},
		RequestedBy: "test", Location: time.UTC})
	require.NoError(t, err)
	require.Nil(t, run.AccountIDs)
	done := tb.waitRun(t, run.ID)
	require.Equal(t, 3, done.AccountsTotal)
	require.Len(t, tb.invoices(t, "2026-09"), 1, "a1's redis addon ran in September")
}

// The dry run of the current period is an upcoming-invoice preview: usage
// rated up to now, marked partial; a future period has nothing to preview.
func TestDryRunOfCurrentPeriodIsPartial(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	tb := setup(t)
	tb.loadSmoke(t)
	// a1's redis addon (s2) has been running since September.
	now := time.Date(2026, 11, 2, 12, 0, 0, 0, time.UTC)
	cfg := &invoices.Config{Location: time.UTC, SellerCountry: "FR", VATRates: billing.DefaultVATRates()}
	preview, err := invoices.DryRun(ctx, tb.pool, cfg, invoices.RunParams{Period: billing.MustPeriod("2026-11"), Now: now})
	require.NoError(t, err)
	require.True(t, preview.Partial)
	require.Equal(t, now, preview.AsOf)
	var a1 *invoices.PreviewInvoice
	for i := range preview.Invoices {
		if preview.Invoices[i].AccountID == "a1" {
			a1 = &preview.Invoices[i]
		}
	}
	require.NotNil(t, a1)
	// 36 hours of redis at 0.0069/h, not the 720 of the whole month.
	require.Equal(t, "36.000000", a1.Lines[0].Hours)
	require.Equal(t, "0.25", a1.Subtotal)

	ended, err := invoices.DryRun(ctx, tb.pool, cfg, invoices.RunParams{Period: billing.MustPeriod("2026-10"), Now: now})
	require.NoError(t, err)
	require.False(t, ended.Partial)
	require.Equal(t, time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC), ended.AsOf)

	_, err = invoices.DryRun(ctx, tb.pool, cfg, invoices.RunParams{Period: billing.MustPeriod("2026-12"), Now: now})
	var notEnded *billing.PeriodNotEndedError
	require.ErrorAs(t, err, &notEnded)
	require.True(t, notEnded.NotStarted)
}
