package billing

import (
	"errors"
	"strconv"
	"testing"

	"github.com/shopspring/decimal"
	"github.com/stretchr/testify/require"
	"pgregory.net/rapid"
)

func TestParseAmount(t *testing.T) {
	for _, ok := range []struct{ in, want string }{
		{"25", "25.00"}, {"25.5", "25.50"}, {"25.05", "25.05"}, {"0.01", "0.01"}, {"007.10", "7.10"}, {"999999999.99", "999999999.99"},
	} {
		got, err := ParseAmount(ok.in)
		if err != nil {
			t.Errorf("ParseAmount(%q): %v", ok.in, err)
			continue
		}
		if FormatMoney(got) != ok.want {
			t.Errorf("ParseAmount(%q) = %s, want %s", ok.in, FormatMoney(got), ok.want)
		}
	}
	for _, bad := range []string{"", "0", "0.00", "-5", "+5", "5.", ".5", "5.001", "1e3", "1,50", " 5", "5 ", "NaN", "Inf", "0x10", "1000000000", "٣"} {
		if d, err := ParseAmount(bad); !errors.Is(err, ErrBadAmount) {
			t.Errorf("ParseAmount(%q) = %s, %v; want ErrBadAmount", bad, d, err)
		}
	}
}

// Every amount in cents from 0.01 to the cap reads back exactly, whichever
// way it is written.
func TestParseAmountProperty(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		cents := rapid.Int64Range(1, 99_999_999_999).Draw(t, "cents")
		want := decimal.New(cents, -2)
		for _, s := range []string{want.StringFixed(2), want.String()} {
			got, err := ParseAmount(s)
			if err != nil || !got.Equal(want) {
				t.Fatalf("ParseAmount(%q) = %s, %v; want %s", s, got, err, want)
			}
		}
		if cents%100 == 0 {
			if got, err := ParseAmount(strconv.FormatInt(cents/100, 10)); err != nil || !got.Equal(want) {
				t.Fatalf("whole euros %d: %s, %v", cents/100, got, err)
			}
		}
	})
}

func TestCheckCreditPurchase(t *testing.T) {
	t.Parallel()
	limit := decimal.RequireFromString("10000.00")
	for _, ok := range []string{"5.00", "5", "9999.99", "10000.00"} {
		require.NoError(t, CheckCreditPurchase(decimal.RequireFromString(ok), limit), ok)
	}
	for _, bad := range []string{"4.99", "0.01", "10000.01", "999999999"} {
		err := CheckCreditPurchase(decimal.RequireFromString(bad), limit)
		var pe *PurchaseAmountError
		require.ErrorAs(t, err, &pe, bad)
	}
	require.EqualError(t, CheckCreditPurchase(decimal.RequireFromString("50000"), limit),
		"amount: a credit purchase is between 5.00 and 10000.00 EUR, got 50000.00")
}

func TestMoneyString(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		m    Money
		want string
	}{
		{"zero value", Money{}, "0.00"},
		{"trailing zeros kept", MustParseMoney("5"), "5.00"},
		{"one decimal", MustParseMoney("25.5"), "25.50"},
		{"cents", MustParseMoney("1234.56"), "1234.56"},
		{"negative", MustParseMoney("-20"), "-20.00"},
		{"database numeric(14,2)", MustParseMoney("40.03"), "40.03"},
		{"MoneyOf rounds half away from zero", MoneyOf(decimal.RequireFromString("0.125")), "0.13"},
		{"MoneyOf rounds negatives away from zero", MoneyOf(decimal.RequireFromString("-0.125")), "-0.13"},
		{"MoneyOf rounds up to the next euro", MoneyOf(decimal.RequireFromString("999.999")), "1000.00"},
	} {
		require.Equal(t, tc.want, tc.m.String(), tc.name)
		require.Equal(t, FormatMoney(tc.m.Decimal()), tc.m.String(), "%s: one formatter", tc.name)
	}
}

func TestMoneyArithmetic(t *testing.T) {
	t.Parallel()
	m := MustParseMoney
	for _, tc := range []struct {
		name      string
		got, want Money
	}{
		{"negation", m("20.00").Neg(), m("-20")},
		{"negation of a negative", m("-5.01").Neg(), m("5.01")},
		{"sum", m("0.10").Add(m("0.20")), m("0.30")},
		{"difference", m("1234.56").Sub(m("25.00")), m("1209.56")},
		{"difference below zero", m("25.00").Sub(m("1234.56")), m("-1209.56")},
	} {
		require.True(t, tc.want.Equal(tc.got), "%s: %s, want %s", tc.name, tc.got, tc.want)
		require.Equal(t, tc.want.String(), tc.got.String(), tc.name)
	}
	require.Equal(t, "0.00", m("0").Neg().String(), "zero negated is never -0.00")
	require.True(t, m("0.00").Neg().IsZero())
	require.True(t, m("-0.01").IsNegative())
	require.False(t, m("0").IsNegative())
	require.True(t, m("0.01").IsPositive())
	require.True(t, m("5").Equal(m("5.00")), "equal whatever the decimals written")
}

// A thousand cents added one by one are exactly ten euros: no float, no
// rounding on the way.
func TestMoneySumsExact(t *testing.T) {
	t.Parallel()
	var sum Money
	for range 1000 {
		sum = sum.Add(MustParseMoney("0.01"))
	}
	require.Equal(t, "10.00", sum.String())
	rapid.Check(t, func(t *rapid.T) {
		a := rapid.Int64Range(-1e12, 1e12).Draw(t, "a")
		b := rapid.Int64Range(-1e12, 1e12).Draw(t, "b")
		got := Money{decimal.New(a, -2)}.Add(Money{decimal.New(b, -2)})
		if !got.Equal(Money{decimal.New(a+b, -2)}) || !got.Sub(Money{decimal.New(b, -2)}).Equal(Money{decimal.New(a, -2)}) {
			t.Fatalf("%d + %d cents = %s", a, b, got)
		}
	})
}

func TestMoneyText(t *testing.T) {
	t.Parallel()
	for _, s := range []string{"40.03", "0.00", "-20.00", "1451.47"} {
		var m Money
		require.NoError(t, m.UnmarshalText([]byte(s)), s)
		b, err := m.MarshalText()
		require.NoError(t, err)
		require.Equal(t, s, string(b), "round trip")
	}
	var m Money
	require.NoError(t, m.UnmarshalText([]byte("5")))
	b, _ := m.MarshalText()
	require.Equal(t, "5.00", string(b), "written with two decimals, always")
	for _, bad := range []string{"", "abc", "0.001", "1,50"} {
		require.ErrorIs(t, m.UnmarshalText([]byte(bad)), ErrNotCents, bad)
	}
}

func TestMoneyScanValue(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		src  any
		want string
	}{{"40.03", "40.03"}, {[]byte("-5.1"), "-5.10"}, {int64(7), "7.00"}} {
		var m Money
		require.NoError(t, m.Scan(tc.src), "%v", tc.src)
		want := tc.want
		require.Equal(t, want, m.String())
		v, err := m.Value()
		require.NoError(t, err)
		require.Equal(t, want, v)
	}
	var m Money
	require.ErrorIs(t, m.Scan("0.125"), ErrNotCents, "fractions of a cent are an error, not rounded")
	require.Error(t, m.Scan(nil))
}
