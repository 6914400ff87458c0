package paypal_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/billingengine/engine/internal/dbtest"
	"github.com/billingengine/engine/payments/paypal"
)

// FuzzHandleWebhook feeds the webhook handler arbitrary bodies (as if
// PayPal had verified them), each in a transaction rolled back afterwards,
// against one known order of 25.00. Whatever the body: no panic; an error
// is one the HTTP layer answers 400 for, never a database error; credit
// moves only for a COMPLETED capture of the known order, in cents; and a
// replayed event id moves nothing.
func FuzzHandleWebhook(f *testing.F) {
	db := dbtest.New(f)
	ctx := context.Background()
	if _, err := db.Pool.Exec(ctx, `INSERT INTO accounts (id, name, email, country, created_at)
		VALUES ('acc_p', 'P', 'p@example.test', 'FR', '2026-01-01Z')`); err != nil {
		f.Fatal(err)
	}
	if _, err := db.Pool.Exec(ctx, `INSERT INTO paypal_orders (order_id, account_id, amount, status, approve_url)
		VALUES ('ORDER-1', 'acc_p', 25.00, 'APPROVED', 'https://paypal.example/approve')`); err != nil {
		f.Fatal(err)
	}
	for _, s := range []string{
		`{"id":"WH-1","event_type":"PAYMENT.CAPTURE.COMPLETED","resource":{"id":"CAP-1","status":"COMPLETED","amount":{"currency_code":"EUR","value":"25.00"},"supplementary_data":{"related_ids":{"order_id":"ORDER-1"}}}}`,
		`{"id":"WH-2","event_type":"PAYMENT.CAPTURE.COMPLETED","resource":{"id":"CAP-2","status":"COMPLETED","amount":{"currency_code":"EUR","value":"0.001"},"supplementary_data":{"related_ids":{"order_id":"ORDER-1"}}}}`,
		`{"id":"WH-3","event_type":"PAYMENT.CAPTURE.COMPLETED","resource":{"id":"CAP-3","status":"COMPLETED","amount":{"currency_code":"EUR","value":"1e30"},"supplementary_data":{"related_ids":{"order_id":"ORDER-1"}}}}`,
		`{"id":"WH-4","event_type":"PAYMENT.CAPTURE.COMPLETED","resource":{"id":"CAP-4","status":"PENDING","amount":{"currency_code":"USD","value":"-5"},"supplementary_data":{"related_ids":{"order_id":"ORDER-\u0000'; DROP TABLE accounts; --"}}}}`,
		`{"id":"WH-5","event_type":"CHECKOUT.ORDER.APPROVED","resource":{}}`,
		`{"id":"","event_type":""}`,
		`[]`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		tx, err := db.Pool.Begin(ctx)
		if err != nil {
			t.Fatal(err)
		}
		defer tx.Rollback(ctx) //nolint:errcheck // the point
		c, replayed, err := paypal.HandleWebhook(ctx, tx, body, time.Now())
		if err != nil {
			if !errors.Is(err, paypal.ErrBadEvent) && !errors.Is(err, paypal.ErrUnknownOrder) {
				t.Fatalf("a bad body must be refused as such, not fail as %v", err)
			}
			return
		}
		if replayed {
			t.Fatal("a first delivery reported as a replay")
		}
		if c != nil && c.Credited {
			if c.AccountID != "acc_p" || !c.Amount.IsPositive() || !c.Amount.Equal(c.Amount.Round(2)) {
				t.Fatalf("credited %s %s", c.AccountID, c.Amount)
			}
		}
		var balance string
		if err := tx.QueryRow(ctx, `SELECT credit_balance::text FROM accounts WHERE id = 'acc_p'`).Scan(&balance); err != nil {
			t.Fatal(err)
		}
		c2, replayed, err := paypal.HandleWebhook(ctx, tx, body, time.Now())
		if err != nil || !replayed || (c2 != nil && c2.Credited) {
			t.Fatalf("a replay must change nothing: %+v %v %v", c2, replayed, err)
		}
		var after string
		if err := tx.QueryRow(ctx, `SELECT credit_balance::text FROM accounts WHERE id = 'acc_p'`).Scan(&after); err != nil {
			t.Fatal(err)
		}
		if after != balance {
			t.Fatalf("a replay moved credit: %s -> %s", balance, after)
		}
	})
}
