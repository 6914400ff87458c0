package invoices

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/billingengine/engine/billing"
	"github.com/billingengine/engine/internal/platform/pgdb"
	"github.com/billingengine/engine/invoices/pdf"
)

// LoadDocument reads what an invoice's or a credit note's PDF shows.
func LoadDocument(ctx context.Context, q pgdb.Executor, number string) (*Document, error) {
	if IsCreditNoteNumber(number) {
		return creditNoteDocument(ctx, q, number)
	}
	docs, err := loadDocuments(ctx, q, []string{number})
	if err != nil {
		return nil, err
	}
	if len(docs) == 0 {
		return nil, fmt.Errorf("%w: %s", ErrNotFound, number)
	}
	return docs[0], nil
}

// invoiceDocument is what an invoice's PDF shows, from the invoice as
// stored (its typed amounts, not its JSON's strings).
func invoiceDocument(st *storedInvoice) *Document {
	inv := st.inv
	return &Document{
		Kind: KindInvoice, Number: inv.Number, Issued: inv.IssuedAt, Due: inv.IssuedAt,
		Period: inv.Period, Start: inv.PeriodStart, End: inv.PeriodEnd,
		BuyerAccount: inv.AccountID, BuyerName: inv.BuyerName, BuyerEmail: inv.BuyerEmail,
		BuyerCountry: inv.BuyerCountry, BuyerVATNumber: inv.BuyerVATNumber,
		Lines: st.lines, Subtotal: st.subtotal, Discount: st.discount, TaxRate: st.taxRate, Tax: st.tax,
		Total: st.total, CreditApplied: st.credit, AmountPaid: st.paid, AmountDue: st.due,
		VATTreatment: inv.VATTreatment, Status: inv.Status,
		BuyerAddress: inv.BuyerAddress, BuyerSIREN: inv.BuyerSIREN, Language: inv.BuyerLanguage,
	}
}

// creditNoteDocument is what a credit note's PDF shows: the invoice it
// cancels, negated, and the refund.
func creditNoteDocument(ctx context.Context, q pgdb.Executor, number string) (*Document, error) {
	cn, err := GetCreditNote(ctx, q, number)
	if err != nil {
		return nil, err
	}
	st := cn.invoice
	inv := st.inv
	lines := make([]DocumentLine, len(st.lines))
	for i, l := range st.lines {
		l.Amount = l.Amount.Neg()
		lines[i] = l
	}
	a := cn.amounts
	doc := &Document{
		Kind: KindCreditNote, Number: cn.Number, Reverses: cn.InvoiceNumber, ReversesIssued: inv.IssuedAt, Reason: cn.Reason, Issued: cn.IssuedAt, Due: cn.IssuedAt,
		Period: inv.Period, Start: inv.PeriodStart, End: inv.PeriodEnd,
		BuyerAccount: inv.AccountID, BuyerName: inv.BuyerName, BuyerEmail: inv.BuyerEmail,
		BuyerCountry: inv.BuyerCountry, BuyerVATNumber: inv.BuyerVATNumber,
		Lines: lines, Subtotal: a.subtotal, Discount: a.discount, TaxRate: st.taxRate, Tax: a.tax, Total: a.total,
		AmountPaid: a.refunded, VATTreatment: inv.VATTreatment,
		BuyerAddress: inv.BuyerAddress, BuyerSIREN: inv.BuyerSIREN, Language: inv.BuyerLanguage,
	}
	if doc.Descriptions, err = descriptions(ctx, q, inv); err != nil {
		return nil, err
	}
	pay, err := loadPayments(ctx, q, []string{inv.AccountID})
	doc.Payment = pay[inv.AccountID]
	return doc, err
}

// jsonLine is the invoice JSON's line (SPEC §7), formatted by billing.
func jsonLine(d DocumentLine) Line {
	l := Line{Type: d.Type, App: d.App, Resource: d.Resource, RefereeAccountID: d.RefereeAccountID, Amount: d.Amount.String()}
	if d.Hours.Valid {
		l.Hours = billing.FormatHours(d.Hours.Decimal)
	}
	if d.Prices != nil {
		// What drafting stored (LinePrice), written the way it wrote it.
		l.Prices = make([]LinePrice, len(d.Prices))
		for i, p := range d.Prices {
			l.Prices[i] = LinePrice{PerHour: p.PerHour.String(), Hours: billing.FormatHours(p.Hours)}
		}
	}
	return l
}

