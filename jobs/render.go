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

// RenderDocumentsArgs renders the PDFs of many invoices (or credit notes)
// in one job, on every core, stored in one transaction. Internal.
type RenderDocumentsArgs struct {
	Numbers []string `json:"numbers"`
}

func (RenderDocumentsArgs) Kind() string { return "render_documents" }

func (RenderDocumentsArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{Queue: QueueDocuments, MaxAttempts: 10}
}

type renderManyWorker struct {
	river.WorkerDefaults[RenderDocumentsArgs]
	d *deps
}

func (w *renderManyWorker) Work(ctx context.Context, job *river.Job[RenderDocumentsArgs]) error {
	_, err := w.d.cfg.Renderer.RenderMany(ctx, w.d.pool, job.Args.Numbers)
	return err
}

// renderBatchSize is the number of documents one render job draws: enough
// to keep every core busy, little enough to commit often.
const renderBatchSize = 250

// enqueueRenders asks for the documents of invoices to be rendered, in tx.
func enqueueRenders(ctx context.Context, tx pgx.Tx, client *Client, numbers ...string) error {
	var params []river.InsertManyParams
	for len(numbers) > 0 {
		n := min(len(numbers), renderBatchSize)
		params = append(params, river.InsertManyParams{Args: RenderDocumentsArgs{Numbers: numbers[:n]}})
		numbers = numbers[n:]
	}
	if len(params) == 0 {
		return nil
	}
	_, err := client.InsertManyFastTx(ctx, tx, params)
	return err
}
