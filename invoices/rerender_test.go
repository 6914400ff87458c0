package invoices_test

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/billingengine/engine/billing"
	"github.com/billingengine/engine/internal/ingest"
	"github.com/billingengine/engine/invoices"
)

// billFrom imports a catalog of one resource, c at 1.00 €/h, then the
// accounts and the usage given (NDJSON), bills October 2026 and returns
// the numbers it issued.
func billFrom(t *testing.T, accounts, usage string) (*billBundle, []string) {
	t.Helper()
	b := billSetup(t)
	report := func(p ingest.Problem) { t.Errorf("line %d: %s", p.Line, p.Message) }
	_, err := ingest.ImportCatalog(b.ctx, b.db.Pool, strings.NewReader(
		`{"resource":"c","description":"C","price_per_hour":"1.00","effective_from":"2025-01-01T00:00:00Z"}`), ingest.Options{Name: "catalog", Report: report})
	require.NoError(t, err)
	_, err = ingest.ImportAccounts(b.ctx, b.db.Pool, strings.NewReader(accounts), ingest.AccountsOptions{Options: ingest.Options{Name: "accounts", Report: report}})
	require.NoError(t, err)
	_, err = ingest.ImportUsage(b.ctx, b.db.Pool, strings.NewReader(usage), ingest.Options{Name: "usage", Report: report})
	require.NoError(t, err)
	return b, b.bill(t, "2026-10")
}

// legalBundle bills one French business with a billing address, SIREN and
// language for October 2026, and returns its invoice's number.
func legalBundle(t *testing.T) (*billBundle, string) {
	t.Helper()
	b, numbers := billFrom(t,
		`{"id":"acc_1","name":"Kléber SAS","email":"k@example.test","country":"FR","vat_number":"FR40303265045","siren":"303265045","language":"fr",`+
			`"address":{"line1":"5 place Kléber","line2":"","postal_code":"67000","city":"Strasbourg","country":"FR"},"created_at":"2025-01-01T00:00:00Z"}`+"\n",
		`{"id":"s1","account_id":"acc_1","app":"a","resource":"c","quantity":1,"started_at":"2026-10-01T00:00:00Z","ended_at":"2026-10-01T10:00:00Z"}`+"\n")
	require.Len(t, numbers, 1)
	return b, numbers[0]
}

// Finalization snapshots the buyer's billing address, SIREN and language
// on the invoice: the issued document does not change when the account
// does, and the snapshot can't be rewritten.
func TestInvoiceSnapshotsBuyerLegalData(t *testing.T) {
	t.Parallel()
	b, number := legalBundle(t)
	want := invoices.Address{Line1: "5 place Kléber", PostalCode: "67000", City: "Strasbourg", Country: "FR"}
	doc, err := invoices.LoadDocument(b.ctx, b.db.Pool, number)
	require.NoError(t, err)
	require.Equal(t, want, doc.BuyerAddress)
	require.Equal(t, "303265045", doc.BuyerSIREN)
	require.Equal(t, billing.LanguageFrench, doc.Language)
	require.True(t, doc.Business())

	_, err = b.db.Pool.Exec(b.ctx, `UPDATE accounts SET address_line1 = '1 rue Neuve', address_city = 'Lyon', address_postal_code = '69001', language = 'en' WHERE id = 'acc_1'`)
	require.NoError(t, err)
	doc, err = invoices.LoadDocument(b.ctx, b.db.Pool, number)
	require.NoError(t, err)
	require.Equal(t, want, doc.BuyerAddress, "the invoice keeps the address it was issued to")
	require.Equal(t, billing.LanguageFrench, doc.Language)

	_, err = b.db.Pool.Exec(b.ctx, `UPDATE invoices SET buyer_address_city = 'Lyon' WHERE number = $1`, number)
	require.ErrorContains(t, err, "never rewritten")
}

// `billing invoices render` draws a new version only when the rendering
// changed, and every earlier version stays as it was.
func TestRerenderMakesNewVersionsAndKeepsOldOnes(t *testing.T) {
	t.Parallel()
	b, number := legalBundle(t)
	r := &invoices.Renderer{Seller: seller, Fonts: testFonts(t), Location: paris}
	first, err := r.RenderInvoice(b.ctx, b.db.Pool, number)
	require.NoError(t, err)
	require.Equal(t, 1, first.Version)

	got, err := r.Rerender(b.ctx, b.db.Pool, []string{number})
	require.NoError(t, err)
	require.Equal(t, []invoices.Rerendered{{Number: number, Version: 1, SHA256: first.SHA256}}, got, "same rendering, no new version")

	// A template change: the portal now exists, so the unpaid invoice
	// gives its link.
	r.PortalURL = "https://billing.example/portal/"
	got, err = r.Rerender(b.ctx, b.db.Pool, []string{number})
	require.NoError(t, err)
	require.Len(t, got, 1)
	require.True(t, got[0].New)
	require.Equal(t, 2, got[0].Version)

	latest, err := invoices.LatestPDF(b.ctx, b.db.Pool, number)
	require.NoError(t, err)
	require.Equal(t, 2, latest.Version)
	require.Contains(t, plainText(t, latest.Bytes), "https://billing.example/portal/")
	old, err := invoices.StoredPDF(b.ctx, b.db.Pool, number, 1)
	require.NoError(t, err)
	require.Equal(t, first.Bytes, old, "version 1 is untouched")
	require.NotContains(t, plainText(t, old), "portal")

	// The period's documents are its invoices (and credit notes).
	numbers, err := invoices.DocumentNumbers(b.ctx, b.db.Pool, billing.MustPeriod("2026-10"))
	require.NoError(t, err)
	require.Equal(t, []string{number}, numbers)

	// A business's stored document is a PDF/A-3b.
	require.Contains(t, pdfinfoMeta(t, latest.Bytes), "<pdfaid:part>3</pdfaid:part>")
}