// descriptions are the catalog's words for the resources of an invoice,
// as in force at the end of its period.
func descriptions(ctx context.Context, q pgdb.Executor, inv *Invoice) (map[string]string, error) {
	var resources []string
	for _, l := range inv.Lines {
		if l.Resource != "" {
			resources = append(resources, l.Resource)
		}
	}
	out := map[string]string{}
	if len(resources) == 0 {
		return out, nil
	}
	rows, err := q.Query(ctx, `
		SELECT DISTINCT ON (resource) resource, description FROM prices
		WHERE resource = ANY($1) AND effective_from < $2 ORDER BY resource, effective_from DESC`, resources, inv.PeriodEnd)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	for rows.Next() {
		var r, d string
		if err := rows.Scan(&r, &d); err != nil {
			return nil, err
		}
		out[r] = d
	}
	return out, rows.Err()
}

// PDF is a stored document: the PDF and, for a business buyer, its
// e-invoice (SPEC §13), stored together in one version.
type PDF struct {
	Number     string    `json:"number"`
	Version    int       `json:"version"`
	SHA256     string    `json:"sha256"`
	Bytes      []byte    `json:"-"`
	XML        []byte    `json:"-"`
	RenderedAt time.Time `json:"rendered_at"`
	// shared are the spans of Bytes kept as document parts, for storing
	// the same file again.
	shared []pdf.Span
}

// XMLSHA256 is the hex SHA-256 of the e-invoice, "" without one.
func (p *PDF) XMLSHA256() string {
	if p.XML == nil {
		return ""
	}
	sum := sha256.Sum256(p.XML)
	return hex.EncodeToString(sum[:])
}

// ErrNoPDF is returned when a document has not been rendered yet.
var ErrNoPDF = errors.New("no PDF yet")

// LatestPDF returns the newest stored version of a document.
func LatestPDF(ctx context.Context, q pgdb.Executor, number string) (*PDF, error) {
	number = NormalizeNumber(number)
	p := &PDF{Number: number}
	var rest []byte
	var hashes [][]byte
	var at []int32
	err := q.QueryRow(ctx, `SELECT version, sha256, pdf, parts, part_at, xml, rendered_at FROM documents WHERE number = $1 ORDER BY version DESC LIMIT 1`, number).
		Scan(&p.Version, &p.SHA256, &rest, &hashes, &at, &p.XML, &p.RenderedAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, fmt.Errorf("%w: %s", ErrNoPDF, number)
	}
	if err != nil {
		return nil, err
	}
	parts, err := loadParts(ctx, q, hashes)
	if err != nil {
		return nil, err
	}
	if p.Bytes, p.shared, err = join(number, rest, at, hashes, parts, p.SHA256); err != nil {
		return nil, err
	}
	return p, nil
}

