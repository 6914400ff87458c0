package facturx

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/shopspring/decimal"
	"github.com/stretchr/testify/require"

	"github.com/billingengine/engine/billing"
)

func m(s string) billing.Money { return billing.MustParseMoney(s) }

func d(s string) decimal.Decimal { return decimal.RequireFromString(s) }

var (
	issued = time.Date(2026, 11, 1, 0, 30, 0, 0, time.UTC)
	seller = Party{
		Name: "Cloud SAS", LegalInfo: "SAS au capital de 10 000 € · RCS Paris 303 265 045", SIREN: "303265045", VATNumber: "FR40303265045",
		Address: Address{Lines: []string{"1 rue A"}, PostalCode: "75001", City: "Paris", Country: "FR"}, Email: "billing@cloud.test",
	}
)

// sample is a domestic invoice with a referral discount, partly paid by
// prepaid credit.
func sample() *Input {
	return &Input{
		Type: CommercialInvoice, Number: "INV-2026-000001", Issued: issued, BusinessProcess: "S1", Currency: "EUR",
		Notes: []Note{
			{NoteRecoveryFee, "Indemnité forfaitaire pour frais de recouvrement : 40 €."},
			{NotePenalties, "Pénalités de retard : trois fois le taux d'intérêt légal."},
			{NoteNoEarlyDisc, "Pas d'escompte pour paiement anticipé."},
		},
		Seller: seller,
		Buyer: Party{Name: "Acme SAS", SIREN: "732829320", VATNumber: "FR44732829320", Email: "billing@acme.test",
			Address: Address{Lines: []string{"12 rue de la Paix"}, PostalCode: "75002", City: "Paris", Country: "FR"}},
		PeriodStart: time.Date(2026, 10, 1, 0, 0, 0, 0, time.UTC), PeriodEnd: time.Date(2026, 10, 31, 0, 0, 0, 0, time.UTC),
		Lines: []Line{
			{ID: "1", Name: "web · container:M", Quantity: d("1440.000000"), Unit: UnitHour, NetPrice: d("0.0278"), NetAmount: m("40.03"), Category: Standard, Rate: d("20")},
			{ID: "2", Name: "db · addon:pg", Quantity: d("720.5"), Unit: UnitHour, NetPrice: d("0.01"), NetAmount: m("7.21"), Category: Standard, Rate: d("20")},
		},
		Allowances: []Allowance{{Amount: m("5.00"), ReasonCode: "95", Reason: "Referral rewards", Category: Standard, Rate: d("20")}},
		VAT:        []VAT{{Category: Standard, Rate: d("20"), Basis: m("42.24"), Tax: m("8.45")}},
		Totals: Totals{LineTotal: m("47.24"), Allowances: m("5.00"), TaxBasis: m("42.24"), Tax: m("8.45"), GrandTotal: m("50.69"),
			Prepaid: m("10.00"), Due: m("40.69")},
		PaymentReference: "INV-2026-000001",
		PaymentMeans:     []PaymentMeans{{Code: MeansTransfer, PayeeIBAN: "FR7630006000011234567890189", PayeeBIC: "AGRIFRPP"}},
		PaymentTerms:     "Payable à réception.",
		Due:              issued,
	}
}

// The same input gives the same bytes.
func TestGenerateIsDeterministic(t *testing.T) {
	a, err := Generate(sample())
	require.NoError(t, err)
	b, err := Generate(sample())
	require.NoError(t, err)
	require.True(t, bytes.Equal(a, b))
	if dir := os.Getenv("FACTURX_SAMPLE_DIR"); dir != "" {
		require.NoError(t, os.WriteFile(filepath.Join(dir, "sample.xml"), a, 0o644))
	}
	require.True(t, strings.HasPrefix(string(a), `<?xml version="1.0" encoding="UTF-8"?>`))
}

// The totals written are the input's, to the cent, each where EN 16931
// puts it.
func TestAmountsAreTheInputs(t *testing.T) {
	b, err := Generate(sample())
	require.NoError(t, err)
	x := string(b)
	for _, want := range []string{
		"<ram:LineTotalAmount>40.03</ram:LineTotalAmount>", "<ram:LineTotalAmount>7.21</ram:LineTotalAmount>",
		"<ram:LineTotalAmount>47.24</ram:LineTotalAmount>", "<ram:AllowanceTotalAmount>5.00</ram:AllowanceTotalAmount>",
		"<ram:TaxBasisTotalAmount>42.24</ram:TaxBasisTotalAmount>", `<ram:TaxTotalAmount currencyID="EUR">8.45</ram:TaxTotalAmount>`,
		"<ram:GrandTotalAmount>50.69</ram:GrandTotalAmount>", "<ram:TotalPrepaidAmount>10.00</ram:TotalPrepaidAmount>",
		"<ram:DuePayableAmount>40.69</ram:DuePayableAmount>", "<ram:ActualAmount>5.00</ram:ActualAmount>",
		"<ram:CalculatedAmount>8.45</ram:CalculatedAmount>", "<ram:BasisAmount>42.24</ram:BasisAmount>",
		`<ram:BilledQuantity unitCode="HUR">720.5000</ram:BilledQuantity>`, "<ram:ChargeAmount>0.0278</ram:ChargeAmount>",
		"<ram:RateApplicablePercent>20.00</ram:RateApplicablePercent>",
	} {
		require.Contains(t, x, want)
	}
}

