package payments_test

import (
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/billingengine/engine/internal/testfactory"
	"github.com/billingengine/engine/invoices"
	"github.com/billingengine/engine/payments"
)

// Voiding an invoice refunds what was paid on it, credit and charges, to
// the account's prepaid credit (SPEC §3, §4), once.
func TestVoidRefundsToCredit(t *testing.T) {
	t.Parallel()

	voidInvoice := func(t *testing.T, b *testBundle, number string) *payments.Voided {
		t.Helper()
		var v *payments.Voided
		b.inTx(t, func(tx pgx.Tx) error {
			var err error
			v, err = payments.Void(b.ctx, tx, &invoices.Config{Location: time.UTC, Now: func() time.Time { return b.now }},
				invoices.VoidParams{Number: number, Reason: "Billed twice", RequestedBy: "test"}, b.now)
			return err
		})
		return v
	}

	t.Run("PaidByCreditAndCard", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		testfactory.Credit(b.ctx, t, b.db.Pool, &testfactory.CreditOpts{AccountID: &b.account, Amount: ptr("5.00")})
		testfactory.PaymentMethod(b.ctx, t, b.db.Pool, &testfactory.PaymentMethodOpts{AccountID: &b.account})
		inv := testfactory.Invoice(b.ctx, t, b.db.Pool, &testfactory.InvoiceOpts{AccountID: &b.account, Subtotal: ptr("12.00")})
		plan := b.prepare(t, inv.Number)
		b.record(t, plan.Attempt.ID, payments.ChargeResult{Outcome: payments.OutcomeSucceeded, Reference: "pi_1"})
		require.Equal(t, "0.00", b.balance(t, b.account))

		v := voidInvoice(t, b, inv.Number)
		require.False(t, v.AlreadyVoid)
		require.Equal(t, "12.00", v.RefundedToCredit, "5.00 of credit and 7.00 charged")
		require.Equal(t, "void", string(v.Invoice.Status))
		require.Equal(t, "CN-2026-000001", v.CreditNote.Number)
		require.Equal(t, "12.00", b.balance(t, b.account))
		var kind, amount string
		require.NoError(t, b.db.Pool.QueryRow(b.ctx, `SELECT kind, amount::text FROM credit_ledger WHERE reference = $1`, "void:"+inv.Number).Scan(&kind, &amount))
		require.Equal(t, string(payments.EntryRefundToCredit), kind)
		require.Equal(t, "12.00", amount)

		again := voidInvoice(t, b, inv.Number)
		require.True(t, again.AlreadyVoid)
		require.Equal(t, v.CreditNote.Number, again.CreditNote.Number)
		require.Equal(t, "12.00", b.balance(t, b.account), "voiding twice refunds once")

		// The void invoice is never collected again.
		require.Equal(t, payments.ReasonVoid, b.prepare(t, inv.Number).Reason)
	})

	t.Run("UnpaidRefundsNothing", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		inv := testfactory.Invoice(b.ctx, t, b.db.Pool, &testfactory.InvoiceOpts{AccountID: &b.account})
		v := voidInvoice(t, b, inv.Number)
		require.Equal(t, "0.00", v.RefundedToCredit)
		require.Equal(t, "0.00", b.balance(t, b.account))
		var entries int
		require.NoError(t, b.db.Pool.QueryRow(b.ctx, `SELECT count(*) FROM credit_ledger`).Scan(&entries))
		require.Zero(t, entries)
	})

	t.Run("ChargeSucceedingAfterTheVoidIsRefunded", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		testfactory.PaymentMethod(b.ctx, t, b.db.Pool, &testfactory.PaymentMethodOpts{AccountID: &b.account})
		inv := testfactory.Invoice(b.ctx, t, b.db.Pool, &testfactory.InvoiceOpts{AccountID: &b.account, Subtotal: ptr("12.00")})
		plan := b.prepare(t, inv.Number)
		v := voidInvoice(t, b, inv.Number) // while the charge is in flight
		require.Equal(t, "0.00", v.RefundedToCredit)

		rec := b.record(t, plan.Attempt.ID, payments.ChargeResult{Outcome: payments.OutcomeSucceeded, Reference: "pi_late"})
		require.True(t, rec.Refunded)
		require.Equal(t, "void", rec.Status)
		require.Equal(t, "12.00", b.balance(t, b.account), "the late payment went to credit")
	})
}
