package billing

import (
	"fmt"

	"github.com/shopspring/decimal"
)

// MinCreditPurchase is the least prepaid credit one purchase buys, and
// DefaultCreditPurchaseMax the most unless configured (SPEC §4): a bound on
// what a customer's own token can move in one go.
var (
	MinCreditPurchase        = decimal.RequireFromString("5.00")
	DefaultCreditPurchaseMax = decimal.RequireFromString("10000.00")
)

// PurchaseAmountError refuses a credit purchase outside [Min, Max].
type PurchaseAmountError struct {
	Amount, Min, Max decimal.Decimal
}

func (e *PurchaseAmountError) Error() string {
	return fmt.Sprintf("amount: a credit purchase is between %s and %s EUR, got %s", FormatMoney(e.Min), FormatMoney(e.Max), FormatMoney(e.Amount))
}

// CheckCreditPurchase returns a *PurchaseAmountError unless amount is
// between MinCreditPurchase and limit.
func CheckCreditPurchase(amount, limit decimal.Decimal) error {
	if amount.LessThan(MinCreditPurchase) || amount.GreaterThan(limit) {
		return &PurchaseAmountError{Amount: amount, Min: MinCreditPurchase, Max: limit}
	}
	return nil
}
