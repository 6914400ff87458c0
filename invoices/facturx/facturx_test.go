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
