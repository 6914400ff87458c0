package payments_test

import (
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/billingengine/engine/internal/testfactory"
	"github.com/billingengine/engine/payments"
)

// The prepaid credit ledger (SPEC §5): the balance is the sum of the
// entries, it is never negative, and an entry is idempotent by its kind
// and reference.
func TestLedger(t *testing.T) {
	t.Parallel()

	add := func(t *testing.T, b *testBundle, e payments.NewEntry) (*payments.Entry, bool, error) {
		t.Helper()
		var entry *payments.Entry
		var created bool
		err := pgx.BeginFunc(b.ctx, b.db.Pool, func(tx pgx.Tx) error {
			var err error
			entry, created, err = payments.AddEntry(b.ctx, tx, e)
			return err
		})
		return entry, created, err
	}

	t.Run("BalanceIsTheSumOfEntries", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		testfactory.Credit(b.ctx, t, b.db.Pool, &testfactory.CreditOpts{AccountID: &b.account, Amount: ptr("10.00")})
		testfactory.Credit(b.ctx, t, b.db.Pool, &testfactory.CreditOpts{AccountID: &b.account, Amount: ptr("5.50"), Kind: ptr(payments.EntryPayPalPurchase)})
		debit, created, err := add(t, b, payments.NewEntry{AccountID: b.account, Kind: payments.EntryInvoicePayment, Amount: dec("3.25"), Reference: "invoice_payment:X"})
		require.NoError(t, err)
		require.True(t, created)
		require.Equal(t, "-3.25", debit.Amount.StringFixed(2), "a debit is recorded negative")
		require.Equal(t, "12.25", debit.BalanceAfter.StringFixed(2))
		require.Equal(t, "12.25", b.balance(t, b.account))

		// Each entry's balance_after chains from the one before.
		rows, err := b.db.Pool.Query(b.ctx, `
			SELECT balance_after = sum(amount) OVER (ORDER BY id) FROM credit_ledger WHERE account_id = $1 ORDER BY id`, b.account)
		require.NoError(t, err)
		chained, err := pgx.CollectRows(rows, pgx.RowTo[bool])
		require.NoError(t, err)
		require.Equal(t, []bool{true, true, true}, chained)
	})

	t.Run("NeverNegative", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		testfactory.Credit(b.ctx, t, b.db.Pool, &testfactory.CreditOpts{AccountID: &b.account, Amount: ptr("4.00")})

		_, _, err := add(t, b, payments.NewEntry{AccountID: b.account, Kind: payments.EntryInvoicePayment, Amount: dec("4.01"), Reference: "too-much"})
		require.ErrorIs(t, err, payments.ErrInsufficientCredit)
		require.Equal(t, "4.00", b.balance(t, b.account), "a refused debit moves nothing")
		var entries int
		require.NoError(t, b.db.Pool.QueryRow(b.ctx, `SELECT count(*) FROM credit_ledger WHERE reference = 'too-much'`).Scan(&entries))
		require.Zero(t, entries)

		e, _, err := add(t, b, payments.NewEntry{AccountID: b.account, Kind: payments.EntryReferralReversal, Amount: dec("4.00"), Reference: "all-of-it"})
		require.NoError(t, err, "the whole balance can be spent")
		require.True(t, e.BalanceAfter.IsZero())
		require.Equal(t, "0.00", b.balance(t, b.account))
	})

	t.Run("IdempotentByReference", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		other := testfactory.Account(b.ctx, t, b.db.Pool, nil)
		gift := payments.NewEntry{AccountID: b.account, Kind: payments.EntryManualCredit, Amount: dec("10.00"), Reference: "GIFT-1"}
		first, created, err := add(t, b, gift)
		require.NoError(t, err)
		require.True(t, created)
		again, created, err := add(t, b, gift)
		require.NoError(t, err)
		require.False(t, created, "a replay creates nothing")
		require.Equal(t, first.ID, again.ID, "a replay returns the stored entry")
		require.Equal(t, "10.00", b.balance(t, b.account), "and credits once")

		_, _, err = add(t, b, payments.NewEntry{AccountID: b.account, Kind: payments.EntryManualCredit, Amount: dec("11.00"), Reference: "GIFT-1"})
		require.ErrorIs(t, err, payments.ErrReferenceConflict, "another amount under a used reference")
		_, _, err = add(t, b, payments.NewEntry{AccountID: other.ID, Kind: payments.EntryManualCredit, Amount: dec("10.00"), Reference: "GIFT-1"})
		var conflict *payments.ReferenceConflictError
		require.ErrorAs(t, err, &conflict, "another account under a used reference")
		require.Equal(t, b.account, conflict.Existing.AccountID)
		require.Equal(t, "0.00", b.balance(t, other.ID))

		// References are unique per kind: a refund may share one with a gift.
		_, created, err = add(t, b, payments.NewEntry{AccountID: b.account, Kind: payments.EntryRefundToCredit, Amount: dec("1.00"), Reference: "GIFT-1"})
		require.NoError(t, err)
		require.True(t, created)
		require.Equal(t, "11.00", b.balance(t, b.account))
	})

	t.Run("RefusesWhatIsNotMoney", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		for _, amount := range []string{"0", "-1.00", "0.001"} {
			_, _, err := add(t, b, payments.NewEntry{AccountID: b.account, Kind: payments.EntryManualCredit, Amount: dec(amount), Reference: "r" + amount})
			require.Error(t, err, amount)
		}
		_, _, err := add(t, b, payments.NewEntry{AccountID: "nobody", Kind: payments.EntryManualCredit, Amount: dec("1.00"), Reference: "ghost"})
		require.ErrorContains(t, err, "unknown account nobody")
		require.NoError(t, pgx.BeginFunc(b.ctx, b.db.Pool, func(tx pgx.Tx) error {
			_, err := payments.AddCredit(b.ctx, tx, payments.NewEntry{AccountID: b.account, Kind: payments.EntryInvoicePayment, Amount: dec("1.00"), Reference: "d"}, "d")
			require.Error(t, err, "AddCredit gives credit, never takes it")
			return nil
		}))
		require.Equal(t, "0.00", b.balance(t, b.account))
	})
}
