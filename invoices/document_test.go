package invoices_test

import (
	"bytes"
	"context"
	"log/slog"
	"os/exec"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/shopspring/decimal"
	"github.com/stretchr/testify/require"

	"github.com/billingengine/engine/billing"
	"github.com/billingengine/engine/internal/dbtest"
	"github.com/billingengine/engine/invoices"
)

// The seller, fonts and time zone the package's rendering tests draw
// with (the layout's own tests are in invoices/pdf).
var seller = invoices.Seller{
	Name: "Nuage Libre SAS", Legal: "SAS", Capital: decimal.RequireFromString("50000"), RCS: "Paris",
	Address: "12 rue de la Paix\n75002 Paris\nFrance", VATNumber: "FR40303265045", Email: "billing@nuage-libre.example",
	SIREN: "303265045", IBAN: "FR7630006000011234567890189", BIC: "AGRIFRPPXXX",
}

var paris = func() *time.Location { l, _ := time.LoadLocation("Europe/Paris"); return l }()

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

// plainText is pdftotext's output with no-break spaces as spaces and
// whitespace runs as one space; the test skips without poppler.
func plainText(t *testing.T, pdf []byte) string {
	t.Helper()
	if _, err := exec.LookPath("pdftotext"); err != nil {
		t.Skip("pdftotext (poppler-utils) is not installed")
	}
	cmd := exec.Command("pdftotext", "-layout", "-", "-")
	cmd.Stdin = bytes.NewReader(pdf)
	out, err := cmd.Output()
	require.NoError(t, err)
	s := strings.ReplaceAll(string(out), "\u00a0", " ")
	return regexp.MustCompile(`\s+`).ReplaceAllString(s, " ")
}

// pdfinfoMeta is a PDF's XMP metadata, as pdfinfo reads it.
func pdfinfoMeta(t *testing.T, pdf []byte) string {
	t.Helper()
	if _, err := exec.LookPath("pdfinfo"); err != nil {
		t.Skip("pdfinfo (poppler-utils) is not installed")
	}
	cmd := exec.Command("pdfinfo", "-meta", "-")
	cmd.Stdin = bytes.NewReader(pdf)
	out, err := cmd.Output()
	require.NoError(t, err)
	return string(out)
}

// The Document read from the database carries the amounts the invoice
// JSON shows, typed: each formats back to the JSON's string.
func TestLoadDocumentAgreesWithInvoiceJSON(t *testing.T) {
	t.Parallel()
	db := dbtest.New(t)
	ctx := context.Background()
	loadReferrals(t, db.Pool, 1, 1, "2026-10")
	runID := draftRun(t, db.Pool, "2026-10")
	_, err := finalizeRun(ctx, db.Pool, runID, 100)
	require.NoError(t, err)
	list, err := invoices.List(ctx, db.Pool, invoices.ListParams{Period: "2026-10"})
	require.NoError(t, err)
	require.Len(t, list, 2)
	for _, inv := range list {
		doc, err := invoices.LoadDocument(ctx, db.Pool, inv.Number)
		require.NoError(t, err)
		require.Equal(t,
			[]string{inv.Subtotal, inv.Discount, inv.TaxRate, inv.Tax, inv.Total, inv.CreditApplied, inv.AmountPaid, inv.AmountDue},
			[]string{doc.Subtotal.String(), doc.Discount.String(), doc.TaxRate.String(), doc.Tax.String(), doc.Total.String(),
				doc.CreditApplied.String(), doc.AmountPaid.String(), doc.AmountDue.String()}, inv.Number)
		require.Len(t, doc.Lines, len(inv.Lines))
		for i, l := range inv.Lines {
			d := doc.Lines[i]
			require.Equal(t, l.Amount, d.Amount.String())
			if l.Hours != "" {
				require.Equal(t, l.Hours, billing.FormatHours(d.Hours.Decimal))
			}
			require.Len(t, d.Prices, len(l.Prices))
		}
	}
}
