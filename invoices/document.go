package invoices

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/billingengine/engine/billing"
	"github.com/billingengine/engine/internal/platform/pgdb"
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
		Kind: KindCreditNote, Number: cn.Number, Reverses: cn.InvoiceNumber, Reason: cn.Reason, Issued: cn.IssuedAt, Due: cn.IssuedAt,
		Period: inv.Period, Start: inv.PeriodStart, End: inv.PeriodEnd,
		BuyerAccount: inv.AccountID, BuyerName: inv.BuyerName, BuyerEmail: inv.BuyerEmail,
		BuyerCountry: inv.BuyerCountry, BuyerVATNumber: inv.BuyerVATNumber,
		Lines: lines, Subtotal: a.subtotal, Discount: a.discount, TaxRate: st.taxRate, Tax: a.tax, Total: a.total,
		AmountPaid: a.refunded, VATTreatment: inv.VATTreatment,
		BuyerAddress: inv.BuyerAddress, BuyerSIREN: inv.BuyerSIREN, Language: inv.BuyerLanguage,
		ReversesIssued: inv.IssuedAt,
	}
	doc.Descriptions, err = descriptions(ctx, q, inv)
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

// PDF is a stored document.
type PDF struct {
	Number     string    `json:"number"`
	Version    int       `json:"version"`
	SHA256     string    `json:"sha256"`
	Bytes      []byte    `json:"-"`
	RenderedAt time.Time `json:"rendered_at"`
}

// ErrNoPDF is returned when a document has not been rendered yet.
var ErrNoPDF = errors.New("no PDF yet")

// LatestPDF returns the newest stored version of a document.
func LatestPDF(ctx context.Context, q pgdb.Executor, number string) (*PDF, error) {
	p := &PDF{Number: number}
	err := q.QueryRow(ctx, `SELECT version, sha256, pdf, rendered_at FROM documents WHERE number = $1 ORDER BY version DESC LIMIT 1`, number).
		Scan(&p.Version, &p.SHA256, &p.Bytes, &p.RenderedAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, fmt.Errorf("%w: %s", ErrNoPDF, number)
	}
	return p, err
}

// StorePDF keeps a rendered PDF, in tx, if it still shows the
// invoice's current state (a render of an older state is dropped: a newer
// render follows) and differs from the newest version. It returns the
// stored or current version.
func StorePDF(ctx context.Context, tx pgx.Tx, doc *Document, pdf []byte) (*PDF, error) {
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
	return storeBytes(ctx, tx, doc.Number, doc.Stamp(), pdf)
}

func storeBytes(ctx context.Context, tx pgx.Tx, number, stamp string, pdf []byte) (*PDF, error) {
	sum := sha256.Sum256(pdf)
	hexSum := hex.EncodeToString(sum[:])
	latest, err := LatestPDF(ctx, tx, number)
	if err != nil && !errors.Is(err, ErrNoPDF) {
		return nil, err
	}
	if latest != nil && latest.SHA256 == hexSum {
		return latest, nil
	}
	p := &PDF{Number: number, Version: 1, SHA256: hexSum, Bytes: pdf}
	if latest != nil {
		p.Version = latest.Version + 1
	}
	err = tx.QueryRow(ctx, `INSERT INTO documents (number, version, sha256, pdf, stamp) VALUES ($1, $2, $3, $4, $5) RETURNING rendered_at`,
		number, p.Version, hexSum, pdf, stamp).Scan(&p.RenderedAt)
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
	// EInvoiceXML returns the CII XML of a business account's document,
	// embedded in its PDF/A-3b as factur-x.xml (SPEC §13); nil, or a nil
	// result, embeds none (the PDF is a PDF/A-3b all the same). This is
	// where the Factur-X generator plugs in.
	EInvoiceXML func(ctx context.Context, q pgdb.Executor, doc *Document) ([]byte, error)
}

// prepare completes a loaded document with what the renderer adds: the
// portal's link and, for a business, the e-invoice.
func (r *Renderer) prepare(ctx context.Context, q pgdb.Executor, doc *Document) error {
	doc.PortalURL = r.PortalURL
	if r.EInvoiceXML == nil || !doc.Business() {
		return nil
	}
	xml, err := r.EInvoiceXML(ctx, q, doc)
	if err != nil {
		return fmt.Errorf("e-invoice of %s: %w", doc.Number, err)
	}
	doc.EInvoiceXML = xml
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
		// note tells the rest.
		if p, err := LatestPDF(ctx, db, number); err == nil || !errors.Is(err, ErrNoPDF) {
			return p, err
		}
	}
	if err := r.prepare(ctx, db, doc); err != nil {
		return nil, err
	}
	b, err := RenderPDFBytes(doc, r.Seller, r.Fonts, r.Location)
	if err != nil {
		return nil, fmt.Errorf("rendering %s: %w", number, err)
	}
	var p *PDF
	err = pgx.BeginFunc(ctx, db, func(tx pgx.Tx) error {
		p, err = StorePDF(ctx, tx, doc, b)
		return err
	})
	return p, err
}

// EnsurePDF returns the newest stored PDF, rendering it first if there is
// none yet: what the CLI and the API serve.
func (r *Renderer) EnsurePDF(ctx context.Context, db pgdb.DB, number string) (*PDF, error) {
	p, err := LatestPDF(ctx, db, number)
	if errors.Is(err, ErrNoPDF) {
		if _, err := LoadDocument(ctx, db, number); err != nil {
			return nil, err
		}
		return r.RenderInvoice(ctx, db, number)
	}
	return p, err
}
