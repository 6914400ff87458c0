package pdf_test

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
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/shopspring/decimal"
	"github.com/stretchr/testify/require"

	"github.com/billingengine/engine/billing"
	"github.com/billingengine/engine/invoices/pdf"
)

var update = flag.Bool("update", false, "rewrite the golden files")

var seller = pdf.Seller{
	Name: "Nuage Libre SAS", Legal: "SAS", Capital: decimal.RequireFromString("50000"), RCS: "Paris",
	Address: "12 rue de la Paix\n75002 Paris\nFrance", VATNumber: "FR40303265045", Email: "billing@nuage-libre.example",
	SIREN: "303265045", IBAN: "FR7630006000011234567890189", BIC: "AGRIFRPPXXX",
}

var paris = func() *time.Location { l, _ := time.LoadLocation("Europe/Paris"); return l }()

var (
	money = billing.MustParseMoney
	dec   = decimal.RequireFromString
)

func hours(s string) decimal.NullDecimal { return decimal.NewNullDecimal(dec(s)) }

// typical is an invoice with 12 lines: usage over several apps, a price
// change, referral rewards and a carry-over.
func typical() *pdf.Document {
	d := &pdf.Document{
		Kind: pdf.KindInvoice, Number: "INV-2026-000042",
		Issued: time.Date(2026, 11, 1, 0, 31, 0, 0, time.UTC), Due: time.Date(2026, 11, 1, 0, 31, 0, 0, time.UTC),
		Period: "2026-10", Start: time.Date(2026, 9, 30, 22, 0, 0, 0, time.UTC), End: time.Date(2026, 10, 31, 23, 0, 0, 0, time.UTC),
		BuyerAccount: "acc_1", BuyerName: "Zoë Dupont SARL", BuyerEmail: "billing@zoe.example", BuyerCountry: "FR", BuyerVATNumber: "FR40303265045",
		Descriptions: map[string]string{"container:M": "M container (1 GB)", "addon:redis": "Redis", "container:S": "S container (512 MB)"},
		Subtotal:     money("1234.56"), Discount: money("25.00"), TaxRate: dec("20"), Tax: money("241.91"), Total: money("1451.47"),
		CreditApplied: money("51.47"), AmountPaid: money("1451.47"), AmountDue: money("0.00"), VATTreatment: billing.VATDomestic, Status: billing.InvoiceStatusPaid,
		Language: billing.LanguageEnglish,
	}
	for i, app := range []string{"api", "api", "shop", "shop", "web", "web", "worker", "worker", "cron", "admin"} {
		res := []string{"container:M", "addon:redis", "container:S"}[i%3]
		l := pdf.DocumentLine{Type: billing.LineUsage, App: app, Resource: res, Hours: hours("744.000000"), Amount: money(fmt.Sprintf("%d.%02d", 100+i*7, i*3)),
			Prices: []pdf.DocumentPrice{{PerHour: dec("0.0278"), Hours: dec("744.000000")}}}
		if i == 0 {
			l.Hours = hours("192.000000")
			l.Prices = []pdf.DocumentPrice{{PerHour: dec("0.0278"), Hours: dec("96.000000")}, {PerHour: dec("0.03"), Hours: dec("96.000000")}}
		}
		d.Lines = append(d.Lines, l)
	}
	d.Lines = append(d.Lines,
		pdf.DocumentLine{Type: billing.LineReferral, RefereeAccountID: "acc_2", Amount: money("-20.00")},
		pdf.DocumentLine{Type: billing.LineReferral, RefereeAccountID: "acc_3", Amount: money("-5.00")})
	return d
}

var (
	fontsOnce sync.Once
	fonts     *pdf.Fonts
)

func testFonts(t testing.TB) *pdf.Fonts {
	t.Helper()
	fontsOnce.Do(func() {
		var err error
		fonts, err = pdf.LoadFonts(pdf.DefaultFallbackPath(), slog.Default())
		if err != nil {
			t.Fatal(err)
		}
	})
	return fonts
}

func render(t testing.TB, d *pdf.Document) []byte {
	t.Helper()
	b, err := pdf.RenderPDFBytes(d, seller, testFonts(t), paris)
	require.NoError(t, err)
	return b
}

