package jobs

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/billingengine/engine/billing"
	"github.com/billingengine/engine/internal/accounts"
)

// Enqueued is what Enqueue did that an entry point reports.
type Enqueued struct {
	// Collections is the number of open invoices whose collection was
	// enqueued (`collections_enqueued` in the CLI's JSON).
	Collections int
}

// Enqueue applies what a domain operation implies (billing.Effects), in
// tx, the caller's transaction: so the consequences commit if and only if
// the change does, and a killed process leaves neither without the other.
// It is the one place that turns effects into rows and jobs, whichever
// entry point made the change (CLI, HTTP API, webhooks, workers):
//
//   - timeline events are recorded first, in order, so that they follow
//     what the operation wrote and precede what the jobs will;
//   - standing is decided again (a suspended account with nothing overdue
//     left is reactivated, with its webhook), at e.At;
//   - the open invoices of the accounts to collect get collection jobs;
//   - the documents to render get render jobs.
func Enqueue(ctx context.Context, tx pgx.Tx, client *Client, e billing.Effects) (Enqueued, error) {
	var out Enqueued
	if e.Empty() {
		return out, nil
	}
	if err := recordTimeline(ctx, tx, e.Timeline); err != nil {
		return out, err
	}
	at := e.At
	if at.IsZero() {
		at = time.Now()
	}
	if err := afterPayments(ctx, tx, client, e.CheckStanding, at); err != nil {
		return out, err
	}
	n, err := CollectOpenInvoices(ctx, tx, client, e.CollectOpenInvoices)
	if err != nil {
		return out, err
	}
	out.Collections = n
	return out, enqueueRenders(ctx, tx, client, e.Render...)
}

// recordTimeline writes the effects' timeline events: internal/accounts
// owns the table, billing says what to write.
func recordTimeline(ctx context.Context, tx pgx.Tx, events []billing.TimelineEvent) error {
	if len(events) == 0 {
		return nil
	}
	rows := make([]accounts.Event, len(events))
	for i, ev := range events {
		rows[i] = accounts.Event{AccountID: ev.AccountID, At: ev.At, Kind: ev.Kind, InvoiceID: ev.InvoiceID, Data: ev.Data}
	}
	return accounts.RecordEvents(ctx, tx, rows)
}
