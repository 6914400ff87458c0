package pdf_test

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/billingengine/engine/billing"
	"github.com/billingengine/engine/invoices/pdf"
)

// plainText is pdftotext's output with no-break spaces as spaces and
// lines joined, so that a mention wrapped over two lines still reads whole.
func plainText(t *testing.T, file []byte) string {
	t.Helper()
	s := strings.ReplaceAll(pdftotext(t, file), "\u00a0", " ")
	return regexp.MustCompile(`\s+`).ReplaceAllString(s, " ")
}

// Every mention French law asks of an invoice (SPEC §6), in both
// languages: the seller's identity, the buyer's, the category of
// operation, the payment terms, the late-payment penalties and the 40 €
// fee, no discount for early payment.
func TestEveryMentionInBothLanguages(t *testing.T) {
	t.Parallel()
	s := samples()
	for lang, want := range map[string][]string{
		"fr": {
			"FACTURE", "Nuage Libre SAS", "SAS au capital de 50 000,00 €", "RCS Paris 303 265 045", "12 rue de la Paix", "75002 Paris",
			"N° TVA FR40303265045", "Facturé à", "Zoë Dupont SARL", "5 place Kléber", "67000 Strasbourg", "SIREN 303265045",
			"Date d'émission 1er novembre 2026", "du 1er au 31 octobre 2026", "Échéance 1er novembre 2026 (paiement à réception)",
			"prestations de services", "Conditions de paiement : paiement à réception", "Pas d'escompte pour paiement anticipé",
			"Pénalités de retard : 3 fois le taux d'intérêt légal", "Indemnité forfaitaire pour frais de recouvrement : 40 €",
			"Sous-total HT 1 234,56 €", "TVA 20 % 241,91 €", "Total TTC 1 451,47 €", "Reste à payer 1 451,47 €", "Montant HT",
		},
		"en": {
			"INVOICE", "Nuage Libre SAS", "SAS share capital 50 000,00 €", "RCS Paris 303 265 045", "12 rue de la Paix",
			"VAT number FR40303265045", "Bill to", "Łódź Rīga Software Sp. z o.o.", "ul. Piotrkowska 104", "90-926 Łódź", "PL5260001246",
			"Issue date 1 November 2026", "1–31 October 2026", "supply of services", "Payment terms: payable upon receipt",
			"No discount for early payment", "Late payment penalties: three times the French legal interest rate",
			"Fixed recovery fee for late payment: 40 €", "VAT: reverse charge", "Autoliquidation, art. 283-2 du CGI",
			"art. 196 of Directive 2006/112/EC",
		},
	} {
		text := plainText(t, render(t, s[lang]))
		for _, w := range want {
			require.Contains(t, text, w, lang)
		}
	}
	d := typical()
	d.Language, d.VATTreatment, d.TaxRate, d.Tax = billing.LanguageFrench, billing.VATReverseCharge, dec("0"), money("0.00")
	text := plainText(t, render(t, d))
	require.Contains(t, text, "Autoliquidation : TVA due par le preneur (art. 283-2 du CGI ; art. 196 de la directive 2006/112/CE)")
	d.VATTreatment = billing.VATOutsideEU
	require.Contains(t, plainText(t, render(t, d)), "TVA non applicable, art. 259-1 du CGI")
}

// An unpaid invoice says how to pay: a transfer to the seller's IBAN with
// the invoice's number as reference, and the portal's link only when a
// portal is configured. A paid one says nothing of it.
func TestUnpaidInvoiceSaysHowToPay(t *testing.T) {
	t.Parallel()
	d := samples()["fr"]
	text := plainText(t, render(t, d))
	require.Contains(t, text, "Comment payer")
	require.Contains(t, text, "IBAN FR76 3000 6000 0112 3456 7890 189 · BIC AGRIFRPPXXX, en indiquant la référence INV-2026-000042")
	require.Contains(t, text, "https://billing.nuage-libre.example/portal/")
	d.PortalURL = ""
	text = plainText(t, render(t, d))
	require.Contains(t, text, "Par virement à Nuage Libre SAS")
	require.NotContains(t, text, "portal")
	require.NotContains(t, text, "En ligne")

	paid := typical()
	require.NotContains(t, plainText(t, render(t, paid)), "How to pay")
}

