package invoices_test

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/billingengine/engine/invoices"
)

// fourInvoices bills four French accounts for October 2026, two of them
// businesses, and returns their numbers.
func fourInvoices(t *testing.T) (*billBundle, []string) {
	t.Helper()
	var accounts, usage strings.Builder
	for i := 1; i <= 4; i++ {
		vat := ""
		if i%2 == 0 { // a business: a PDF/A-3b with its Factur-X
			vat = `"vat_number":"FR40303265045","siren":"303265045",`
		}
		fmt.Fprintf(&accounts, `{"id":"acc_%d","name":"Dupont %d SARL","email":"d%d@example.test","country":"FR",%s"language":"fr",`+
			`"address":{"line1":"%d rue Neuve","line2":"","postal_code":"67000","city":"Strasbourg","country":"FR"},"created_at":"2025-01-01T00:00:00Z"}`+"\n", i, i, i, vat, i)
		fmt.Fprintf(&usage, `{"id":"s%d","account_id":"acc_%d","app":"a","resource":"c","quantity":1,"started_at":"2026-10-01T00:00:00Z","ended_at":"2026-10-01T1%d:00:00Z"}`+"\n", i, i, i)
	}
	b, numbers := billFrom(t, accounts.String(), usage.String())
	require.Len(t, numbers, 4)
	return b, numbers
}

// The streams every document shares (the font subsets, the sRGB profile)
// are stored once, in document_parts; each version's row keeps the rest.
// Every read gives back the very file rendered, and a version that names a
// part no one stored is never served.
func TestDocumentsKeepSharedPartsOnce(t *testing.T) {
	t.Parallel()
	b, numbers := fourInvoices(t)
	var err error
	r := &invoices.Renderer{Seller: seller, Fonts: testFonts(t), Location: paris}
	stored, err := r.RenderMany(b.ctx, b.db.Pool, numbers[:3])
	require.NoError(t, err)
	require.Equal(t, 3, stored)
	one, err := r.RenderInvoice(b.ctx, b.db.Pool, numbers[3]) // one at a time: the same storage
	require.NoError(t, err)
	require.Equal(t, 1, one.Version)

	var parts, partBytes int
	require.NoError(t, b.db.Pool.QueryRow(b.ctx, `SELECT count(*), sum(length(bytes)) FROM document_parts`).Scan(&parts, &partBytes))
	// Two font subsets (a third where a document's bold text uses other
	// characters) and the sRGB profile of the two PDF/A-3b.
	require.LessOrEqual(t, parts, 4)
	var icc int
	require.NoError(t, b.db.Pool.QueryRow(b.ctx, `
		SELECT count(*) FROM document_parts p
		WHERE (SELECT count(*) FROM documents d WHERE p.sha256 = ANY(d.parts) AND d.xml IS NOT NULL) = 2
		  AND NOT EXISTS (SELECT FROM documents d WHERE p.sha256 = ANY(d.parts) AND d.xml IS NULL)`).Scan(&icc))
	require.Equal(t, 1, icc, "the sRGB profile, once for the two PDF/A-3b")

	files, err := invoices.LatestPDFFiles(b.ctx, b.db.Pool, numbers)
	require.NoError(t, err)
	require.Len(t, files, 4)
	for _, n := range numbers {
		var sha string
		var row int
		require.NoError(t, b.db.Pool.QueryRow(b.ctx, `SELECT sha256, length(pdf) FROM documents WHERE number = $1`, n).Scan(&sha, &row))
		file := files[n].Bytes
		sum := sha256.Sum256(file)
		require.Equal(t, sha, hex.EncodeToString(sum[:]), n)
		require.Less(t, row, len(file)/2, "%s: the row holds less than half of its %d-byte file", n, len(file))

		latest, err := invoices.LatestPDF(b.ctx, b.db.Pool, n)
		require.NoError(t, err)
		require.Equal(t, file, latest.Bytes, n)

		doc, err := invoices.LoadDocument(b.ctx, b.db.Pool, n)
		require.NoError(t, err)
		doc.EInvoiceXML = latest.XML
		fresh, err := invoices.RenderPDFBytes(doc, seller, testFonts(t), paris)
		require.NoError(t, err)
		require.Equal(t, fresh, file, "%s: stored as rendered", n)
	}
	var cut int
	require.NoError(t, b.db.Pool.QueryRow(b.ctx, `SELECT sum(length(pdf)) FROM documents`).Scan(&cut))
	whole := 0
	for _, f := range files {
		whole += len(f.Bytes)
	}
	require.Less(t, cut+partBytes, whole*2/3, "stored once, the parts save more than a third of the bytes of four documents")

	// A row that names a part no one stored is never served.
	_, err = b.db.Pool.Exec(b.ctx, `INSERT INTO documents (number, version, sha256, pdf, parts, part_at, xml, stamp)
		SELECT number, version + 1, sha256, pdf, ARRAY[sha256(parts[1] || '\x00')] || parts[2:], part_at, NULL, stamp FROM documents WHERE number = $1`, numbers[1])
	require.NoError(t, err)
	_, err = invoices.LatestPDF(b.ctx, b.db.Pool, numbers[1])
	require.ErrorContains(t, err, "is not stored")
	_, err = invoices.LatestPDFFiles(b.ctx, b.db.Pool, numbers)
	require.ErrorContains(t, err, "is not stored")
	_, err = b.db.Pool.Exec(b.ctx, `UPDATE documents SET pdf = '' WHERE number = $1`, numbers[1])
	require.ErrorContains(t, err, "documents is append-only")
	_, err = b.db.Pool.Exec(b.ctx, `DELETE FROM document_parts`)
	require.ErrorContains(t, err, "document_parts is append-only")

	// Read back, the files are what they were (poppler reads them: last,
	// since the test stops here without it).
	require.Contains(t, pdfinfoMeta(t, files[numbers[1]].Bytes), "<pdfaid:part>3</pdfaid:part>")
	for _, n := range numbers {
		require.Contains(t, plainText(t, files[n].Bytes), n)
	}
}

