package invoices

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"sync"

	"github.com/jackc/pgx/v5"

	"github.com/billingengine/engine/billing"
	"github.com/billingengine/engine/internal/platform/pgdb"
	"github.com/billingengine/engine/invoices/pdf"
)

// Rerendered is what `billing invoices render` did to one document.
type Rerendered struct {
	Number string `json:"number"`
	// Version is the document's newest version: a new one when New.
	Version int    `json:"version"`
	New     bool   `json:"new"`
	SHA256  string `json:"sha256"`
	// Kept says why no new version was drawn ("void": a voided invoice
	// keeps the PDF it was issued with; its credit note tells the rest).
	Kept string `json:"kept,omitempty"`
}

// DocumentNumbers are the numbers of a period's invoices and of the
// credit notes that cancel them, by number.
func DocumentNumbers(ctx context.Context, q pgdb.Executor, period billing.Period) ([]string, error) {
	rows, err := q.Query(ctx, `
		SELECT number FROM invoices WHERE period = $1 AND status <> 'draft'
		UNION ALL
		SELECT c.number FROM credit_notes c JOIN invoices i ON i.id = c.invoice_id WHERE i.period = $1
		ORDER BY 1`, period.String())
	if err != nil {
		return nil, fmt.Errorf("listing the documents of %s: %w", period, err)
	}
	return pgx.CollectRows(rows, pgx.RowTo[string])
}

// Rerender draws documents again from what they show now (after a font
// or template fix) and stores each as a new version when its bytes
// differ from its newest one. What a document says never changes: its
// content is the issued invoice's, snapshot at finalization; only its
// rendering does, and every earlier version stays. Documents are drawn on
// every core, each stored in its own transaction.
func (r *Renderer) Rerender(ctx context.Context, db pgdb.DB, numbers []string) ([]Rerendered, error) {
	out := make([]Rerendered, len(numbers))
	errs := make([]error, len(numbers))
	var wg sync.WaitGroup
	next := make(chan int)
	for range runtime.GOMAXPROCS(0) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				out[i], errs[i] = r.rerender(ctx, db, numbers[i])
			}
		}()
	}
	for i := range numbers {
		next <- i
	}
	close(next)
	wg.Wait()
	return out, errors.Join(errs...)
}

func (r *Renderer) rerender(ctx context.Context, db pgdb.DB, number string) (Rerendered, error) {
	res := Rerendered{Number: number}
	doc, err := LoadDocument(ctx, db, number)
	if err != nil {
		return res, err
	}
	before, err := LatestPDF(ctx, db, number)
	if err != nil && !errors.Is(err, ErrNoPDF) {
		return res, err
	}
	if doc.Kind == KindInvoice && doc.Status == StatusVoid && before != nil {
		res.Version, res.SHA256, res.Kept = before.Version, before.SHA256, "void"
		return res, nil
	}
	if err := r.prepare(doc); err != nil {
		return res, err
	}
	b, err := pdf.Render(doc, r.Seller, r.Fonts, r.Location)
	if err != nil {
		return res, fmt.Errorf("rendering %s: %w", number, err)
	}
	var p *PDF
	err = pgx.BeginFunc(ctx, db, func(tx pgx.Tx) error {
		p, err = StorePDF(ctx, tx, doc, b, doc.EInvoiceXML)
		return err
	})
	if err != nil {
		return res, fmt.Errorf("storing %s: %w", number, err)
	}
	res.Version, res.SHA256 = p.Version, p.SHA256
	res.New = before == nil || p.Version > before.Version
	return res, nil
}