// pdftotext extracts the text of a PDF with poppler, or skips the test
// where poppler-utils is not installed.
func pdftotext(t *testing.T, file []byte) string {
	t.Helper()
	if _, err := exec.LookPath("pdftotext"); err != nil {
		t.Skip("pdftotext (poppler-utils) is not installed")
	}
	cmd := exec.Command("pdftotext", "-layout", "-", "-")
	cmd.Stdin = bytes.NewReader(file)
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
	file := render(t, typical())
	require.Equal(t, file, render(t, typical()), "byte-identical")
	sum := sha256.Sum256(file)
	golden(t, "typical.sha256", hex.EncodeToString(sum[:])+"\n")
	text := pdftotext(t, file)
	golden(t, "typical.txt", text)
	for _, want := range []string{
		"INVOICE", "INV-2026-000042", "1 November 2026", "1–31 October 2026", "Zoë Dupont SARL", "VAT number FR40303265045",
		"M container (1 GB) (container:M)", "of which at 0,03 €/h", "Referral rewards (2 referred accounts)",
		"1 234,56 €", "VAT 20 %", "1 451,47 €", "Prepaid credit applied", "Amount due", "PAID",
		"Fixed recovery fee for late payment:", "40 € (art. D441-5", "1/1",
	} {
		require.Contains(t, text, want)
	}
}

func TestVATMentions(t *testing.T) {
	t.Parallel()
	d := typical()
	d.VATTreatment, d.TaxRate, d.Tax = billing.VATReverseCharge, dec("0"), money("0.00")
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
		d.Lines = append(d.Lines, pdf.DocumentLine{Type: billing.LineUsage, App: fmt.Sprintf("service-%03d", i), Resource: "container:S",
			Hours: hours("1.500000"), Amount: money("0.02"), Prices: []pdf.DocumentPrice{{PerHour: dec("0.0139"), Hours: dec("1.500000")}}})
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

	if pdf.DefaultFallbackPath() == "" {
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
	f, err := pdf.LoadFonts("", slog.New(slog.NewTextHandler(&logs, nil)))
	require.NoError(t, err)
	d := typical()
	d.BuyerName = "Acme 𓀀 株式会社"
	file, err := pdf.RenderPDFBytes(d, seller, f, paris)
	require.NoError(t, err)
	require.NotEmpty(t, file)
	require.Contains(t, logs.String(), "no font has this character")
	require.Contains(t, logs.String(), "U+13000")
	require.Contains(t, logs.String(), "set BILLING_PDF_FALLBACK_FONT to a .ttf that has it", "the warning says what to do")
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
	for _, tc := range []struct {
		in   billing.Money
		want string
	}{
		{billing.Money{}, "0,00"}, {money("0"), "0,00"}, {money("5"), "5,00"}, {money("1234.56"), "1 234,56"}, {money("-20"), "-20,00"},
		{money("1000000"), "1 000 000,00"}, {billing.MoneyOf(dec("999.999")), "1 000,00"}, {money("-1234567.89"), "-1 234 567,89"},
	} {
		require.Equal(t, strings.ReplaceAll(tc.want, " ", "\u00a0")+"\u00a0€", pdf.FormatEUR(tc.in), tc.in.String())
	}
}

// BenchmarkRenderPDF renders the typical 12-line invoice, as a
// consumer's plain PDF and as a business's PDF/A-3b with its Factur-X XML;
// run with -cpu 1,2 to see PDFs per second on one core and on both. Both
// embed the Go fonts, whose parse and subset every document shares
// (third_party/gofpdf/PATCHES.md).
func BenchmarkRenderPDF(b *testing.B) {
	f := testFonts(b)
	plain := typical()
	plain.BuyerVATNumber = ""
	facturX := typical()
	facturX.EInvoiceXML = bytes.Repeat([]byte("<ram:Line>placeholder</ram:Line>\n"), 400) // ~13 KB, a 12-line CII
	// Customers of many countries: the subsets their names need are cut
	// the first time, then shared.
	var varied []*pdf.Document
	for _, name := range []string{"Zoë Dupont SARL", "Łódź Software Sp. z o.o.", "Rīga Cloud SIA", "Müller & Söhne GmbH",
		"Škoda Digitál s.r.o.", "Peña Ibáñez SL", "Ærø Data ApS", "Ørsted Ålborg A/S", "Þór ehf.", "Çelik Yazılım A.Ş.",
		"Őrség Kft.", "Vilnius UAB „Žalgiris“", "Tallinn OÜ Õun", "Αθηνά ΑΕ", "ООО Ромашка", "Jean-Noël Bœuf EI",
		"Acme Inc", "Quixotic Jazz Ltd", "Kwik-Fix BV", "Yves Xavier Zwick SAS"} {
		d := typical()
		d.BuyerVATNumber, d.BuyerName = "", name
		varied = append(varied, d)
	}
	for name, docs := range map[string][]*pdf.Document{"plain": {plain}, "facturx": {facturX}, "varied": varied} {
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			var size int
			var n atomic.Int64
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					d := docs[int(n.Add(1))%len(docs)]
					file, err := pdf.RenderPDFBytes(d, seller, f, paris)
					if err != nil {
						b.Fatal(err)
					}
					size = len(file)
				}
			})
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "pdfs/s")
			b.ReportMetric(float64(size), "bytes/pdf")
		})
	}
}