// A render whose state is not the newest version's, yet whose PDF and
// e-invoice are the newest version's, stores nothing new; one whose
// e-invoice differs stores a version.
func TestRenderManyComparesTheFileAndItsEInvoice(t *testing.T) {
	t.Parallel()
	b, numbers := fourInvoices(t)
	r := &invoices.Renderer{Seller: seller, Fonts: testFonts(t), Location: paris}
	stored, err := r.RenderMany(b.ctx, b.db.Pool, numbers)
	require.NoError(t, err)
	require.Equal(t, 4, stored)
	business := numbers[1]
	again := func(xml []byte) { // nil: the same XML
		_, err := b.db.Pool.Exec(b.ctx, `INSERT INTO documents (number, version, sha256, pdf, parts, part_at, xml, stamp)
			SELECT number, version + 1, sha256, pdf, parts, part_at, coalesce($2::bytea, xml), 'stale' FROM documents
			WHERE number = $1 ORDER BY version DESC LIMIT 1`, business, xml)
		require.NoError(t, err)
	}
	again(nil)
	stored, err = r.RenderMany(b.ctx, b.db.Pool, []string{business})
	require.NoError(t, err)
	require.Zero(t, stored, "the same PDF and XML: nothing new")

	again([]byte("<other/>"))
	stored, err = r.RenderMany(b.ctx, b.db.Pool, []string{business})
	require.NoError(t, err)
	require.Equal(t, 1, stored, "the same PDF, another XML: a new version")
	latest, err := invoices.LatestPDF(b.ctx, b.db.Pool, business)
	require.NoError(t, err)
	require.Equal(t, 4, latest.Version)
	require.NotEqual(t, "<other/>", string(latest.XML))
}
