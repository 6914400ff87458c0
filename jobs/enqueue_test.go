package jobs_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/billingengine/engine/billing"
	"github.com/billingengine/engine/internal/dbtest"
	"github.com/billingengine/engine/internal/testfactory"
	"github.com/billingengine/engine/internal/testutil"
	"github.com/billingengine/engine/jobs"
)

// Enqueue applies every kind of effect in the caller's transaction: the
// timeline rows, a suspended account with nothing overdue reactivated (its
// event at the effects' time, its webhook queued), each open invoice
// queued for collection once however often its account is named, and the
// documents queued for rendering. Rolled back, it leaves nothing.
func TestEnqueueAppliesEffects(t *testing.T) {
	t.Parallel()
	db := dbtest.New(t)
	ctx := context.Background()
	client, err := jobs.NewInsertClient(db.Pool)
	require.NoError(t, err)
	inv := testutil.OpenInvoice(t, db.Pool, "acc_1", 1, "20.00")
	testutil.OpenInvoice(t, db.Pool, "acc_2", 2, "5.00")
	_, err = db.Pool.Exec(ctx, `UPDATE invoices SET status = 'paid', amount_paid = total WHERE account_id = 'acc_2';
		UPDATE accounts SET status = 'suspended' WHERE id = 'acc_2'`)
	require.NoError(t, err)

	at := time.Date(2026, 11, 20, 9, 0, 0, 0, time.UTC)
	effects := billing.Effects{
		CollectOpenInvoices: []string{"acc_1", "acc_2"},
		CheckStanding:       []string{"acc_2"},
		Timeline:            []billing.TimelineEvent{{AccountID: "acc_1", At: at, Kind: billing.TimelineCreditAdded, Data: map[string]any{"amount": "1.00"}}},
		Render:              []string{inv.Number},
		At:                  at,
	}.Merge(billing.Effects{CollectOpenInvoices: []string{"acc_1"}})

	count := func() (jobsN, events int, status string) {
		require.NoError(t, db.Pool.QueryRow(ctx, `SELECT (SELECT count(*) FROM river_job), (SELECT count(*) FROM account_events),
			(SELECT status FROM accounts WHERE id = 'acc_2')`).Scan(&jobsN, &events, &status))
		return
	}
	tx, err := db.Pool.Begin(ctx)
	require.NoError(t, err)
	_, err = jobs.Enqueue(ctx, tx, client, effects)
	require.NoError(t, err)
	require.NoError(t, tx.Rollback(ctx))
	j, e, s := count()
	require.Equal(t, []any{0, 0, "suspended"}, []any{j, e, s}, "rolled back with the caller's transaction")

	var enq jobs.Enqueued
	require.NoError(t, pgx.BeginFunc(ctx, db.Pool, func(tx pgx.Tx) error {
		enq, err = jobs.Enqueue(ctx, tx, client, effects)
		return err
	}))
	require.Equal(t, 1, enq.Collections, "acc_1's one open invoice, named twice; acc_2 has none")
	require.Equal(t, []string{inv.Number}, testutil.ConsequencesOf(t, db.Pool, "acc_1").Collected)
	require.JSONEq(t, `[{"kind":"credit_added","data":{"amount":"1.00"}}]`, testutil.ConsequencesOf(t, db.Pool, "acc_1").Timeline)
	require.JSONEq(t, `[{"kind":"reactivated","data":{}}]`, testutil.ConsequencesOf(t, db.Pool, "acc_2").Timeline)
	var reactivatedAt time.Time
	require.NoError(t, db.Pool.QueryRow(ctx, `SELECT at FROM account_events WHERE account_id = 'acc_2'`).Scan(&reactivatedAt))
	require.True(t, at.Equal(reactivatedAt), "standing decided at the effects' time, got %s", reactivatedAt)
	_, _, s = count()
	require.Equal(t, "active", s)

	var kinds []string
	require.NoError(t, db.Pool.QueryRow(ctx, `SELECT array_agg(kind ORDER BY kind) FROM river_job`).Scan(&kinds))
	// The reactivation's email is in the outbox, and one sender job wakes.
	require.Equal(t, []string{"account_webhook", "collect_invoices", "render_documents", "send_emails"}, kinds)
	var emails string
	require.NoError(t, db.Pool.QueryRow(ctx, `SELECT string_agg(account_id || ':' || template || ':' || state, ',') FROM emails`).Scan(&emails))
	require.Equal(t, "acc_2:reactivated:pending", emails)
	var rendered []string
	require.NoError(t, db.Pool.QueryRow(ctx, `SELECT array_agg(n) FROM river_job, jsonb_array_elements_text(args->'numbers') n WHERE kind = 'render_documents'`).Scan(&rendered))
	require.Equal(t, []string{inv.Number}, rendered)
}

