package invoices

import (
	"bytes"
	"errors"
	"testing"
	"time"

	"github.com/shopspring/decimal"
	"github.com/stretchr/testify/require"

	"github.com/billingengine/engine/billing"
	"github.com/billingengine/engine/invoices/facturx"
)

func einvoiceDoc() *Document {
	mo := billing.MustParseMoney
	return &Document{
		Kind: KindInvoice, Number: "INV-2026-000007", Issued: time.Date(2026, 11, 1, 0, 30, 0, 0, time.UTC), Due: time.Date(2026, 11, 1, 0, 30, 0, 0, time.UTC),
		Period: "2026-10", Start: time.Date(2026, 10, 1, 0, 0, 0, 0, time.UTC), End: time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC),
		BuyerAccount: "acc_1", BuyerName: "Acme SAS", BuyerEmail: "ap@acme.test", BuyerCountry: "FR", BuyerVATNumber: "FR44732829320",
		Lines: []DocumentLine{
			{Type: billing.LineUsage, App: "web", Resource: "container:M", Hours: decimal.NewNullDecimal(decimal.RequireFromString("1440.000000")),
				Amount: mo("40.03"), Prices: []DocumentPrice{{PerHour: decimal.RequireFromString("0.0278"), Hours: decimal.RequireFromString("1440")}}},
			{Type: billing.LineReferral, RefereeAccountID: "acc_2", Amount: mo("-30.00")},
			{Type: billing.LineReferral, RefereeAccountID: "acc_3", Amount: mo("-15.00")},
			{Type: billing.LineReferralCarryover, Amount: mo("4.97")},
		},
		Descriptions: map[string]string{"container:M": "M container"},
		Subtotal:     mo("40.03"), Discount: mo("40.03"), Tax: mo("0.00"), Total: mo("0.00"), TaxRate: decimal.NewFromInt(20),
		VATTreatment: billing.VATDomestic, Status: StatusPaid, Payment: DocumentPayment{Type: "card"},
	}
}

// A referrer's discount is one allowance, equal to the JSON's discount
// (the referral and carry-over lines sum to −discount), so BT-106 − BT-107
// = BT-109 = subtotal − discount; the SIREN comes from the French VAT
// number; the period ends on its last day.
func TestEInvoiceInputFromADocument(t *testing.T) {
	in, err := EInvoiceInput(einvoiceDoc(), Seller{Name: "Cloud SAS", SIREN: "303265045", Address: "1 rue A\n75001 Paris\nFrance"}, time.UTC)
	require.NoError(t, err)
	require.Len(t, in.Lines, 1)
	require.Equal(t, "web · container:M", in.Lines[0].Name)
	require.Equal(t, "M container", in.Lines[0].Description)
	require.Equal(t, facturx.UnitHour, in.Lines[0].Unit)
	require.Equal(t, "0.0278", in.Lines[0].NetPrice.String())
	require.Len(t, in.Allowances, 1)
	require.Equal(t, "40.03", in.Allowances[0].Amount.String())
	require.Equal(t, "Referral rewards (2 referred accounts)", in.Allowances[0].Reason)
	require.Equal(t, "0.00", in.Totals.TaxBasis.String())
	require.Equal(t, "732829320", in.Buyer.SIREN)
	require.Equal(t, "20261031", in.PeriodEnd.Format("20060102"))
	require.Equal(t, facturx.Address{Lines: []string{"1 rue A"}, PostalCode: "75001", City: "Paris", Country: "FR"}, in.Seller.Address)
	require.Equal(t, facturx.MeansCard, in.PaymentMeans[0].Code)
	require.NoError(t, in.Check())

	a, err := RenderXML(einvoiceDoc(), Seller{Name: "Cloud SAS"}, time.UTC)
	require.NoError(t, err)
	b, err := RenderXML(einvoiceDoc(), Seller{Name: "Cloud SAS"}, time.UTC)
	require.NoError(t, err)
	require.True(t, bytes.Equal(a, b), "identical input, identical bytes")
}

func TestConsumerHasNoEInvoice(t *testing.T) {
	doc := einvoiceDoc()
	doc.BuyerVATNumber = ""
	_, err := RenderXML(doc, Seller{Name: "Cloud SAS"}, time.UTC)
	require.True(t, errors.Is(err, ErrConsumer))
	require.EqualError(t, err, "INV-2026-000007: account acc_1 is a consumer: no e-invoice (SPEC §13)")
	x, err := renderXML(doc, Seller{}, nil)
	require.NoError(t, err)
	require.Nil(t, x)
}

func TestSellerAddress(t *testing.T) {
	cases := map[string]facturx.Address{
		"1 rue A\n75001 Paris":                 {Lines: []string{"1 rue A"}, PostalCode: "75001", City: "Paris", Country: "FR"},
		"1 rue A\nBât. B\n75001 Paris\nFrance": {Lines: []string{"1 rue A", "Bât. B"}, PostalCode: "75001", City: "Paris", Country: "FR"},
		"a\nb\nc\nd\n69002 Lyon":               {Lines: []string{"a", "b", "c, d"}, PostalCode: "69002", City: "Lyon", Country: "FR"},
		"Somewhere street 5, Berlin":           {Lines: []string{"Somewhere street 5, Berlin"}, Country: "FR"},
		"":                                     {Country: "FR"},
	}
	for text, want := range cases {
		require.Equal(t, want, SellerAddress(text, "FR"), "%q", text)
	}
}
