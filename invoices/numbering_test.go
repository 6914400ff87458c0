package invoices_test

import (
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/billingengine/engine/billing"
	"github.com/billingengine/engine/internal/testfactory"
	"github.com/billingengine/engine/invoices"
)

// Invoice numbers are gapless per year (SPEC §3): INV-YYYY-NNNNNN, one
// after the other across finalizations, none lost to a rollback.
func TestNumberingIsGaplessPerYear(t *testing.T) {
	t.Parallel()

	t.Run("AcrossTwoFinalizations", func(t *testing.T) {
		t.Parallel()
		b := billSetup(t)
		for _, id := range []string{"acc_a", "acc_b", "acc_c"} {
			testfactory.Usage(b.ctx, t, b.db.Pool, &testfactory.UsageOpts{AccountID: &testfactory.Account(b.ctx, t, b.db.Pool, &testfactory.AccountOpts{ID: &id}).ID})
		}
		require.Equal(t, []string{"INV-2026-000001", "INV-2026-000002"}, b.bill(t, "2026-10", "acc_a", "acc_b"), "in account order")
		require.Equal(t, []string{"INV-2026-000003"}, b.bill(t, "2026-10", "acc_c"), "the next run goes on from the last number")
	})

	t.Run("ARolledBackFinalizationUsesNoNumber", func(t *testing.T) {
		t.Parallel()
		b := billSetup(t)
		acc := testfactory.Account(b.ctx, t, b.db.Pool, nil)
		testfactory.Usage(b.ctx, t, b.db.Pool, &testfactory.UsageOpts{AccountID: &acc.ID})
		var runID int64
		require.NoError(t, pgx.BeginFunc(b.ctx, b.db.Pool, func(tx pgx.Tx) error {
			run, _, err := invoices.CreateRun(b.ctx, tx, invoices.RunParams{Period: billing.MustPeriod("2026-10"), RequestedBy: "test", Location: time.UTC, Now: b.now})
			require.NoError(t, err)
			runID = run.ID
			shards, err := invoices.PlanRun(b.ctx, tx, runID, 10)
			require.NoError(t, err)
			_, err = invoices.DraftShard(b.ctx, tx, b.cfg, runID, shards[0].Shard)
			return err
		}))
		tx, err := b.db.Pool.Begin(b.ctx)
		require.NoError(t, err)
		res, err := invoices.FinalizeChunk(b.ctx, tx, b.cfg, runID, 10)
		require.NoError(t, err)
		require.Equal(t, "INV-2026-000001", res.Invoices[0].Number)
		require.NoError(t, tx.Rollback(b.ctx))

		require.NoError(t, pgx.BeginFunc(b.ctx, b.db.Pool, func(tx pgx.Tx) error {
			res, err := invoices.FinalizeChunk(b.ctx, tx, b.cfg, runID, 10)
			require.NoError(t, err)
			require.Equal(t, "INV-2026-000001", res.Invoices[0].Number, "the rolled-back number is used, not skipped")
			return nil
		}))
	})

	t.Run("EachYearStartsAtOne", func(t *testing.T) {
		t.Parallel()
		b := billSetup(t)
		acc := testfactory.Account(b.ctx, t, b.db.Pool, nil)
		testfactory.Usage(b.ctx, t, b.db.Pool, &testfactory.UsageOpts{AccountID: &acc.ID})
		testfactory.Usage(b.ctx, t, b.db.Pool, &testfactory.UsageOpts{AccountID: &acc.ID, StartedAt: testfactory.Ptr(time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC))})
		require.Equal(t, []string{"INV-2026-000001"}, b.bill(t, "2026-10"))
		// December's invoice is issued in January 2027: a new series.
		b.now = time.Date(2027, 1, 2, 9, 0, 0, 0, time.UTC)
		require.Equal(t, []string{"INV-2027-000001"}, b.bill(t, "2026-12"))
	})
}
