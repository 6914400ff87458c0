package payments_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/shopspring/decimal"
	"github.com/stretchr/testify/require"

	"github.com/billingengine/engine/internal/dbtest"
	"github.com/billingengine/engine/payments"
)

// Two credits racing on one reference: for the same account and amount
// they are one credit (one created, the other a replay); for another
// account the loser gets a *ReferenceConflictError naming the winner, never
// Postgres's unique violation. The first half holds the winner's
// transaction open while the loser runs, so the race happens every time.
func TestConcurrentCreditsOnOneReference(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := dbtest.New(t)
	_, err := db.Pool.Exec(ctx, `INSERT INTO accounts (id, name, email, country, created_at) VALUES
		('acc_1', 'One', 'one@example.test', 'FR', '2026-01-01Z'), ('acc_2', 'Two', 'two@example.test', 'FR', '2026-01-01Z')`)
	require.NoError(t, err)
	ten := decimal.RequireFromString("10.00")
	add := func(tx pgx.Tx, account, ref string) (*payments.Entry, bool, error) {
		return payments.AddEntry(ctx, tx, payments.NewEntry{AccountID: account, Kind: payments.EntryManualCredit, Amount: ten, Reference: ref})
	}
	// race runs first's entry in a transaction left open until second's is
	// under way (blocked on first), then commits first.
	race := func(ref, second string) (bool, error) {
		winner, err := db.Pool.Begin(ctx)
		require.NoError(t, err)
		defer winner.Rollback(ctx) //nolint:errcheck
		_, created, err := add(winner, "acc_1", ref)
		require.NoError(t, err)
		require.True(t, created)
		type result struct {
			created bool
			err     error
		}
		done := make(chan result, 1)
		go func() {
			var r result
			r.err = pgx.BeginFunc(ctx, db.Pool, func(tx pgx.Tx) error {
				var err error
				_, r.created, err = add(tx, second, ref)
				return err
			})
			done <- r
		}()
		// The loser is waiting on a lock of the winner's (the account row or
		// the reference's index entry) before the winner commits.
		require.Eventually(t, func() bool {
			var waiting int
			require.NoError(t, db.Pool.QueryRow(ctx, `SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'`).Scan(&waiting))
			return waiting == 1
		}, 10*time.Second, 10*time.Millisecond)
		require.NoError(t, winner.Commit(ctx))
		select {
		case r := <-done:
			return r.created, r.err
		case <-time.After(10 * time.Second):
			t.Fatal("the second credit never finished")
			return false, nil
		}
	}

	created, err := race("GIFT-SAME", "acc_1")
	require.NoError(t, err, "the same credit twice is a replay")
	require.False(t, created)

	created, err = race("GIFT-OTHER", "acc_2")
	require.ErrorIs(t, err, payments.ErrReferenceConflict)
	var conflict *payments.ReferenceConflictError
	require.ErrorAs(t, err, &conflict)
	require.Equal(t, "acc_1", conflict.Existing.AccountID)
	require.Equal(t, "credit reference GIFT-OTHER already exists: a manual_credit credit of 10.00 for account acc_1", err.Error())
	require.False(t, created)

	// A free-for-all: 12 transactions, half for each account, on one
	// reference. One creates it; the others of its account replay it; the
	// others of the other account are conflicts. Nothing else goes wrong.
	var wg sync.WaitGroup
	type outcome struct {
		account string
		created bool
		err     error
	}
	out := make(chan outcome, 12)
	start := make(chan struct{})
	for i := range 12 {
		account := []string{"acc_1", "acc_2"}[i%2]
		wg.Go(func() {
			<-start
			var o outcome
			o.account = account
			o.err = pgx.BeginFunc(ctx, db.Pool, func(tx pgx.Tx) error {
				var err error
				_, o.created, err = add(tx, account, "GIFT-RACE")
				return err
			})
			out <- o
		})
	}
	close(start)
	wg.Wait()
	close(out)
	var winners []string
	var outcomes []outcome
	for o := range out {
		outcomes = append(outcomes, o)
		if o.created {
			require.NoError(t, o.err)
			winners = append(winners, o.account)
		}
	}
	require.Len(t, winners, 1, "one credit is created")
	for _, o := range outcomes {
		switch {
		case o.created:
		case o.account == winners[0]:
			require.NoError(t, o.err, "a replay of the winner's credit")
		default:
			require.True(t, errors.Is(o.err, payments.ErrReferenceConflict), "%s: %v", o.account, o.err)
		}
	}

	// The books: one entry per reference, balances that match them.
	var entries int
	require.NoError(t, db.Pool.QueryRow(ctx, `SELECT count(*) FROM credit_ledger`).Scan(&entries))
	require.Equal(t, 3, entries)
	var mismatched int
	require.NoError(t, db.Pool.QueryRow(ctx, `
		SELECT count(*) FROM accounts a
		WHERE a.credit_balance <> (SELECT coalesce(sum(amount), 0) FROM credit_ledger l WHERE l.account_id = a.id)`).Scan(&mismatched))
	require.Zero(t, mismatched)
}
