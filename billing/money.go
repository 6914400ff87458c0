package billing

import (
	"database/sql/driver"
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

// Money is an amount of money in whole cents, the type amounts travel in
// from the database to the PDF's layout, so that nothing downstream parses
// a formatted string back or rounds on its own.
//
// It is a struct over decimal.Decimal, not a decimal.Decimal, so that the
// arithmetic it offers is only what keeps whole cents whole (Add, Sub,
// Neg): a product or a quotient (VAT, a price times hours) is computed on
// decimal.Decimal and comes back through MoneyOf, the one rounding. The
// zero value is 0.00.
type Money struct{ d decimal.Decimal }

// MoneyOf is d rounded to the cent by RoundMoney.
func MoneyOf(d decimal.Decimal) Money { return Money{RoundMoney(d)} }

// ErrNotCents is returned when an amount read as Money has fractions of a
// cent: rounding it on the way in would hide the error that produced it.
var ErrNotCents = errors.New("an amount of money is in whole cents")

// ParseMoney reads an amount the engine wrote ("12.34", "-20.00", "5"):
// any sign, whole cents. It is the JSON edge's reader; ParseAmount stays
// the stricter one for what people type.
func ParseMoney(s string) (Money, error) {
	d, err := decimal.NewFromString(s)
	if err != nil {
		return Money{}, fmt.Errorf("%w, got %q", ErrNotCents, s)
	}
	return exact(d)
}

// MustParseMoney is ParseMoney for constants and tests; it panics on a
// bad amount.
func MustParseMoney(s string) Money {
	m, err := ParseMoney(s)
	if err != nil {
		panic(err)
	}
	return m
}

// ExactMoney is d as Money when d is a whole number of cents, an error
// (ErrNotCents) otherwise: for values read back, which were stored rounded.
func ExactMoney(d decimal.Decimal) (Money, error) { return exact(d) }

func exact(d decimal.Decimal) (Money, error) {
	if !RoundMoney(d).Equal(d) {
		return Money{}, fmt.Errorf("%w, got %s", ErrNotCents, d)
	}
	return Money{d}, nil
}

// Decimal is m as a decimal, for arithmetic Money does not offer.
func (m Money) Decimal() decimal.Decimal { return m.d }

// Add is m + o, exact.
func (m Money) Add(o Money) Money { return Money{m.d.Add(o.d)} }

// Sub is m - o, exact.
func (m Money) Sub(o Money) Money { return Money{m.d.Sub(o.d)} }

// Neg is -m; the negation of zero is zero (never "-0.00").
func (m Money) Neg() Money { return Money{m.d.Neg()} }

// IsZero reports whether m is 0.00.
func (m Money) IsZero() bool { return m.d.IsZero() }

// IsNegative reports whether m is below zero.
func (m Money) IsNegative() bool { return m.d.IsNegative() }

// IsPositive reports whether m is above zero.
func (m Money) IsPositive() bool { return m.d.IsPositive() }

// Equal reports whether m and o are the same amount, whatever their
// decimals ("5" and "5.00" are equal).
func (m Money) Equal(o Money) bool { return m.d.Equal(o.d) }

// String is FormatMoney: "12.34", "5.00", "-20.00".
func (m Money) String() string { return FormatMoney(m.d) }

// MarshalText writes m as the invoice JSON does: "12.34".
func (m Money) MarshalText() ([]byte, error) { return []byte(m.String()), nil }

// UnmarshalText reads what MarshalText wrote (ParseMoney).
func (m *Money) UnmarshalText(b []byte) error {
	v, err := ParseMoney(string(b))
	if err != nil {
		return err
	}
	*m = v
	return nil
}

// Scan reads a numeric column (database/sql's Scanner, which pgx uses for
// types it has no codec for). A value with fractions of a cent is an
// error, not rounded.
func (m *Money) Scan(src any) error {
	var d decimal.Decimal
	if err := d.Scan(src); err != nil {
		return fmt.Errorf("scanning money: %w", err)
	}
	v, err := exact(d)
	if err != nil {
		return err
	}
	*m = v
	return nil
}

// Value writes m as a numeric literal ("12.34").
func (m Money) Value() (driver.Value, error) { return m.String(), nil }

// FormatMoneyIn writes an amount in euros for a reader of lang, as the
// customer's pages show it: "1 234,56 €" in French (a narrow no-break
// space groups the thousands, a no-break space precedes the sign),
// "€1,234.56" in English.
func FormatMoneyIn(m Money, lang Language) string {
	s := m.String()
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	intPart, frac, _ := strings.Cut(s, ".")
	sep, dec := ",", "."
	if lang == LanguageFrench {
		sep, dec = "\u202f", ","
	}
	var b strings.Builder
	for i, r := range intPart {
		if i > 0 && (len(intPart)-i)%3 == 0 {
			b.WriteString(sep)
		}
		b.WriteRune(r)
	}
	num := b.String() + dec + frac
	sign := ""
	if neg {
		sign = "-"
	}
	if lang == LanguageFrench {
		return sign + num + "\u00a0€"
	}
	return sign + "€" + num
}