// LatestPDFFiles returns the newest stored PDF of each of numbers that has
// one, keyed by number, without the e-invoices: what the emails attach (a
// business buyer's PDF embeds its XML already). One statement for a batch
// of emails, not one per email; the XML, compressed in the table, is not
// even read.
func LatestPDFFiles(ctx context.Context, q pgdb.Executor, numbers []string) (map[string]*PDF, error) {
	norm := make([]string, len(numbers))
	for i, n := range numbers {
		norm[i] = NormalizeNumber(n)
	}
	rows, err := q.Query(ctx, `SELECT d.number, d.version, d.sha256, d.pdf, d.parts, d.part_at, d.rendered_at`+latestDocumentSQL, norm)
	if err != nil {
		return nil, err
	}
	type stored struct {
		p      *PDF
		at     []int32
		hashes [][]byte
	}
	var all []stored
	var hashes [][]byte
	for rows.Next() {
		st := stored{p: &PDF{}}
		if err := rows.Scan(&st.p.Number, &st.p.Version, &st.p.SHA256, &st.p.Bytes, &st.hashes, &st.at, &st.p.RenderedAt); err != nil {
			rows.Close()
			return nil, err
		}
		all, hashes = append(all, st), append(hashes, st.hashes...)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	parts, err := loadParts(ctx, q, hashes)
	if err != nil {
		return nil, err
	}
	out := make(map[string]*PDF, len(all))
	for _, st := range all {
		p := st.p
		if p.Bytes, p.shared, err = join(p.Number, p.Bytes, st.at, st.hashes, parts, p.SHA256); err != nil {
			return nil, err
		}
		out[p.Number] = p
	}
	return out, nil
}

// StorePDF keeps a rendered PDF, in tx, if it still shows the
// invoice's current state (a render of an older state is dropped: a newer
// render follows) and differs from the newest version. It returns the
// stored or current version.
func StorePDF(ctx context.Context, tx pgx.Tx, doc *Document, file pdf.File, xml []byte) (*PDF, error) {
	current, err := LoadDocument(ctx, tx, doc.Number)
	if err != nil {
		return nil, err
	}
	// The invoice's payment status can't move until this version is stored.
	if _, err := tx.Exec(ctx, `SELECT 1 FROM invoices WHERE number = $1 FOR NO KEY UPDATE`, doc.Number); err != nil {
		return nil, err
	}
	if current.Stamp() != doc.Stamp() {
		latest, err := LatestPDF(ctx, tx, doc.Number)
		if errors.Is(err, ErrNoPDF) {
			return nil, fmt.Errorf("invoice %s changed while rendering: render again", doc.Number)
		}
		return latest, err
	}
	return storeBytes(ctx, tx, doc.Number, doc.Stamp(), file, xml)
}

func storeBytes(ctx context.Context, tx pgx.Tx, number, stamp string, file pdf.File, xml []byte) (*PDF, error) {
	sum := sha256.Sum256(file.Bytes)
	hexSum := hex.EncodeToString(sum[:])
	latest, err := LatestPDF(ctx, tx, number)
	if err != nil && !errors.Is(err, ErrNoPDF) {
		return nil, err
	}
	if latest != nil && latest.SHA256 == hexSum && bytes.Equal(latest.XML, xml) {
		return latest, nil
	}
	p := &PDF{Number: number, Version: 1, SHA256: hexSum, Bytes: file.Bytes, XML: xml, shared: file.Shared}
	if latest != nil {
		p.Version = latest.Version + 1
	}
	parts := map[[32]byte][]byte{}
	s, err := split(file, parts)
	if err != nil {
		return nil, fmt.Errorf("storing %s: %w", number, err)
	}
	if err := storeParts(ctx, tx, parts); err != nil {
		return nil, err
	}
	partNames, partAt := s.columns()
	err = tx.QueryRow(ctx, `INSERT INTO documents (number, version, sha256, pdf, parts, part_at, xml, stamp) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING rendered_at`,
		number, p.Version, hexSum, s.rest, partNames, partAt, xml, stamp).Scan(&p.RenderedAt)
	return p, err
}

// Renderer renders and stores documents.
type Renderer struct {
	Seller   Seller
	Fonts    *Fonts
	Location *time.Location
	// PortalURL is the customer portal's address (BILLING_PORTAL_URL),
	// which unpaid invoices give as the way to pay online; empty while
	// there is no portal: they give the transfer instructions only.
	PortalURL string
}

// prepare completes a loaded document with what the renderer adds: the
// portal's link and, for a business, its e-invoice (SPEC §13), which the
// PDF/A-3b embeds as factur-x.xml and the version stores beside the PDF.
// It reads nothing: the workers of RenderMany run it in parallel.
func (r *Renderer) prepare(doc *Document) error {
	doc.PortalURL = r.PortalURL
	x, err := renderXML(doc, r.Seller, r.Location)
	if err != nil {
		return fmt.Errorf("e-invoice of %s: %w", doc.Number, err)
	}
	doc.EInvoiceXML = x
	return nil
}

// RenderInvoice renders an invoice (or a credit note) as it is now and
// stores it.
func (r *Renderer) RenderInvoice(ctx context.Context, db pgdb.DB, number string) (*PDF, error) {
	doc, err := LoadDocument(ctx, db, number)
	if err != nil {
		return nil, err
	}
	if doc.Kind == KindInvoice && doc.Status == StatusVoid {
		// A voided invoice keeps the PDF it was issued with: its credit
		// note tells the rest. One stored before e-invoices gets its
		// e-invoice beside the same PDF.
		p, err := LatestPDF(ctx, db, number)
		if err != nil && !errors.Is(err, ErrNoPDF) {
			return nil, err
		}
		if p != nil && (p.XML != nil || !doc.Business()) {
			return p, nil
		}
		if p != nil {
			x, err := renderXML(doc, r.Seller, r.Location)
			if err != nil {
				return nil, fmt.Errorf("e-invoice of %s: %w", number, err)
			}
			err = pgx.BeginFunc(ctx, db, func(tx pgx.Tx) error {
				p, err = storeBytes(ctx, tx, number, doc.Stamp(), pdf.File{Bytes: p.Bytes, Shared: p.shared}, x)
				return err
			})
			return p, err
		}
	}
	if err := r.prepare(doc); err != nil {
		return nil, err
	}
	b, err := pdf.Render(doc, r.Seller, r.Fonts, r.Location)
	if err != nil {
		return nil, fmt.Errorf("rendering %s: %w", number, err)
	}
	var p *PDF
	err = pgx.BeginFunc(ctx, db, func(tx pgx.Tx) error {
		p, err = StorePDF(ctx, tx, doc, b, doc.EInvoiceXML)
		return err
	})
	return p, err
}

// EnsurePDF returns the newest stored PDF, rendering it first if there is
// none yet: what the CLI and the API serve.
func (r *Renderer) EnsurePDF(ctx context.Context, db pgdb.DB, number string) (*PDF, error) {
	number = NormalizeNumber(number)
	p, err := LatestPDF(ctx, db, number)
	if errors.Is(err, ErrNoPDF) {
		if _, err := LoadDocument(ctx, db, number); err != nil {
			return nil, err
		}
		return r.RenderInvoice(ctx, db, number)
	}
	return p, err
}
