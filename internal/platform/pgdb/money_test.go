package pgdb_test

import (
	"context"
	"errors"
	"testing"

	"github.com/shopspring/decimal"
	"github.com/stretchr/testify/require"

	"github.com/billingengine/engine/billing"
	"github.com/billingengine/engine/internal/dbtest"
)

// TestMoneyInBinaryNumeric: billing.Money and decimals travel as binary
// numeric (registerNumeric) and keep their rules: a stored amount reads
// back to the cent, fractions of a cent and NULL are errors for Money,
// decimals keep every digit, and what is written is read back equal.
func TestMoneyInBinaryNumeric(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	d := dbtest.New(t)
	for _, s := range []string{"0.00", "12.34", "-5.10", "123456789012.99", "7"} {
		var m billing.Money
		require.NoError(t, d.Pool.QueryRow(ctx, `SELECT $1::numeric(14, 2)`, s).Scan(&m), s)
		require.True(t, m.Decimal().Equal(decimal.RequireFromString(s)), "%s read as %s", s, m)
		require.Equal(t, billing.FormatMoney(decimal.RequireFromString(s)), m.String())

		var back string
		require.NoError(t, d.Pool.QueryRow(ctx, `SELECT ($1::numeric)::text`, m).Scan(&back))
		require.True(t, decimal.RequireFromString(back).Equal(m.Decimal()), "%s written as %s", m, back)
	}
	var m billing.Money
	err := d.Pool.QueryRow(ctx, `SELECT 0.005::numeric`).Scan(&m)
	require.True(t, errors.Is(err, billing.ErrNotCents), "%v", err)
	require.Error(t, d.Pool.QueryRow(ctx, `SELECT NULL::numeric`).Scan(&m))

	// Decimals and nullable decimals (hours, quantities) keep every digit.
	var hours decimal.Decimal
	require.NoError(t, d.Pool.QueryRow(ctx, `SELECT 96.000001::numeric(14, 6)`).Scan(&hours))
	require.Equal(t, "96.000001", hours.String())
	var nd decimal.NullDecimal
	require.NoError(t, d.Pool.QueryRow(ctx, `SELECT NULL::numeric`).Scan(&nd))
	require.False(t, nd.Valid)
	require.NoError(t, d.Pool.QueryRow(ctx, `SELECT -0.0278::numeric`).Scan(&nd))
	require.True(t, nd.Valid)
	require.Equal(t, "-0.0278", nd.Decimal.String())
	require.Error(t, d.Pool.QueryRow(ctx, `SELECT 'NaN'::numeric`).Scan(&hours))

	// In arrays, as the set-based writes pass them.
	var sum billing.Money
	require.NoError(t, d.Pool.QueryRow(ctx, `SELECT sum(x) FROM unnest($1::numeric[]) x`,
		[]billing.Money{billing.MustParseMoney("1.10"), billing.MustParseMoney("2.25")}).Scan(&sum))
	require.Equal(t, "3.35", sum.String())
	var ms []billing.Money
	require.NoError(t, d.Pool.QueryRow(ctx, `SELECT ARRAY[1.5, 2.25]::numeric[]`).Scan(&ms))
	require.Equal(t, []string{"1.50", "2.25"}, []string{ms[0].String(), ms[1].String()})
}
