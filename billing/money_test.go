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
