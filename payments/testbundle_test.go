package payments_test

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/shopspring/decimal"
	"github.com/stretchr/testify/require"

	"github.com/billingengine/engine/internal/dbtest"
	"github.com/billingengine/engine/internal/testfactory"
	"github.com/billingengine/engine/invoices"
	"github.com/billingengine/engine/payments"
)

// testBundle is what a payments test works with: a fresh database and one
// account in it.
type testBundle struct {
	ctx     context.Context
	db      *dbtest.DB
	account string
	now     time.Time
}

func setup(t *testing.T) *testBundle {
	t.Helper()
	ctx := context.Background()
	db := dbtest.New(t)
	acc := testfactory.Account(ctx, t, db.Pool, &testfactory.AccountOpts{ID: testfactory.Ptr("acc_1")})
	return &testBundle{ctx: ctx, db: db, account: acc.ID, now: time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC)}
}

func ptr[T any](v T) *T { return &v }

func dec(s string) decimal.Decimal { return decimal.RequireFromString(s) }

// inTx runs fn in a committed transaction.
func (b *testBundle) inTx(t *testing.T, fn func(tx pgx.Tx) error) {
	t.Helper()
	require.NoError(t, pgx.BeginFunc(b.ctx, b.db.Pool, fn))
}

// balance is the account's prepaid credit, and the sum of its ledger,
// which must agree.
func (b *testBundle) balance(t *testing.T, account string) string {
	t.Helper()
	var balance, sum decimal.Decimal
	require.NoError(t, b.db.Pool.QueryRow(b.ctx, `
		SELECT a.credit_balance, coalesce((SELECT sum(amount) FROM credit_ledger l WHERE l.account_id = a.id), 0)
		FROM accounts a WHERE a.id = $1`, account).Scan(&balance, &sum))
	require.True(t, balance.Equal(sum), "the balance %s is the sum of the ledger %s", balance, sum)
	return balance.StringFixed(2)
}

// invoice is the invoice's JSON view, attempts included.
func (b *testBundle) invoice(t *testing.T, number string) *invoices.Invoice {
	t.Helper()
	inv, err := payments.GetInvoice(b.ctx, b.db.Pool, number)
	require.NoError(t, err)
	return inv
}

// prepare is the first step of collecting one invoice, committed.
func (b *testBundle) prepare(t *testing.T, number string) *payments.Plan {
	t.Helper()
	var plan *payments.Plan
	b.inTx(t, func(tx pgx.Tx) error {
		var err error
		plan, err = payments.PrepareCollection(b.ctx, tx, number, "sandbox", b.now, 0)
		return err
	})
	return plan
}

// record stores a processor's answer to an attempt, committed.
func (b *testBundle) record(t *testing.T, attemptID int64, res payments.ChargeResult) *payments.Recorded {
	t.Helper()
	var rec *payments.Recorded
	b.inTx(t, func(tx pgx.Tx) error {
		var err error
		rec, err = payments.RecordCharge(b.ctx, tx, attemptID, res, b.now)
		return err
	})
	return rec
}

// attemptStates lists the invoice's attempts as "n:state:amount".
func (b *testBundle) attemptStates(t *testing.T, invoiceID int64) []string {
	t.Helper()
	rows, err := b.db.Pool.Query(b.ctx, `SELECT attempt || ':' || state || ':' || amount FROM payment_attempts WHERE invoice_id = $1 ORDER BY attempt`, invoiceID)
	require.NoError(t, err)
	out, err := pgx.CollectRows(rows, pgx.RowTo[string])
	require.NoError(t, err)
	return out
}
