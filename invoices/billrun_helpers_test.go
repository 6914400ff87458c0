package invoices_test

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/billingengine/engine/billing"
	"github.com/billingengine/engine/internal/dbtest"
	"github.com/billingengine/engine/invoices"
)

// billBundle is what the package tests of runs, numbering and the invoice
// JSON work with: a fresh database and a fixed clock, so that numbers and
// issue dates don't depend on the day the tests run.
type billBundle struct {
	ctx context.Context
	db  *dbtest.DB
	now time.Time
	cfg *invoices.Config
}

func billSetup(t *testing.T) *billBundle {
	t.Helper()
	b := &billBundle{ctx: context.Background(), db: dbtest.New(t), now: time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC)}
	// The clock is the bundle's: a test moves it by setting b.now.
	b.cfg = &invoices.Config{Location: time.UTC, SellerCountry: "FR", VATRates: billing.DefaultVATRates(), Now: func() time.Time { return b.now }}
	return b
}

// bill runs a billing run of period for accounts (nil: all) through
// creation, planning, drafting and finalization, each committed, and
// returns the numbers it finalized.
func (b *billBundle) bill(t *testing.T, period string, accounts ...string) []string {
	t.Helper()
	var runID int64
	require.NoError(t, pgx.BeginFunc(b.ctx, b.db.Pool, func(tx pgx.Tx) error {
		run, _, err := invoices.CreateRun(b.ctx, tx, invoices.RunParams{Period: billing.MustPeriod(period), AccountIDs: accounts,
			RequestedBy: "test", Location: time.UTC, Now: b.now})
		if err != nil {
			return err
		}
		runID = run.ID
		shards, err := invoices.PlanRun(b.ctx, tx, run.ID, 1000)
		if err != nil {
			return err
		}
		for _, s := range shards {
			if _, err := invoices.DraftShard(b.ctx, tx, b.cfg, run.ID, s.Shard); err != nil {
				return err
			}
		}
		return nil
	}))
	var numbers []string
	require.NoError(t, pgx.BeginFunc(b.ctx, b.db.Pool, func(tx pgx.Tx) error {
		res, err := invoices.FinalizeChunk(b.ctx, tx, b.cfg, runID, 1000)
		if err != nil {
			return err
		}
		for _, f := range res.Invoices {
			numbers = append(numbers, f.Number)
		}
		return nil
	}))
	return numbers
}