// Effects that imply nothing write nothing and enqueue nothing.
func TestEnqueueNothing(t *testing.T) {
	t.Parallel()
	db := dbtest.New(t)
	ctx := context.Background()
	client, err := jobs.NewInsertClient(db.Pool)
	require.NoError(t, err)
	testutil.OpenInvoice(t, db.Pool, "acc_1", 1, "20.00")
	require.NoError(t, pgx.BeginFunc(ctx, db.Pool, func(tx pgx.Tx) error {
		enq, err := jobs.Enqueue(ctx, tx, client, billing.Effects{At: time.Now()})
		require.Zero(t, enq.Collections)
		return err
	}))
	got := testutil.ConsequencesOf(t, db.Pool, "acc_1")
	require.JSONEq(t, `[]`, got.Timeline)
	require.Empty(t, got.Collected)
}

// The worker entry point: referral credit that finalization adds (a
// referrer with no usage of its own, so its reward carries over to
// credit) has the consequences `credit add` has from the CLI and PayPal's
// capture has over HTTP: credit_added on the timeline, and the account's
// open invoices, here one of an earlier month, queued for collection in
// the finalizing transaction.
func TestFinalizationCreditConsequencesWorker(t *testing.T) {
	t.Parallel()
	tb := setup(t)
	ctx := context.Background()
	referrer := testfactory.Account(ctx, t, tb.pool, &testfactory.AccountOpts{ID: testfactory.Ptr("acc_ref")})
	earlier := testfactory.Invoice(ctx, t, tb.pool, &testfactory.InvoiceOpts{AccountID: &referrer.ID, Period: testfactory.Ptr("2026-09"), Subtotal: testfactory.Ptr("30.00")})
	testfactory.Account(ctx, t, tb.pool, &testfactory.AccountOpts{ID: testfactory.Ptr("acc_referee"), ReferredBy: &referrer.ID, CreatedAt: testfactory.Ptr(referrer.CreatedAt.Add(time.Hour))})
	testfactory.Usage(ctx, t, tb.pool, &testfactory.UsageOpts{AccountID: testfactory.Ptr("acc_referee")}) // 10.00 in 2026-10

	client := tb.startWorker(t)
	tb.run(t, client, "2026-10")
	tb.waitIdle(t)

	got := testutil.ConsequencesOf(t, tb.pool, referrer.ID)
	require.Contains(t, got.Collected, earlier.Number, "the credit collected the referrer's open invoice of an earlier month")
	var events []struct {
		Kind string         `json:"kind"`
		Data map[string]any `json:"data"`
	}
	require.NoError(t, json.Unmarshal([]byte(got.Timeline), &events))
	require.GreaterOrEqual(t, len(events), 2, "%s", got.Timeline)
	require.Equal(t, "credit_added", events[0].Kind, "%s", got.Timeline)
	require.Equal(t, "referral_reward", events[0].Data["kind"])
	require.Equal(t, "2.00", events[0].Data["amount"], "20% of the referee's 10.00")
	require.Equal(t, "credit_applied", events[1].Kind, "the collection that followed used it: %s", got.Timeline)
}
