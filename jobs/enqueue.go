package jobs

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/shopspring/decimal"

	"github.com/billingengine/engine/billing"
	"github.com/billingengine/engine/internal/accounts"
	"github.com/billingengine/engine/internal/events"
	"github.com/billingengine/engine/invoices"
	"github.com/billingengine/engine/payments"
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
//   - events (SPEC §11) are written next, in one statement, their data read
//     as it stands in tx, with a delivery for each subscribed webhook
//     endpoint and one wake-up job per endpoint that got some;
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
	evs, emails, err := eventRows(ctx, tx, e.Events)
	if err != nil {
		return out, err
	}
	if err := recordEvents(ctx, tx, client, evs, emails); err != nil {
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

// eventRows builds the rows of the effects' events, reading in tx what
// their data shows: an invoice.* event's invoice as it stands now (all of
// them in four queries), a credit note's JSON.
//
// It also returns the emails each event gives (billing.EmailsFor).
func eventRows(ctx context.Context, tx pgx.Tx, evs []billing.Event) ([]events.New, [][]billing.EmailTemplate, error) {
	if len(evs) == 0 {
		return nil, nil, nil
	}
	var ids []int64
	for _, ev := range evs {
		if ev.InvoiceID != nil {
			ids = append(ids, *ev.InvoiceID)
		}
	}
	var invs map[int64]*invoices.Invoice
	if len(ids) > 0 {
		var err error
		if invs, err = payments.InvoicesByID(ctx, tx, ids); err != nil {
			return nil, nil, err
		}
	}
	rows := make([]events.New, len(evs))
	emails := make([][]billing.EmailTemplate, len(evs))
	for i, ev := range evs {
		var base any
		var facts billing.EmailFacts
		extra := ev.Data
		switch {
		case ev.InvoiceID != nil:
			inv, ok := invs[*ev.InvoiceID]
			if !ok {
				return nil, nil, fmt.Errorf("%s event: invoice %d not found", ev.Type, *ev.InvoiceID)
			}
			base = inv
			facts.ZeroTotal = inv.Total == billing.FormatMoney(decimal.Zero)
			for _, l := range inv.Lines {
				facts.Carryover = facts.Carryover || l.Type == billing.LineReferralCarryover
			}
			if ev.Type == billing.EventInvoicePaymentFailed {
				// t0 is the first collection, as dunning counts it (SPEC §5):
				// the issue, or a delayed SEPA debit.
				next, susp := billing.PaymentFailureDates(inv.CollectAt, ev.At)
				extra = maps.Clone(extra)
				if extra == nil {
					extra = map[string]any{}
				}
				extra["next_retry_at"], extra["suspension_at"] = next, susp
				facts.NextRetry, facts.Suspension = next, susp
			}
		case ev.CreditNote != "":
			cn, err := invoices.GetCreditNote(ctx, tx, ev.CreditNote)
			if err != nil {
				return nil, nil, err
			}
			base = cn
		}
		if k, ok := ev.Data["kind"].(string); ok {
			facts.CreditKind = k
		}
		data, err := eventData(base, extra)
		if err != nil {
			return nil, nil, err
		}
		rows[i] = events.New{Type: ev.Type, AccountID: ev.AccountID, At: ev.At, Data: data}
		if ev.AccountID != "" {
			emails[i] = billing.EmailsFor(ev.Type, facts)
		}
	}
	return rows, emails, nil
}

// eventData is base's JSON object with extra's fields added after its own
// (extra alone when there is no base).
func eventData(base any, extra map[string]any) ([]byte, error) {
	if extra == nil {
		extra = map[string]any{}
	}
	e, err := json.Marshal(extra)
	if err != nil || base == nil {
		return e, err
	}
	b, err := json.Marshal(base)
	if err != nil {
		return nil, err
	}
	if len(extra) == 0 {
		return b, nil
	}
	if len(b) < 2 || b[0] != '{' || b[len(b)-1] != '}' {
		return nil, fmt.Errorf("event data: %T is not a JSON object", base)
	}
	out := append(b[:len(b)-1:len(b)-1], ',')
	return append(out, e[1:]...), nil
}
