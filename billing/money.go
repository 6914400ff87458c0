package billing

import (
	"errors"
	"fmt"
	"strings"

	"github.com/shopspring/decimal"
)

// MoneyDecimals is the number of decimals of an amount of money (EUR cents).
const MoneyDecimals = 2

// RoundMoney rounds an exact amount to the cent, half away from zero (SPEC
// §3). It is the only place money is rounded: everything upstream computes
// exactly and rounds once, here.
func RoundMoney(d decimal.Decimal) decimal.Decimal { return d.Round(MoneyDecimals) }

// FormatMoney renders an amount the way it leaves the engine: a decimal
// string with exactly two decimals ("5.00", never "5").
func FormatMoney(d decimal.Decimal) string { return d.StringFixed(MoneyDecimals) }

// HoursDecimals is the precision of the hours of a usage line (SPEC §3).
const HoursDecimals = 6

// FormatHours renders hours the way they leave the engine: "1440.000000".
func FormatHours(d decimal.Decimal) string { return d.StringFixed(HoursDecimals) }

// FormatFixed renders d with exactly n decimals, for amounts whose
// precision is not the cent's (a price per hour shown to the cent).
func FormatFixed(d decimal.Decimal, n int32) string { return d.StringFixed(n) }

// ErrBadAmount is returned by ParseAmount.
var ErrBadAmount = errors.New("an amount must be positive, with at most two decimals, such as 25.00")

// ParseAmount reads an amount of money someone typed or sent: positive,
// plain decimal notation, at most two decimals and nine digits before the
// point.
func ParseAmount(s string) (decimal.Decimal, error) {
	whole, frac, hasFrac := strings.Cut(s, ".")
	if whole == "" || len(whole) > 9 || (hasFrac && (frac == "" || len(frac) > 2)) || !digits(whole) || !digits(frac) {
		return decimal.Zero, fmt.Errorf("%w, got %q", ErrBadAmount, s)
	}
	d := decimal.RequireFromString(s)
	if !d.IsPositive() {
		return decimal.Zero, fmt.Errorf("%w, got %q", ErrBadAmount, s)
	}
	return d, nil
}

func digits(s string) bool {
	for _, c := range s {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}
