package invoices_test

import (
	"errors"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/stretchr/testify/require"

	"github.com/billingengine/engine/internal/testfactory"
	"github.com/billingengine/engine/invoices"
)

// An account has at most one non-void invoice per period, drafts included
// (SPEC §3): a second run of the period drafts nothing for it, and
// Postgres refuses a second draft written anyway. A void frees the period.
func TestOneInvoicePerAccountAndPeriod(t *testing.T) {
	t.Parallel()

	// insertDraft writes a second draft directly, as a buggy writer would.
	insertDraft := func(t *testing.T, b *billBundle, account string) error {
		t.Helper()
		runID := testfactory.Run(b.ctx, t, b.db.Pool, nil)
		_, err := b.db.Pool.Exec(b.ctx, `
			INSERT INTO invoices (account_id, period, period_start, period_end, run_id, subtotal)
			VALUES ($1, '2026-10', '2026-10-01Z', '2026-11-01Z', $2, 10)`, account, runID)
		return err
	}
	requireOnePerPeriod := func(t *testing.T, err error) {
		t.Helper()
		var pgErr *pgconn.PgError
		require.True(t, errors.As(err, &pgErr), "a Postgres error, got %v", err)
		require.Equal(t, "23505", pgErr.Code)
		require.Equal(t, "invoices_one_per_period", pgErr.ConstraintName)
	}

	t.Run("ASecondDraftIsRefused", func(t *testing.T) {
		t.Parallel()
		b := billSetup(t)
		d := testfactory.Draft(b.ctx, t, b.db.Pool, nil)
		requireOnePerPeriod(t, insertDraft(t, b, d.AccountID))
		// Another period is free.
		testfactory.Draft(b.ctx, t, b.db.Pool, &testfactory.DraftOpts{AccountID: &d.AccountID, Period: testfactory.Ptr("2026-09")})
	})

	t.Run("ASecondRunDraftsNothing", func(t *testing.T) {
		t.Parallel()
		b := billSetup(t)
		acc := testfactory.Account(b.ctx, t, b.db.Pool, nil)
		testfactory.Usage(b.ctx, t, b.db.Pool, &testfactory.UsageOpts{AccountID: &acc.ID})
		require.Len(t, b.bill(t, "2026-10"), 1)
		require.Empty(t, b.bill(t, "2026-10"), "the period is taken: a rerun bills only what isn't billed")
		requireOnePerPeriod(t, insertDraft(t, b, acc.ID))
		var n int
		require.NoError(t, b.db.Pool.QueryRow(b.ctx, `SELECT count(*) FROM invoices WHERE account_id = $1`, acc.ID).Scan(&n))
		require.Equal(t, 1, n)
	})

	t.Run("AVoidFreesThePeriod", func(t *testing.T) {
		t.Parallel()
		b := billSetup(t)
		acc := testfactory.Account(b.ctx, t, b.db.Pool, nil)
		testfactory.Usage(b.ctx, t, b.db.Pool, &testfactory.UsageOpts{AccountID: &acc.ID})
		first := b.bill(t, "2026-10")
		require.NoError(t, pgx.BeginFunc(b.ctx, b.db.Pool, func(tx pgx.Tx) error {
			_, err := invoices.Void(b.ctx, tx, &invoices.Config{Location: time.UTC, Now: b.cfg.Now}, invoices.VoidParams{Number: first[0], Reason: "Wrong usage", RequestedBy: "test"})
			return err
		}))
		second := b.bill(t, "2026-10")
		require.Len(t, second, 1, "the void invoice no longer holds the period")
		require.NotEqual(t, first[0], second[0])
		requireOnePerPeriod(t, insertDraft(t, b, acc.ID))
	})
}