// In sandbox mode every page of every document says TEST MODE; a real
// seller's documents never do.
func TestTestModeOnEveryPage(t *testing.T) {
	t.Parallel()
	d := typical()
	for i := range 70 {
		d.Lines = append(d.Lines, pdf.DocumentLine{Type: billing.LineUsage, App: fmt.Sprintf("service-%03d", i), Resource: "container:S",
			Hours: hours("1.500000"), Amount: money("0.02"), Prices: []pdf.DocumentPrice{{PerHour: dec("0.0139"), Hours: dec("1.500000")}}})
	}
	test := seller
	test.TestMode = true
	file, err := pdf.RenderPDFBytes(d, test, testFonts(t), paris)
	require.NoError(t, err)
	text := pdftotext(t, file)
	require.Equal(t, 3, strings.Count(text, "TEST MODE"), "one mention per page")
	require.NotContains(t, pdftotext(t, render(t, d)), "TEST MODE")
}

// The layout reads values, not the way they were written: amounts, hours,
// prices and rates written with more or fewer decimals ("1234.5600",
// "744", "0.030", "20.00") give the same bytes as the typical invoice. The
// layout over strings showed a rate as written ("VAT 20,00 %").
func TestLayoutTakesTypedValues(t *testing.T) {
	t.Parallel()
	want := render(t, typical())
	d := typical()
	d.Subtotal, d.Total, d.AmountDue = money("1234.5600"), billing.MoneyOf(dec("1451.4700")), billing.Money{}
	d.TaxRate = dec("20.00")
	for i := range d.Lines {
		l := &d.Lines[i]
		if l.Hours.Valid {
			l.Hours = decimal.NewNullDecimal(dec(l.Hours.Decimal.String())) // "744", not "744.000000"
		}
		for k := range l.Prices {
			l.Prices[k].PerHour = dec(l.Prices[k].PerHour.String() + "0") // "0.030", "0.02780"
		}
	}
	require.Equal(t, want, render(t, d), "same values, same bytes")
}

// Totals the layout derives are typed sums, shown by the one formatter:
// the total excluding VAT, what the processor collected, and a zero
// credit shown as 0,00 €, never -0,00 €.
func TestLayoutDerivedTotals(t *testing.T) {
	t.Parallel()
	d := typical()
	require.Equal(t, "1209.56", d.TotalExclVAT().String())
	require.Equal(t, "1400.00", d.PaidByProcessor().String())
	d.Discount, d.CreditApplied = billing.Money{}, billing.Money{}
	text := strings.ReplaceAll(pdftotext(t, render(t, d)), "\u00a0", " ")
	require.NotContains(t, text, "Referral discount", "no discount, no discount line")
	require.NotContains(t, text, "-0,00")
	require.Regexp(t, `Prepaid credit applied +0,00 €`, text)
	require.Regexp(t, `Paid by card or debit +-1 451,47 €`, text)
}

