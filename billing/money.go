package billing

import "github.com/shopspring/decimal"

// MoneyDecimals is the number of decimals of an amount of money (EUR cents).
const MoneyDecimals = 2

// RoundMoney rounds an exact amount to the cent, half away from zero (SPEC
// §3). It is the only place money is rounded: everything upstream computes
// exactly and rounds once, here.
func RoundMoney(d decimal.Decimal) decimal.Decimal { return d.Round(MoneyDecimals) }

// FormatMoney renders an amount the way it leaves the engine: a decimal
// string with exactly two decimals ("5.00", never "5").
func FormatMoney(d decimal.Decimal) string { return d.StringFixed(MoneyDecimals) }
