package testfactory_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/billingengine/engine/internal/dbtest"
	"github.com/billingengine/engine/internal/testfactory"
	"github.com/billingengine/engine/payments"
)

func TestFactories(t *testing.T) {
	t.Parallel()

	type testBundle struct {
		ctx context.Context
		db  *dbtest.DB
	}
	setup := func(t *testing.T) *testBundle {
		t.Helper()
		return &testBundle{ctx: context.Background(), db: dbtest.New(t)}
	}

	t.Run("DefaultsMakeValidRows", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		inv := testfactory.Invoice(b.ctx, t, b.db.Pool, nil)
		require.Equal(t, "INV-2026-000001", inv.Number)
		require.Equal(t, "10.00", inv.Total.StringFixed(2))
		var status, country string
		require.NoError(t, b.db.Pool.QueryRow(b.ctx, `SELECT i.status, a.country FROM invoices i JOIN accounts a ON a.id = i.account_id WHERE i.id = $1`, inv.ID).
			Scan(&status, &country))
		require.Equal(t, "open", status)
		require.Equal(t, "FR", country)

		pm := testfactory.PaymentMethod(b.ctx, t, b.db.Pool, &testfactory.PaymentMethodOpts{AccountID: &inv.AccountID})
		m, err := payments.CurrentMethod(b.ctx, b.db.Pool, inv.AccountID)
		require.NoError(t, err)
		require.Equal(t, pm.Method, *m)
	})

	t.Run("OptionsAreHonoured", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		acc := testfactory.Account(b.ctx, t, b.db.Pool, &testfactory.AccountOpts{ID: testfactory.Ptr("acc_de"), Country: testfactory.Ptr("DE"),
			VATNumber: testfactory.Ptr("DE123456789")})
		inv := testfactory.Invoice(b.ctx, t, b.db.Pool, &testfactory.InvoiceOpts{AccountID: &acc.ID, Subtotal: testfactory.Ptr("100.00"),
			TaxRate: testfactory.Ptr("19")})
		require.Equal(t, "119.00", inv.Total.StringFixed(2))
		second := testfactory.Invoice(b.ctx, t, b.db.Pool, &testfactory.InvoiceOpts{AccountID: &acc.ID, Period: testfactory.Ptr("2026-09")})
		require.Equal(t, "INV-2026-000002", second.Number, "numbers come from the gapless counter")

		sepa := testfactory.PaymentMethod(b.ctx, t, b.db.Pool, &testfactory.PaymentMethodOpts{AccountID: &acc.ID, Type: testfactory.Ptr(payments.MethodSEPADebit)})
		require.Equal(t, payments.MethodSEPADebit, sepa.Method.Type)
		var current, history int
		require.NoError(t, b.db.Pool.QueryRow(b.ctx, `SELECT count(*) FILTER (WHERE replaced_at IS NULL), count(*) FILTER (WHERE replaced_at IS NOT NULL)
			FROM payment_methods WHERE account_id = $1`, acc.ID).Scan(&current, &history))
		require.Equal(t, 1, current)
		require.Zero(t, history, "the first method replaced nothing")
	})

	t.Run("CreditMovesTheBalance", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		acc := testfactory.Account(b.ctx, t, b.db.Pool, nil)
		testfactory.Credit(b.ctx, t, b.db.Pool, &testfactory.CreditOpts{AccountID: &acc.ID, Amount: testfactory.Ptr("7.50")})
		e := testfactory.Credit(b.ctx, t, b.db.Pool, &testfactory.CreditOpts{AccountID: &acc.ID})
		require.Equal(t, "17.50", e.BalanceAfter.StringFixed(2))
		tx, err := b.db.Pool.Begin(b.ctx)
		require.NoError(t, err)
		defer tx.Rollback(b.ctx)
		testfactory.Credit(b.ctx, t, tx, &testfactory.CreditOpts{AccountID: &acc.ID}) // a savepoint of tx
		require.NoError(t, tx.Rollback(b.ctx))
		var balance string
		require.NoError(t, b.db.Pool.QueryRow(b.ctx, `SELECT credit_balance::text FROM accounts WHERE id = $1`, acc.ID).Scan(&balance))
		require.Equal(t, "17.50", balance, "a credit in a rolled-back transaction is gone")
	})

	t.Run("DraftAndUsage", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		d := testfactory.Draft(b.ctx, t, b.db.Pool, nil)
		require.Empty(t, d.Number)
		testfactory.Usage(b.ctx, t, b.db.Pool, &testfactory.UsageOpts{AccountID: &d.AccountID})
		var segments int
		require.NoError(t, b.db.Pool.QueryRow(b.ctx, `SELECT count(*) FROM usage_segments WHERE account_id = $1`, d.AccountID).Scan(&segments))
		require.Equal(t, 1, segments)
	})
}
