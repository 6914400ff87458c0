package jobs_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"

	"github.com/billingengine/engine/internal/dbtest"
	"github.com/billingengine/engine/jobs"
	"github.com/billingengine/engine/payments/sandbox"
)

// Another service collects an invoice by inserting a collect_invoice job
// in its own transaction, next to its own writes: if the transaction rolls
// back, no collection happens; if it commits, the engine's workers collect.
// An insert-only River client needs no workers of its own.
func Example_insertCollectInvoice() {
	ctx := context.Background()
	db, err := dbtest.Open()
	if err != nil {
		panic(err)
	}
	defer db.Close()
	seedOpenInvoice(ctx, db)

	// The other service's side.
	client, err := river.NewClient(riverpgxv5.New(db.Pool), &river.Config{})
	if err != nil {
		panic(err)
	}
	tx, err := db.Pool.Begin(ctx)
	if err != nil {
		panic(err)
	}
	// … the service's own writes in tx …
	res, err := client.InsertTx(ctx, tx, jobs.CollectInvoiceArgs{InvoiceNumber: "INV-2026-000001"}, nil)
	if err != nil {
		panic(err)
	}
	if err := tx.Commit(ctx); err != nil {
		panic(err)
	}
	fmt.Printf("inserted %s %s into queue %s\n", res.Job.Kind, res.Job.EncodedArgs, res.Job.Queue)

	// The engine's side: a worker collects it.
	fmt.Println("INV-2026-000001 is", workUntilIdle(ctx, db))
	// Output:
	// inserted collect_invoice {"invoice_number": "INV-2026-000001"} into queue payments
	// INV-2026-000001 is paid
}

// seedOpenInvoice stores an open invoice of 12.00 for an account paying by
// card, as a finalization would have left it.
func seedOpenInvoice(ctx context.Context, db *dbtest.DB) {
	_, err := db.Pool.Exec(ctx, `
		INSERT INTO accounts (id, name, email, country, created_at) VALUES ('acc_1', 'Acme', 'billing@acme.test', 'FR', '2026-01-01Z');
		INSERT INTO payment_methods (account_id, type, external_id) VALUES ('acc_1', 'card', 'pm_card_visa');
		INSERT INTO billing_runs (period, requested_by) VALUES ('2026-10', 'example');
		INSERT INTO invoices (number, account_id, period, period_start, period_end, run_id, status, subtotal, discount, tax_rate,
		                      vat_treatment, tax, total, issued_at, buyer_name, buyer_email, buyer_country)
		VALUES ('INV-2026-000001', 'acc_1', '2026-10', '2026-10-01Z', '2026-11-01Z', 1, 'open', 10.00, 0, 20, 'domestic', 2.00, 12.00,
		        now(), 'Acme', 'billing@acme.test', 'FR')`)
	if err != nil {
		panic(err)
	}
}

// workUntilIdle runs the engine's workers until no job is due and returns
// the invoice's status.
func workUntilIdle(ctx context.Context, db *dbtest.DB) string {
	worker, err := jobs.NewClient(db.Pool, jobs.Config{TestOnly: true, Processor: &sandbox.Processor{Pool: db.Pool}, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		panic(err)
	}
	if err := worker.Start(ctx); err != nil {
		panic(err)
	}
	if err := jobs.WaitIdle(ctx, db.Pool, time.Minute, 50*time.Millisecond); err != nil {
		panic(err)
	}
	stopCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	_ = worker.Stop(stopCtx)
	var status string
	if err := db.Pool.QueryRow(ctx, `SELECT status FROM invoices WHERE number = 'INV-2026-000001'`).Scan(&status); err != nil {
		panic(err)
	}
	return status
}
