package payments_test

import (
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/billingengine/engine/internal/testfactory"
	"github.com/billingengine/engine/payments"
)

// Recording a processor's answer moves the attempt and its invoice:
// succeeded pays it, declined leaves it open, processing holds it until
// the payment settles.
func TestRecordCharge(t *testing.T) {
	t.Parallel()

	// pending makes an open invoice of 12.00 for an account paying by
	// method and prepares its collection: one pending attempt of 12.00.
	pending := func(t *testing.T, b *testBundle, method payments.MethodType) (*testfactory.InvoiceRow, *payments.Attempt) {
		t.Helper()
		testfactory.PaymentMethod(b.ctx, t, b.db.Pool, &testfactory.PaymentMethodOpts{AccountID: &b.account, Type: &method})
		inv := testfactory.Invoice(b.ctx, t, b.db.Pool, &testfactory.InvoiceOpts{AccountID: &b.account, Subtotal: ptr("12.00")})
		plan := b.prepare(t, inv.Number)
		require.NotNil(t, plan.Attempt)
		return inv, plan.Attempt
	}

	t.Run("Succeeded", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		inv, a := pending(t, b, payments.MethodCard)

		rec := b.record(t, a.ID, payments.ChargeResult{Outcome: payments.OutcomeSucceeded, Reference: "pi_1"})
		require.False(t, rec.Already)
		require.Equal(t, payments.OutcomeSucceeded, rec.Outcome)
		require.Equal(t, "paid", rec.Status)
		got := b.invoice(t, inv.Number)
		require.Equal(t, "paid", string(got.Status))
		require.Equal(t, "12.00", got.AmountPaid)
		require.Equal(t, "0.00", got.CreditApplied, "a charge is not credit")
		require.Equal(t, "0.00", got.AmountDue)
		require.Equal(t, []string{"1:succeeded:12.00"}, b.attemptStates(t, inv.ID))

		// The same answer again (a retried job) changes nothing.
		again := b.record(t, a.ID, payments.ChargeResult{Outcome: payments.OutcomeSucceeded, Reference: "pi_1"})
		require.True(t, again.Already)
		require.Equal(t, "12.00", b.invoice(t, inv.Number).AmountPaid)
	})

	t.Run("Declined", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		inv, a := pending(t, b, payments.MethodCard)

		rec := b.record(t, a.ID, payments.ChargeResult{Outcome: payments.OutcomeDeclined, Code: "insufficient_funds"})
		require.Equal(t, "open", rec.Status)
		got := b.invoice(t, inv.Number)
		require.Equal(t, "open", string(got.Status))
		require.Equal(t, "12.00", got.AmountDue)
		require.Len(t, got.Attempts, 1)
		require.Equal(t, "declined", got.Attempts[0].Outcome)
		require.Equal(t, "insufficient_funds", got.Attempts[0].Code)

		// The next collection is a new attempt with a new key.
		next := b.prepare(t, inv.Number)
		require.NotNil(t, next.Attempt)
		require.Equal(t, 2, next.Attempt.Attempt)
		require.Equal(t, payments.AttemptKey(inv.Number, 2), next.Attempt.IdempotencyKey)
	})

	t.Run("DeclinedUsesCreditAddedMeanwhile", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		inv, a := pending(t, b, payments.MethodCard)
		testfactory.Credit(b.ctx, t, b.db.Pool, &testfactory.CreditOpts{AccountID: &b.account, Amount: ptr("5.00")})

		rec := b.record(t, a.ID, payments.ChargeResult{Outcome: payments.OutcomeDeclined, Code: "card_declined"})
		require.Equal(t, "5.00", rec.CreditApplied.StringFixed(2))
		got := b.invoice(t, inv.Number)
		require.Equal(t, "open", string(got.Status))
		require.Equal(t, "5.00", got.CreditApplied)
		require.Equal(t, "7.00", got.AmountDue)
		require.Equal(t, "0.00", b.balance(t, b.account))
	})

	t.Run("ProcessingThenSettled", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		inv, a := pending(t, b, payments.MethodSEPADebit)
		require.NotEmpty(t, a.MandateID, "a SEPA debit is sent with its mandate")

		rec := b.record(t, a.ID, payments.ChargeResult{Outcome: payments.OutcomeProcessing, Reference: "pi_sepa"})
		require.Equal(t, "processing", rec.Status)
		require.Equal(t, "processing", string(b.invoice(t, inv.Number).Status))
		require.Equal(t, "0.00", b.invoice(t, inv.Number).AmountPaid, "nothing is paid until it settles")
		require.Equal(t, payments.ReasonProcessing, b.prepare(t, inv.Number).Reason, "no second attempt while one is processing")

		settle := func(outcome payments.Outcome) *payments.Recorded {
			var rec *payments.Recorded
			b.inTx(t, func(tx pgx.Tx) error {
				var err error
				rec, err = payments.Settle(b.ctx, tx, "sandbox", "pi_sepa", "", outcome, "", b.now)
				return err
			})
			return rec
		}
		settled := settle(payments.OutcomeSucceeded)
		require.False(t, settled.Already)
		require.Equal(t, "paid", settled.Status)
		got := b.invoice(t, inv.Number)
		require.Equal(t, "paid", string(got.Status))
		require.Equal(t, "12.00", got.AmountPaid)
		var settledAt bool
		require.NoError(t, b.db.Pool.QueryRow(b.ctx, `SELECT settled_at IS NOT NULL FROM payment_attempts WHERE id = $1`, a.ID).Scan(&settledAt))
		require.True(t, settledAt)

		require.True(t, settle(payments.OutcomeFailed).Already, "a settlement arriving twice changes nothing")
		require.Equal(t, "paid", string(b.invoice(t, inv.Number).Status))
	})

	t.Run("ProcessingThenFailed", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		inv, a := pending(t, b, payments.MethodSEPADebit)
		b.record(t, a.ID, payments.ChargeResult{Outcome: payments.OutcomeProcessing, Reference: "pi_sepa"})
		b.inTx(t, func(tx pgx.Tx) error {
			rec, err := payments.Settle(b.ctx, tx, "sandbox", "", a.IdempotencyKey, payments.OutcomeFailed, "debit_not_authorized", b.now)
			require.NoError(t, err)
			require.Equal(t, "open", rec.Status)
			return nil
		})
		got := b.invoice(t, inv.Number)
		require.Equal(t, "open", string(got.Status))
		require.Equal(t, "12.00", got.AmountDue)
		require.Equal(t, []string{"1:failed:12.00"}, b.attemptStates(t, inv.ID))
	})

	t.Run("UnknownOutcomeRefused", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		_, a := pending(t, b, payments.MethodCard)
		err := pgx.BeginFunc(b.ctx, b.db.Pool, func(tx pgx.Tx) error {
			_, err := payments.RecordCharge(b.ctx, tx, a.ID, payments.ChargeResult{Outcome: "pending"}, b.now)
			return err
		})
		require.Error(t, err)
	})
}
