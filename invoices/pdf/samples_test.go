package pdf_test

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/billingengine/engine/billing"
	"github.com/billingengine/engine/invoices/pdf"
)

// samples are the documents whose layout is looked at when it changes:
// INVOICES_SAMPLES=DIR go test ./invoices -run Samples writes them to DIR
// (pdftoppm -png -r 60 turns them into pictures).
func samples() map[string]*pdf.Document {
	fr := typical()
	fr.Language = billing.LanguageFrench
	fr.BuyerSIREN = "303265045"
	fr.BuyerAddress = pdf.Address{Line1: "5 place Kléber", PostalCode: "67000", City: "Strasbourg", Country: "FR"}
	fr.Status, fr.AmountPaid, fr.CreditApplied, fr.AmountDue = billing.InvoiceStatusOpen, money("0.00"), money("0.00"), money("1451.47")
	fr.PortalURL = "https://billing.nuage-libre.example/portal/"
	fr.EInvoiceXML = placeholderXML

	en := typical()
	en.Language = billing.LanguageEnglish
	en.BuyerName, en.BuyerCountry, en.BuyerVATNumber = "Łódź Rīga Software Sp. z o.o.", "PL", "PL5260001246"
	en.BuyerAddress = pdf.Address{Line1: "ul. Piotrkowska 104", PostalCode: "90-926", City: "Łódź", Country: "PL"}
	en.VATTreatment, en.TaxRate, en.Tax, en.Total = billing.VATReverseCharge, dec("0"), money("0.00"), money("1209.56")
	en.AmountPaid, en.CreditApplied, en.AmountDue = money("1209.56"), money("9.56"), money("0.00")
	en.Lines[2].App = "an-application-name-that-is-far-too-long-for-its-column"

	cn := typical()
	cn.Kind, cn.Number, cn.Reverses, cn.ReversesIssued = pdf.KindCreditNote, "CN-2026-000007", "INV-2026-000042", cn.Issued
	cn.Issued = time.Date(2026, 11, 20, 9, 0, 0, 0, time.UTC)
	cn.Reason = "Facturé deux fois"
	cn.Language = billing.LanguageFrench
	// As stored (credit_notes): the invoice's amounts negated, lines and
	// totals alike; what had been paid is refunded to prepaid credit.
	for i := range cn.Lines {
		cn.Lines[i].Amount = cn.Lines[i].Amount.Neg()
	}
	cn.Subtotal, cn.Discount, cn.Tax, cn.Total = cn.Subtotal.Neg(), cn.Discount.Neg(), cn.Tax.Neg(), cn.Total.Neg()
	cn.AmountPaid = money("1451.47")

	long := typical()
	long.Language = billing.LanguageFrench
	long.BuyerVATNumber = ""
	for i := range 60 {
		l := pdf.DocumentLine{Type: billing.LineUsage, App: fmt.Sprintf("service-%03d", i), Resource: "container:S",
			Hours: hours("1.500000"), Amount: money("0.02"), Prices: []pdf.DocumentPrice{{PerHour: dec("0.0139"), Hours: dec("1.500000")}}}
		if i%7 == 3 {
			l.Prices = []pdf.DocumentPrice{{PerHour: dec("0.0139"), Hours: dec("1")}, {PerHour: dec("0.015"), Hours: dec("0.5")}}
		}
		long.Lines = append(long.Lines, l)
	}
	return map[string]*pdf.Document{"fr": fr, "en": en, "credit-note": cn, "long": long}
}

var placeholderXML = []byte(`<?xml version="1.0" encoding="UTF-8"?>
<rsm:CrossIndustryInvoice xmlns:rsm="urn:un:unece:uncefact:data:standard:CrossIndustryInvoice:100"><!-- placeholder --></rsm:CrossIndustryInvoice>
`)

func TestSamples(t *testing.T) {
	dir := os.Getenv("INVOICES_SAMPLES")
	if dir == "" {
		t.Skip("INVOICES_SAMPLES=DIR writes the sample documents to DIR")
	}
	for name, d := range samples() {
		require.NoError(t, os.WriteFile(filepath.Join(dir, name+".pdf"), render(t, d), 0o644))
	}
}
