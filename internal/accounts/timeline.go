package accounts

// The timeline records what happens to an account (invoice issued, payment
// outcomes, credit added, suspended, reactivated, invoice voided) in
// account_events, in the transaction that makes it happen (the domain
// packages return their events as effects, which jobs.Enqueue records), and
// reads it back in order for `billing accounts timeline`.

import (
	"context"
	"encoding/json"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/billingengine/engine/billing"
	"github.com/billingengine/engine/internal/platform/pgdb"
)

// Event is one entry of an account's timeline.
type Event struct {
	ID        int64                `json:"id"`
	AccountID string               `json:"account_id"`
	At        time.Time            `json:"at"`
	Kind      billing.TimelineKind `json:"kind"`
	InvoiceID *int64               `json:"-"`
	Data      map[string]any       `json:"data"`
}

// RecordEvents appends events in one round trip.
func RecordEvents(ctx context.Context, tx pgx.Tx, events []Event) error {
	if len(events) == 0 {
		return nil
	}
	accounts := make([]string, len(events))
	ats := make([]time.Time, len(events))
	kinds := make([]string, len(events))
	invoices := make([]*int64, len(events))
	data := make([]string, len(events))
	for i, e := range events {
		accounts[i], ats[i], kinds[i], invoices[i] = e.AccountID, e.At, string(e.Kind), e.InvoiceID
		b, err := json.Marshal(e.Data)
		if err != nil {
			return err
		}
		if e.Data == nil {
			b = []byte("{}")
		}
		data[i] = string(b)
	}
	_, err := tx.Exec(ctx, `
		INSERT INTO account_events (account_id, at, kind, invoice_id, data)
		SELECT * FROM unnest($1::text[], $2::timestamptz[], $3::text[], $4::bigint[], $5::jsonb[])`,
		accounts, ats, kinds, invoices, data)
	return err
}

// Timeline returns an account's events in the order they were recorded, which
// is the order they happened in (simulated dunning days may carry later
// timestamps than what followed them).
func Timeline(ctx context.Context, q pgdb.Executor, accountID string) ([]Event, error) {
	rows, err := q.Query(ctx, `
		SELECT id, account_id, at, kind, invoice_id, data FROM account_events
		WHERE account_id = $1 ORDER BY id`, accountID)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (Event, error) {
		var e Event
		err := r.Scan(&e.ID, &e.AccountID, &e.At, &e.Kind, &e.InvoiceID, &e.Data)
		e.At = e.At.UTC()
		return e, err
	})
}