// Check refuses what would break the EN 16931 rules, naming the rule.
func TestCheckRefusesInconsistentTotals(t *testing.T) {
	cases := map[string]func(*Input){
		"BR-CO-10": func(in *Input) { in.Totals.LineTotal = m("47.25") },
		"BR-CO-11": func(in *Input) { in.Totals.Allowances = m("4.00") },
		"BR-CO-15": func(in *Input) { in.Totals.GrandTotal = m("50.70") },
		"BR-CO-16": func(in *Input) { in.Totals.Due = m("50.69") },
		"BR-CO-17": func(in *Input) {
			in.VAT[0].Tax = m("8.44")
			in.Totals.Tax = m("8.44")
			in.Totals.GrandTotal = m("50.68")
		},
		"BR-S-08":   func(in *Input) { in.Allowances = nil },
		"BR-AE-02":  func(in *Input) { reverseCharge(in); in.Buyer.VATNumber = "" },
		"BR-AE-10":  func(in *Input) { reverseCharge(in); in.VAT[0].ExemptionCode, in.VAT[0].ExemptionReason = "", "" },
		"BT-25":     func(in *Input) { in.Type = CreditNote },
		"BR-61":     func(in *Input) { in.PaymentMeans[0].PayeeIBAN = "" },
		"category":  func(in *Input) { in.Lines[1].Category = ReverseCharge },
		"no lines":  func(in *Input) { in.Lines = nil },
		"BR-S-05":   func(in *Input) { zeroStandard(in) },
		"negative":  func(in *Input) { in.Allowances[0].Amount = m("-5.00") },
		"BT-1":      func(in *Input) { in.Number = "" },
		"BT-27":     func(in *Input) { in.Seller.Name = "" },
		"document":  func(in *Input) { in.Type = "999" },
		"VAT 'Z'":   func(in *Input) { in.VAT[0].Category = "Z" },
		"breakdown": func(in *Input) { in.VAT = nil },
	}
	for rule, mutate := range cases {
		in := sample()
		mutate(in)
		_, err := Generate(in)
		require.Error(t, err, rule)
		if strings.HasPrefix(rule, "B") {
			require.Contains(t, err.Error(), rule)
		}
	}
	require.NoError(t, sample().Check())
	rc := sample()
	reverseCharge(rc)
	require.NoError(t, rc.Check())
}

// reverseCharge makes the sample an intra-EU reverse-charge invoice.
func reverseCharge(in *Input) {
	for i := range in.Lines {
		in.Lines[i].Category, in.Lines[i].Rate = ReverseCharge, decimal.Zero
	}
	in.Allowances[0].Category, in.Allowances[0].Rate = ReverseCharge, decimal.Zero
	in.VAT = []VAT{{Category: ReverseCharge, Rate: decimal.Zero, Basis: m("42.24"), Tax: m("0.00"), ExemptionCode: VATEXReverseCharge, ExemptionReason: "Reverse charge"}}
	in.Buyer.VATNumber, in.Buyer.Address.Country = "DE123456789", "DE"
	in.Totals.Tax, in.Totals.GrandTotal, in.Totals.Due = m("0.00"), m("42.24"), m("32.24")
}

func zeroStandard(in *Input) {
	for i := range in.Lines {
		in.Lines[i].Rate = decimal.Zero
	}
	in.Allowances[0].Rate = decimal.Zero
	in.VAT[0].Rate, in.VAT[0].Tax = decimal.Zero, m("0.00")
	in.Totals.Tax, in.Totals.GrandTotal, in.Totals.Due = m("0.00"), m("42.24"), m("32.24")
}

// Not subject to VAT: no rate anywhere and no VAT identifiers (BR-O-02,
// BR-O-05, BR-O-06), the exemption reason in the breakdown.
func TestOutsideScope(t *testing.T) {
	in := sample()
	reverseCharge(in)
	for i := range in.Lines {
		in.Lines[i].Category = OutsideScope
	}
	in.Allowances[0].Category = OutsideScope
	in.VAT[0].Category, in.VAT[0].ExemptionCode, in.VAT[0].ExemptionReason = OutsideScope, VATEXOutsideScope, "VAT not applicable"
	in.Buyer.VATNumber, in.Buyer.Address.Country = "US123456789", "US"
	b, err := Generate(in)
	require.NoError(t, err)
	x := string(b)
	require.NotContains(t, x, "RateApplicablePercent")
	require.NotContains(t, x, `schemeID="VA"`)
	require.Contains(t, x, "<ram:ExemptionReasonCode>VATEX-EU-O</ram:ExemptionReasonCode>")
}

// Text is escaped and its whitespace folded; a price keeps its own
// decimals (two at least, six at most).
func TestTextAndPrices(t *testing.T) {
	in := sample()
	in.Buyer.Name = "A & B <Ltd>\n  \"quoted\""
	in.Lines[0].NetPrice = d("0.12345678")
	in.Lines[1].NetPrice = d("3")
	b, err := Generate(in)
	require.NoError(t, err)
	x := string(b)
	require.Contains(t, x, "<ram:Name>A &amp; B &lt;Ltd&gt; &#34;quoted&#34;</ram:Name>")
	require.Contains(t, x, "<ram:ChargeAmount>0.123457</ram:ChargeAmount>")
	require.Contains(t, x, "<ram:ChargeAmount>3.00</ram:ChargeAmount>")
}

// BenchmarkGenerate measures one typical e-invoice (SPEC §10 wants 2,000
// documents a second, PDF and e-invoice together).
func BenchmarkGenerate(b *testing.B) {
	in := sample()
	for b.Loop() {
		if _, err := Generate(in); err != nil {
			b.Fatal(err)
		}
	}
}