func TestFormatUnitPriceAndHours(t *testing.T) {
	t.Parallel()
	d := typical()
	d.Lines = []pdf.DocumentLine{
		{Type: billing.LineUsage, App: "a", Resource: "r1", Hours: hours("1.5"), Amount: money("1.50"), Prices: []pdf.DocumentPrice{{PerHour: dec("1"), Hours: dec("1.5")}}},
		{Type: billing.LineUsage, App: "a", Resource: "r2", Hours: hours("1234.250000"), Amount: money("123.43"), Prices: []pdf.DocumentPrice{{PerHour: dec("0.10"), Hours: dec("1234.25")}}},
		{Type: billing.LineUsage, App: "a", Resource: "r3", Hours: hours("2"), Amount: money("0.06"), Prices: []pdf.DocumentPrice{{PerHour: dec("0.0278"), Hours: dec("2")}}},
	}
	text := strings.ReplaceAll(pdftotext(t, render(t, d)), "\u00a0", " ")
	require.Regexp(t, `r1 +1,5 +1,00 €/h +1,50 €`, text, "a price to the cent at least")
	require.Regexp(t, `r2 +1 234,25 +0,10 €/h +123,43 €`, text, "hours grouped, trailing zeros trimmed; 0.10 as 0.1 (strings showed 0,1)")
	require.Regexp(t, `r3 +2 +0,0278 €/h +0,06 €`, text, "every decimal a price has")
}

// Render names the spans of its file that other files hold byte for byte
// (the font subsets' streams and glyph maps, a PDF/A's sRGB profile): in
// order, each what the file holds at its offset, most of a one-page file;
// two documents whose text uses the same characters share them. The file
// is RenderPDFBytes's.
func TestRenderNamesTheSharedSpans(t *testing.T) {
	t.Parallel()
	f := testFonts(t)
	plain := typical()
	plain.BuyerVATNumber = ""
	business := typical()
	business.EInvoiceXML = []byte("<rsm:CrossIndustryInvoice/>")
	for name, d := range map[string]*pdf.Document{"plain": plain, "PDF/A-3b": business} {
		file, err := pdf.Render(d, seller, f, paris)
		require.NoError(t, err, name)
		want, err := pdf.RenderPDFBytes(d, seller, f, paris)
		require.NoError(t, err, name)
		require.Equal(t, want, file.Bytes, name)
		shared, from := 0, 0
		for _, s := range file.Shared {
			require.GreaterOrEqual(t, s.At, from, "%s: in order, not overlapping", name)
			require.Equal(t, file.Bytes[s.At:s.At+len(s.Data)], s.Data, name)
			require.Equal(t, sha256.Sum256(s.Data), s.SHA256, "%s: the digest given is the span's", name)
			from = s.At + len(s.Data)
			shared += len(s.Data)
		}
		require.Greater(t, shared, len(file.Bytes)/2, "%s: %d of %d bytes shared", name, shared, len(file.Bytes))

		other := *d
		name := []rune(d.BuyerName) // the same characters, another text
		slices.Reverse(name)
		other.BuyerName = string(name)
		again, err := pdf.Render(&other, seller, f, paris)
		require.NoError(t, err, name)
		require.NotEqual(t, file.Bytes, again.Bytes, name)
		require.Len(t, again.Shared, len(file.Shared), name)
		for i := range again.Shared {
			require.Equal(t, file.Shared[i].Data, again.Shared[i].Data, name)
		}
	}
	file, err := pdf.Render(business, seller, f, paris)
	require.NoError(t, err)
	plainFile, err := pdf.Render(plain, seller, f, paris)
	require.NoError(t, err)
	require.Len(t, file.Shared, len(plainFile.Shared)+1, "the PDF/A-3b shares its sRGB profile too")
}

// Text is written as UTF-16 with the bytes PDF strings reserve escaped,
// in whichever half of a code unit they fall: "č" is 01 0D, "Ŝ" 01 5C,
// "ĩ" 01 29, "Ĩ" 01 28; parentheses and backslashes themselves too.
func TestTextBytesThatPDFReservesAreEscaped(t *testing.T) {
	t.Parallel()
	d := typical()
	d.BuyerName = `Ŝčĩ (Ĩ) \ Dvořák s.r.o.`
	text := pdftotext(t, render(t, d))
	require.Contains(t, text, `Ŝčĩ (Ĩ) \ Dvořák s.r.o.`)
}