// A credit note cites the number and the date of the invoice it cancels.
func TestCreditNoteCitesTheInvoice(t *testing.T) {
	t.Parallel()
	text := plainText(t, render(t, samples()["credit-note"]))
	require.Contains(t, text, "AVOIR")
	require.Contains(t, text, "Annule la facture INV-2026-000042 (1er novembre 2026)")
	require.Contains(t, text, "Cet avoir annule la facture INV-2026-000042 du 1er novembre 2026")
	require.Contains(t, text, "Motif : Facturé deux fois")
}

// A referrer's document shows its referral rewards as one line that
// counts the referees: no other customer's account id, on no document.
func TestNoOtherAccountID(t *testing.T) {
	t.Parallel()
	for name, d := range samples() {
		d.Lines = append(d.Lines, pdf.DocumentLine{Type: billing.LineReferralReversal, RefereeAccountID: "acc_9", Amount: money("5.00")})
		text := plainText(t, render(t, d))
		ids := regexp.MustCompile(`acc_\w+`).FindAllString(text, -1)
		for _, id := range ids {
			require.Equal(t, d.BuyerAccount, id, name)
		}
		require.NotEmpty(t, ids, "the buyer's own account is its reference")
	}
	text := plainText(t, render(t, typical()))
	require.Contains(t, text, "Referral rewards (2 referred accounts) -25,00 €")
}

// A usage line and the lines that split it by price stay on one page,
// and the table's header labels fit their columns.
func TestPriceSplitNeverOrphaned(t *testing.T) {
	t.Parallel()
	d := samples()["long"]
	// Whatever number of lines comes before, the sub-lines follow theirs.
	for extra := range 12 {
		doc := *d
		doc.Lines = append(append([]pdf.DocumentLine{}, d.Lines[:extra+1]...), d.Lines...)
		file := render(t, &doc)
		pages := strings.Split(pdftotext(t, file), "\f")
		for i, page := range pages[1:] {
			lines := strings.Split(page, "\n")
			for k, l := range lines {
				if strings.Contains(l, "Montant HT") {
					next := ""
					for _, n := range lines[k+1:] {
						if strings.TrimSpace(n) != "" {
							next = n
							break
						}
					}
					require.NotContains(t, next, "dont au prix de", "page %d starts with a price split (extra %d)", i+2, extra)
					break
				}
			}
		}
	}
}

// A long app name wraps after a separator, not in the middle of a word.
func TestLongAppNameWrapsAtSeparator(t *testing.T) {
	t.Parallel()
	text := pdftotext(t, render(t, samples()["en"]))
	var pieces []string
	for _, l := range strings.Split(text, "\n") {
		f := strings.Fields(l)
		if len(f) > 0 && (strings.HasPrefix(f[0], "an-") || len(pieces) > 0 && len(pieces) < 8 && strings.Contains("an-application-name-that-is-far-too-long-for-its-column", f[0])) {
			pieces = append(pieces, f[0])
		}
	}
	require.Greater(t, len(pieces), 1, "wrapped")
	require.Equal(t, "an-application-name-that-is-far-too-long-for-its-column", strings.Join(pieces, ""))
	for _, p := range pieces[:len(pieces)-1] {
		require.True(t, strings.HasSuffix(p, "-"), "broken after a separator: %q", p)
	}
}

// pdfTool runs a poppler or qpdf command on file, or skips the test where
// it is not installed.
func pdfTool(t *testing.T, file []byte, name string, args ...string) string {
	t.Helper()
	if _, err := exec.LookPath(name); err != nil {
		t.Skipf("%s is not installed (.ci/run installs poppler-utils and qpdf)", name)
	}
	path := filepath.Join(t.TempDir(), "doc.pdf")
	require.NoError(t, os.WriteFile(path, file, 0o644))
	out, err := exec.Command(name, append(args, path)...).CombinedOutput()
	require.NoError(t, err, "%s: %s", name, out)
	return string(out)
}

// fontNames are the fonts pdffonts lists, each checked embedded.
func fontNames(t *testing.T, file []byte) []string {
	t.Helper()
	out := pdfTool(t, file, "pdffonts")
	var names []string
	for _, l := range strings.Split(out, "\n")[2:] {
		f := strings.Fields(l)
		if len(f) < 5 {
			continue
		}
		require.Equal(t, "yes", f[len(f)-5], "embedded: %s", l)
		name := f[0]
		if i := strings.IndexByte(name, '+'); i >= 0 {
			name = name[i+1:]
		}
		names = append(names, name)
	}
	sort.Strings(names)
	return names
}

