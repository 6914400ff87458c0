package invoices_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/billingengine/engine/billing"
	"github.com/billingengine/engine/invoices"
)

var update = flag.Bool("update", false, "rewrite the golden files")

var seller = invoices.Seller{
	Name: "Nuage Libre SAS", Legal: "SAS au capital de 50 000 € · RCS Paris 303 265 045",
	Address: "12 rue de la Paix\n75002 Paris\nFrance", VATNumber: "FR40303265045", Email: "billing@nuage-libre.example",
}

var paris = func() *time.Location { l, _ := time.LoadLocation("Europe/Paris"); return l }()

// typical is an invoice with 12 lines: usage over several apps, a price
// change, referral rewards and a carry-over.
func typical() *invoices.Document {
	d := &invoices.Document{
		Kind: invoices.KindInvoice, Number: "INV-2026-000042",
		Issued: time.Date(2026, 11, 1, 0, 31, 0, 0, time.UTC), Due: time.Date(2026, 11, 1, 0, 31, 0, 0, time.UTC),
		Period: "2026-10", Start: time.Date(2026, 9, 30, 22, 0, 0, 0, time.UTC), End: time.Date(2026, 10, 31, 23, 0, 0, 0, time.UTC),
		BuyerAccount: "acc_1", BuyerName: "Zoë Dupont SARL", BuyerEmail: "billing@zoe.example", BuyerCountry: "FR", BuyerVATNumber: "FR40303265045",
		Descriptions: map[string]string{"container:M": "M container (1 GB)", "addon:redis": "Redis", "container:S": "S container (512 MB)"},
		Subtotal:     "1234.56", Discount: "25.00", TaxRate: "20", Tax: "241.91", Total: "1451.47",
		CreditApplied: "51.47", AmountPaid: "1451.47", AmountDue: "0.00", VATTreatment: billing.VATDomestic, Status: invoices.StatusPaid,
	}
	for i, app := range []string{"api", "api", "shop", "shop", "web", "web", "worker", "worker", "cron", "admin"} {
		res := []string{"container:M", "addon:redis", "container:S"}[i%3]
		l := invoices.Line{Type: billing.LineUsage, App: app, Resource: res, Hours: "744.000000", Amount: fmt.Sprintf("%d.%02d", 100+i*7, i*3),
			Prices: []invoices.LinePrice{{PerHour: "0.0278", Hours: "744.000000"}}}
		if i == 0 {
			l.Hours = "192.000000"
			l.Prices = []invoices.LinePrice{{PerHour: "0.0278", Hours: "96.000000"}, {PerHour: "0.03", Hours: "96.000000"}}
		}
		d.Lines = append(d.Lines, l)
	}
	d.Lines = append(d.Lines,
		invoices.Line{Type: billing.LineReferral, RefereeAccountID: "acc_2", Amount: "-20.00"},
		invoices.Line{Type: billing.LineReferral, RefereeAccountID: "acc_3", Amount: "-5.00"})
	return d
}

var (
	fontsOnce sync.Once
	fonts     *invoices.Fonts
)

func testFonts(t testing.TB) *invoices.Fonts {
	t.Helper()
	fontsOnce.Do(func() {
		var err error
		fonts, err = invoices.LoadFonts(invoices.DefaultFallbackPath(), slog.Default())
		if err != nil {
			t.Fatal(err)
		}
	})
	return fonts
}

func render(t testing.TB, d *invoices.Document) []byte {
	t.Helper()
	b, err := invoices.RenderPDFBytes(d, seller, testFonts(t), paris)
	require.NoError(t, err)
	return b
}

// pdftotext extracts the text of a PDF with poppler, or skips the test
// where poppler-utils is not installed.
func pdftotext(t *testing.T, pdf []byte) string {
	t.Helper()
	if _, err := exec.LookPath("pdftotext"); err != nil {
		t.Skip("pdftotext (poppler-utils) is not installed")
	}
	cmd := exec.Command("pdftotext", "-layout", "-", "-")
	cmd.Stdin = bytes.NewReader(pdf)
	out, err := cmd.Output()
	require.NoError(t, err)
	return string(out)
}

func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		require.NoError(t, os.MkdirAll("testdata", 0o755))
		require.NoError(t, os.WriteFile(path, []byte(got), 0o644))
	}
	want, err := os.ReadFile(path)
	require.NoError(t, err, "go test ./invoices -run Golden -update writes it")
	require.Equal(t, string(want), got)
}

// The same document renders to the same bytes, always: a golden hash and
// a golden text.
func TestGoldenInvoice(t *testing.T) {
	t.Parallel()
	pdf := render(t, typical())
	require.Equal(t, pdf, render(t, typical()), "byte-identical")
	sum := sha256.Sum256(pdf)
	golden(t, "typical.sha256", hex.EncodeToString(sum[:])+"\n")
	text := pdftotext(t, pdf)
	golden(t, "typical.txt", text)
	for _, want := range []string{
		"INVOICE", "INV-2026-000042", "1 November 2026", "1–31 October 2026", "Zoë Dupont SARL", "VAT number FR40303265045",
		"M container (1 GB) (container:M)", "of which at 0,03 €/h", "Referral reward for account acc_2",
		"1 234,56 €", "VAT 20 %", "1 451,47 €", "Prepaid credit applied", "Amount due", "PAID",
		"fixed recovery fee of 40 €", "1/1",
	} {
		require.Contains(t, text, want)
	}
}

