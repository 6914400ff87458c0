package invoices_test

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/billingengine/engine/billing"
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

// The events' invoice JSON (ByIDs: hours and amounts as Postgres formats
// them, no decimal decoded) is the API's (Get, from typed lines) without
// the lines' prices, for every kind of line: usage lines of several apps
// with hours of odd seconds, a referral discount and its carry-over.
func TestEventJSONIsTheInvoiceJSONWithoutPrices(t *testing.T) {
	t.Parallel()
	b, numbers := billFrom(t,
		`{"id":"acc_a","name":"A","email":"a@example.test","country":"FR","created_at":"2025-01-01T00:00:00Z"}`+"\n"+
			`{"id":"acc_b","name":"B","email":"b@example.test","country":"FR","created_at":"2026-06-01T00:00:00Z","referred_by":"acc_a"}`+"\n",
		`{"id":"s1","account_id":"acc_a","app":"web","resource":"c","quantity":1,"started_at":"2026-10-01T00:00:00Z","ended_at":"2026-10-01T01:00:01Z"}`+"\n"+
			`{"id":"s2","account_id":"acc_a","app":"db","resource":"c","quantity":3,"started_at":"2026-10-02T00:00:00Z","ended_at":"2026-10-02T00:00:07Z"}`+"\n"+
			`{"id":"s3","account_id":"acc_b","app":"web","resource":"c","quantity":2,"started_at":"2026-10-01T00:00:00Z","ended_at":"2026-10-01T05:00:00Z"}`+"\n")
	require.Len(t, numbers, 2)
	var ids []int64
	want := map[int64][]invoices.Line{}
	kinds := map[billing.LineType]bool{}
	for _, n := range numbers {
		inv, err := invoices.Get(b.ctx, b.db.Pool, n)
		require.NoError(t, err)
		ids = append(ids, inv.ID)
		for _, l := range inv.Lines {
			kinds[l.Type] = true
			l.Prices = nil
			want[inv.ID] = append(want[inv.ID], l)
		}
	}
	require.Equal(t, map[billing.LineType]bool{billing.LineUsage: true, billing.LineReferral: true, billing.LineReferralCarryover: true}, kinds,
		"the invoices have every kind of line written at drafting and finalization")
	got, err := invoices.ByIDs(b.ctx, b.db.Pool, ids)
	require.NoError(t, err)
	require.Len(t, got, 2)
	for _, inv := range got {
		require.Equal(t, want[inv.ID], inv.Lines, inv.Number)
	}
}
