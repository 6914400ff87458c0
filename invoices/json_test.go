package invoices_test

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/billingengine/engine/internal/testfactory"
	"github.com/billingengine/engine/invoices"
)

// The invoice JSON (SPEC §7) carries money as strings with two decimals,
// never as JSON numbers: "12.00", not 12.
func TestInvoiceJSONMoneyStrings(t *testing.T) {
	t.Parallel()

	asJSON := func(t *testing.T, b *billBundle, number string) map[string]any {
		t.Helper()
		inv, err := invoices.Get(b.ctx, b.db.Pool, number)
		require.NoError(t, err)
		raw, err := json.Marshal(inv)
		require.NoError(t, err)
		var out map[string]any
		require.NoError(t, json.Unmarshal(raw, &out))
		return out
	}
	moneyFields := []string{"subtotal", "discount", "tax", "total", "credit_applied", "amount_paid", "amount_due"}

	t.Run("FinalizedFromUsage", func(t *testing.T) {
		t.Parallel()
		b := billSetup(t)
		acc := testfactory.Account(b.ctx, t, b.db.Pool, nil) // FR, like the seller: 20 % VAT
		testfactory.Usage(b.ctx, t, b.db.Pool, &testfactory.UsageOpts{AccountID: &acc.ID, Quantity: testfactory.Ptr(3), PricePerHour: testfactory.Ptr("0.0278")})
		numbers := b.bill(t, "2026-10")
		require.Len(t, numbers, 1)

		got := asJSON(t, b, numbers[0])
		want := map[string]string{"subtotal": "0.83", "discount": "0.00", "tax": "0.17", "total": "1.00",
			"credit_applied": "0.00", "amount_paid": "0.00", "amount_due": "1.00", "currency": "EUR", "status": "open"}
		for k, v := range want {
			require.Equal(t, v, got[k], k)
		}
		for _, k := range moneyFields {
			require.IsType(t, "", got[k], "%s is a string", k)
		}
		require.IsType(t, "", got["tax_rate"])
		lines := got["lines"].([]any)
		require.Len(t, lines, 1)
		line := lines[0].(map[string]any)
		require.Equal(t, "0.83", line["amount"], "3 × 10 h × 0.0278 = 0.834, rounded half-up")
		require.IsType(t, "", line["hours"])
		require.Equal(t, []any{}, got["attempts"], "an empty list, not null")
	})

	t.Run("PartlyPaid", func(t *testing.T) {
		t.Parallel()
		b := billSetup(t)
		inv := testfactory.Invoice(b.ctx, t, b.db.Pool, &testfactory.InvoiceOpts{Subtotal: testfactory.Ptr("100"), TaxRate: testfactory.Ptr("20"),
			Discount: testfactory.Ptr("2.5"), CreditApplied: testfactory.Ptr("5"), AmountPaid: testfactory.Ptr("45.1")})
		got := asJSON(t, b, inv.Number)
		want := map[string]string{"subtotal": "100.00", "discount": "2.50", "tax": "19.50", "total": "117.00",
			"credit_applied": "5.00", "amount_paid": "45.10", "amount_due": "71.90"}
		for k, v := range want {
			require.Equal(t, v, got[k], k)
		}
	})
}
