package payments_test

import (
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/billingengine/engine/internal/testfactory"
	"github.com/billingengine/engine/payments"
)

// Collection applies prepaid credit first (SPEC §4) and charges the
// payment method only what credit leaves due.
func TestPrepareCollectionCreditFirst(t *testing.T) {
	t.Parallel()

	// open makes an open invoice of 12.00 (10.00 + 20 % VAT) for the
	// bundle's account, with credit and a card as asked.
	open := func(t *testing.T, b *testBundle, credit string, card bool) *testfactory.InvoiceRow {
		t.Helper()
		if credit != "" {
			testfactory.Credit(b.ctx, t, b.db.Pool, &testfactory.CreditOpts{AccountID: &b.account, Amount: &credit})
		}
		if card {
			testfactory.PaymentMethod(b.ctx, t, b.db.Pool, &testfactory.PaymentMethodOpts{AccountID: &b.account})
		}
		inv := testfactory.Invoice(b.ctx, t, b.db.Pool, &testfactory.InvoiceOpts{AccountID: &b.account, TaxRate: ptr("20")})
		require.Equal(t, "12.00", inv.Total.StringFixed(2))
		return inv
	}

	t.Run("CreditCoversAll", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		inv := open(t, b, "20.00", true)

		plan := b.prepare(t, inv.Number)
		require.True(t, plan.Done)
		require.Equal(t, payments.ReasonPaidByCredit, plan.Reason)
		require.Nil(t, plan.Attempt, "nothing is charged")
		require.Equal(t, "12.00", plan.CreditApplied.StringFixed(2))

		got := b.invoice(t, inv.Number)
		require.Equal(t, "paid", string(got.Status))
		require.Equal(t, "12.00", got.CreditApplied)
		require.Equal(t, "12.00", got.AmountPaid)
		require.Equal(t, "0.00", got.AmountDue)
		require.Equal(t, "8.00", b.balance(t, b.account))
		require.Empty(t, b.attemptStates(t, inv.ID))

		again := b.prepare(t, inv.Number)
		require.Equal(t, payments.ReasonPaid, again.Reason, "a paid invoice is not collected twice")
		require.Equal(t, "8.00", b.balance(t, b.account))
	})

	t.Run("CreditCoversPart", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		inv := open(t, b, "5.00", true)

		plan := b.prepare(t, inv.Number)
		require.False(t, plan.Done)
		require.Equal(t, "5.00", plan.CreditApplied.StringFixed(2))
		require.NotNil(t, plan.Attempt)
		require.Equal(t, "7.00", plan.Attempt.Amount.StringFixed(2), "the card is charged what credit left due")
		require.Equal(t, payments.MethodCard, plan.Attempt.Method.Type)
		require.Equal(t, payments.AttemptKey(inv.Number, 1), plan.Attempt.IdempotencyKey)

		got := b.invoice(t, inv.Number)
		require.Equal(t, "open", string(got.Status))
		require.Equal(t, "5.00", got.CreditApplied)
		require.Equal(t, "5.00", got.AmountPaid)
		require.Equal(t, "7.00", got.AmountDue)
		require.Equal(t, "0.00", b.balance(t, b.account))
		require.Equal(t, []string{"1:pending:7.00"}, b.attemptStates(t, inv.ID), "recorded pending before any processor sees it")

		// Prepared again before an answer (a crash after sending): the same
		// attempt comes back, to be resent with its key; no credit twice.
		again := b.prepare(t, inv.Number)
		require.NotNil(t, again.Attempt)
		require.Equal(t, plan.Attempt.ID, again.Attempt.ID)
		require.True(t, again.Attempt.Resumed)
		require.True(t, again.CreditApplied.IsZero())
		require.Equal(t, []string{"1:pending:7.00"}, b.attemptStates(t, inv.ID))
		require.Equal(t, "5.00", b.invoice(t, inv.Number).CreditApplied)
	})

	t.Run("NoCredit", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		inv := open(t, b, "", true)

		plan := b.prepare(t, inv.Number)
		require.True(t, plan.CreditApplied.IsZero())
		require.Equal(t, "12.00", plan.Attempt.Amount.StringFixed(2))
		got := b.invoice(t, inv.Number)
		require.Equal(t, "0.00", got.CreditApplied)
		require.Equal(t, "12.00", got.AmountDue)
		var entries int
		require.NoError(t, b.db.Pool.QueryRow(b.ctx, `SELECT count(*) FROM credit_ledger`).Scan(&entries))
		require.Zero(t, entries)
	})

	t.Run("PartWithoutPaymentMethod", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		inv := open(t, b, "5.00", false)

		plan := b.prepare(t, inv.Number)
		require.True(t, plan.Done)
		require.Equal(t, payments.ReasonNoPaymentMethod, plan.Reason)
		require.Equal(t, "5.00", plan.CreditApplied.StringFixed(2), "credit is applied even with nothing to charge the rest to")
		got := b.invoice(t, inv.Number)
		require.Equal(t, "open", string(got.Status))
		require.Equal(t, "7.00", got.AmountDue)
		require.Empty(t, b.attemptStates(t, inv.ID))
	})

	t.Run("UnknownAndDraft", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		testfactory.Draft(b.ctx, t, b.db.Pool, &testfactory.DraftOpts{AccountID: &b.account})
		plans := func() []*payments.Plan {
			var out []*payments.Plan
			b.inTx(t, func(tx pgx.Tx) error {
				var err error
				out, err = payments.PrepareCollections(b.ctx, tx, []payments.CollectRequest{{Number: "INV-2026-999999"}}, "sandbox", b.now)
				return err
			})
			return out
		}()
		require.ErrorIs(t, plans[0].Err, payments.ErrInvoiceNotFound)
	})
}