// One typeface for every Latin-script customer: a plain ASCII name, Łódź
// and Rīga are all drawn in the same embedded Go fonts.
func TestOneTypefaceForLatinScripts(t *testing.T) {
	t.Parallel()
	var want []string
	for _, name := range []string{"Acme Inc", "Zoë Dupont SARL", "Łódź Software", "Rīga Cloud SIA", "Αθηνά · Слънчев"} {
		d := typical()
		d.BuyerVATNumber, d.BuyerName = "", name
		got := fontNames(t, render(t, d))
		if want == nil {
			want = got
		}
		require.Equal(t, want, got, name)
	}
	require.Equal(t, []string{"utf8go", "utf8goB"}, want)
}

// A business buyer's document is a PDF/A-3b with the CII XML embedded as
// factur-x.xml (SPEC §13); a consumer's stays a plain PDF.
func TestPDFA3WithFacturX(t *testing.T) {
	t.Parallel()
	d := samples()["fr"]
	file := render(t, d)
	require.Equal(t, file, render(t, d), "byte-identical, XMP and file identifier included")

	for _, name := range fontNames(t, file) {
		require.Contains(t, []string{"utf8go", "utf8goB"}, name)
	}
	require.Contains(t, pdfTool(t, file, "pdfdetach", "-list"), "1: "+pdf.FacturXFileName)
	dir := t.TempDir()
	pdfTool(t, file, "pdfdetach", "-saveall", "-o", dir)
	got, err := os.ReadFile(filepath.Join(dir, pdf.FacturXFileName))
	require.NoError(t, err)
	require.Equal(t, placeholderXML, got)

	// The structure qpdf reads: clean, with the PDF/A pieces in the catalog.
	require.Contains(t, pdfTool(t, file, "qpdf", "--check"), "No syntax or stream encoding errors")
	catalog := pdfTool(t, file, "qpdf", "--show-object=trailer")
	require.Contains(t, catalog, "/ID [")
	js := pdfTool(t, file, "qpdf", "--json", "--json-key=qpdf")
	for _, want := range []string{"/OutputIntents", "/GTS_PDFA1", "/DestOutputProfile", "/AFRelationship", "/Data", "/AF", "/Metadata", "text/xml"} {
		require.Contains(t, strings.ReplaceAll(js, "#2F", "/"), want)
	}
	xmp := pdfTool(t, file, "pdfinfo", "-meta")
	for _, want := range []string{"<pdfaid:part>3</pdfaid:part>", "<pdfaid:conformance>B</pdfaid:conformance>",
		"<fx:ConformanceLevel>EN 16931</fx:ConformanceLevel>", "<fx:DocumentFileName>factur-x.xml</fx:DocumentFileName>",
		"<pdfaSchema:prefix>fx</pdfaSchema:prefix>", "<xmp:CreateDate>2026-11-01T00:31:00Z</xmp:CreateDate>",
		"Facture INV-2026-000042"} {
		require.Contains(t, xmp, want)
	}
	require.True(t, bytes.HasPrefix(file, []byte("%PDF-1.3\n%\xe2\xe3\xcf\xd3\n")), "binary header comment")

	// Without the XML (the generator not plugged in): PDF/A-3b all the
	// same, with no attachment and no Factur-X properties.
	d.EInvoiceXML = nil
	bare := render(t, d)
	require.NotContains(t, pdfTool(t, bare, "pdfdetach", "-list"), pdf.FacturXFileName)
	require.Contains(t, pdfTool(t, bare, "pdfinfo", "-meta"), "<pdfaid:part>3</pdfaid:part>")
	require.NotContains(t, pdfTool(t, bare, "pdfinfo", "-meta"), "fx:ConformanceLevel")

	// A consumer: the plain PDF, no XMP, no attachment.
	d.BuyerVATNumber, d.BuyerSIREN, d.EInvoiceXML = "", "", placeholderXML
	plain := render(t, d)
	require.NotContains(t, string(plain), "/OutputIntents")
	require.Empty(t, strings.TrimSpace(pdfTool(t, plain, "pdfinfo", "-meta")))
	require.Contains(t, pdfTool(t, plain, "qpdf", "--check"), "No syntax or stream encoding errors")
}
