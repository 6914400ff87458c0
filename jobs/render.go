package jobs

import (
	"context"
	"errors"

	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river"

	"github.com/billingengine/engine/invoices"
)

// RenderInvoicePDFArgs renders an invoice's PDF as the invoice is now and
// stores it: {"invoice_number":"INV-2026-000001"}. Enqueued at
// finalization and whenever the payment status changes; rendering twice
// stores one version. A credit note's number renders the credit note.
type RenderInvoicePDFArgs struct {
	InvoiceNumber string `json:"invoice_number"`
}

func (RenderInvoicePDFArgs) Kind() string { return "render_invoice_pdf" }

func (RenderInvoicePDFArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{Queue: QueueDocuments, MaxAttempts: 10}
}

type renderWorker struct {
	river.WorkerDefaults[RenderInvoicePDFArgs]
	d *deps
}

func (w *renderWorker) Work(ctx context.Context, job *river.Job[RenderInvoicePDFArgs]) error {
	_, err := w.d.cfg.Renderer.RenderInvoice(ctx, w.d.pool, job.Args.InvoiceNumber)
	if errors.Is(err, invoices.ErrNotFound) || errors.Is(err, invoices.ErrCreditNoteNotFound) {
		return river.JobCancel(err)
	}
	return err
}

// enqueueRenders asks for the documents of invoices to be rendered, in tx.
func enqueueRenders(ctx context.Context, tx pgx.Tx, client *Client, numbers ...string) error {
	if len(numbers) == 0 {
		return nil
	}
	params := make([]river.InsertManyParams, len(numbers))
	for i, n := range numbers {
		params[i] = river.InsertManyParams{Args: RenderInvoicePDFArgs{InvoiceNumber: n}}
	}
	_, err := client.InsertManyFastTx(ctx, tx, params)
	return err
}