func TestVATMentions(t *testing.T) {
	t.Parallel()
	d := typical()
	d.VATTreatment, d.TaxRate, d.Tax = billing.VATReverseCharge, "0", "0.00"
	text := pdftotext(t, render(t, d))
	require.Contains(t, text, "VAT: reverse charge")
	require.Contains(t, text, "Autoliquidation")
	d.VATTreatment = billing.VATOutsideEU
	text = pdftotext(t, render(t, d))
	require.Contains(t, text, "VAT: not applicable")
	require.Contains(t, text, "art. 259-1 du CGI")
}

func TestLongInvoiceSpansPages(t *testing.T) {
	t.Parallel()
	d := typical()
	for i := range 70 {
		d.Lines = append(d.Lines, invoices.Line{Type: billing.LineUsage, App: fmt.Sprintf("service-%03d", i), Resource: "container:S",
			Hours: "1.500000", Amount: "0.02", Prices: []invoices.LinePrice{{PerHour: "0.0139", Hours: "1.500000"}}})
	}
	text := pdftotext(t, render(t, d))
	require.Contains(t, text, "1/3")
	require.Contains(t, text, "3/3")
	require.NotContains(t, text, "4/3")
	require.Equal(t, 3, strings.Count(text, "Price per hour"), "the table header on every page")
	require.Contains(t, text, "(continued)")
}

func TestNamesInAnyScript(t *testing.T) {
	t.Parallel()
	d := typical()
	d.BuyerName = "Αθηναϊκή Λογισμική · Слънчев бряг · Łódź"
	text := pdftotext(t, render(t, d))
	require.Contains(t, text, "Αθηναϊκή Λογισμική · Слънчев бряг · Łódź", "Greek, Cyrillic and Polish with the embedded Go font")

	if invoices.DefaultFallbackPath() == "" {
		t.Skip("no fallback font (Debian's fonts-droid-fallback) for CJK")
	}
	d.BuyerName = "株式会社さくらクラウド (Sakura)"
	text = pdftotext(t, render(t, d))
	require.Contains(t, text, "株式会社さくらクラウド (Sakura)")
}

// A character no font has is a warning, never a crash.
func TestMissingGlyph(t *testing.T) {
	t.Parallel()
	var logs bytes.Buffer
	f, err := invoices.LoadFonts("", slog.New(slog.NewTextHandler(&logs, nil)))
	require.NoError(t, err)
	d := typical()
	d.BuyerName = "Acme 𓀀 株式会社"
	pdf, err := invoices.RenderPDFBytes(d, seller, f, paris)
	require.NoError(t, err)
	require.NotEmpty(t, pdf)
	require.Contains(t, logs.String(), "no font has this character")
	require.Contains(t, logs.String(), "U+13000")
}

func TestLongNamesWrap(t *testing.T) {
	t.Parallel()
	d := typical()
	d.BuyerName = strings.Repeat("Très Longue Raison Sociale ", 10)
	d.Lines[1].App = "an-application-name-that-is-far-too-long-for-its-column"
	text := pdftotext(t, render(t, d))
	require.Contains(t, text, "Très Longue Raison Sociale")
	require.Contains(t, text, "an-application")
}

func TestFormatEUR(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{"0": "0,00", "5": "5,00", "1234.56": "1 234,56", "-20": "-20,00", "1000000": "1 000 000,00", "999.999": "1 000,00"} {
		require.Equal(t, strings.ReplaceAll(want, " ", "\u00a0")+"\u00a0€", invoices.FormatEUR(in), in)
	}
}

// BenchmarkRenderPDF renders the typical 12-line invoice; run with -cpu 1,2
// to see PDFs per second on one core and on both.
func BenchmarkRenderPDF(b *testing.B) {
	d := typical()
	f := testFonts(b)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := invoices.RenderPDFBytes(d, seller, f, paris); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "pdfs/s")
}

// In sandbox mode every page of every document says TEST MODE; a real
// seller's documents never do.
func TestTestModeOnEveryPage(t *testing.T) {
	t.Parallel()
	d := typical()
	for i := range 70 {
		d.Lines = append(d.Lines, invoices.Line{Type: billing.LineUsage, App: fmt.Sprintf("service-%03d", i), Resource: "container:S",
			Hours: "1.500000", Amount: "0.02", Prices: []invoices.LinePrice{{PerHour: "0.0139", Hours: "1.500000"}}})
	}
	test := seller
	test.TestMode = true
	pdf, err := invoices.RenderPDFBytes(d, test, testFonts(t), paris)
	require.NoError(t, err)
	text := pdftotext(t, pdf)
	require.Equal(t, 3, strings.Count(text, "TEST MODE"), "one mention per page")
	require.NotContains(t, pdftotext(t, render(t, d)), "TEST MODE")
}
