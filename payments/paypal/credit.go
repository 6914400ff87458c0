package paypal

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"
	"github.com/shopspring/decimal"

	"github.com/billingengine/engine/billing"
	"github.com/billingengine/engine/internal/platform/pgdb"
	"github.com/billingengine/engine/payments"
)

// Purchase is an order for credit, as `billing credit buy` prints it.
type Purchase struct {
	OrderID      string `json:"order_id"`
	AccountID    string `json:"account_id"`
	Amount       string `json:"amount"`
	Status       string `json:"status"`
	ApprovalLink string `json:"approval_link"`
}

// ErrUnknownOrder is returned for a capture of an order the engine did not create.
var ErrUnknownOrder = errors.New("unknown PayPal order")

// ErrPurchasesOff is returned when credit purchases are switched off
// (BILLING_PAYPAL=off): there is no purchaser.
var ErrPurchasesOff = errors.New("credit purchases are switched off (BILLING_PAYPAL=off)")

// Buy creates a PayPal order for amount EUR of the account's credit and
// records it; the buyer approves it at ApprovalLink. The caller captures it
// at once when the purchaser approves on its own (the sandbox). An amount
// outside [billing.MinCreditPurchase, limit] is refused with a
// *billing.PurchaseAmountError before PayPal is asked anything.
func Buy(ctx context.Context, db pgdb.DB, p Purchaser, accountID string, amount, limit decimal.Decimal) (*Purchase, error) {
	if p == nil {
		return nil, ErrPurchasesOff
	}
	if err := billing.CheckCreditPurchase(amount, limit); err != nil {
		return nil, err
	}
	var b [12]byte
	if _, err := rand.Read(b[:]); err != nil {
		return nil, err
	}
	order, err := p.CreateOrder(ctx, accountID, amount, "credit-"+accountID+"-"+hex.EncodeToString(b[:]))
	if err != nil {
		return nil, err
	}
	if _, err := db.Exec(ctx, `
		INSERT INTO paypal_orders (order_id, account_id, amount, status, approve_url) VALUES ($1, $2, $3, $4, $5)
		ON CONFLICT (order_id) DO NOTHING`, order.ID, accountID, amount, order.Status, order.ApproveURL); err != nil {
		return nil, err
	}
	return &Purchase{OrderID: order.ID, AccountID: accountID, Amount: billing.FormatMoney(amount), Status: order.Status, ApprovalLink: order.ApproveURL}, nil
}

// Captured is what recording a capture did.
type Captured struct {
	AccountID string
	Amount    decimal.Decimal
	// Credited: the capture moved credit now (false for a replay, or a
	// capture that is not COMPLETED).
	Credited bool
	// Effects is what the credit implies when Credited (the credit_added
	// timeline event, collecting the account's open invoices): the caller
	// passes it to jobs.Enqueue in the same transaction.
	Effects billing.Effects
}

// RecordCapture credits the account with a COMPLETED capture, in tx, once
// per capture id: the return call and the webhook may both report it, in
// any order, any number of times. A capture that isn't COMPLETED (PENDING,
// DECLINED) credits nothing. What the credit implies is returned in
// Captured.Effects, not done here.
func RecordCapture(ctx context.Context, tx pgx.Tx, c Capture, now time.Time) (*Captured, error) {
	var accountID string
	var amount decimal.Decimal
	err := tx.QueryRow(ctx, `SELECT account_id, amount FROM paypal_orders WHERE order_id = $1 FOR UPDATE`, c.OrderID).Scan(&accountID, &amount)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, fmt.Errorf("%w: %s", ErrUnknownOrder, c.OrderID)
	}
	if err != nil {
		return nil, err
	}
	out := &Captured{AccountID: accountID, Amount: amount}
	if !c.Amount.IsZero() {
		out.Amount = c.Amount // what PayPal actually captured
	}
	if c.Status != "COMPLETED" {
		_, err := tx.Exec(ctx, `UPDATE paypal_orders SET status = $2 WHERE order_id = $1 AND capture_id IS NULL`, c.OrderID, c.Status)
		return out, err
	}
	if _, err := tx.Exec(ctx, `UPDATE paypal_orders SET status = 'COMPLETED', capture_id = $2, captured_at = coalesce(captured_at, $3)
		WHERE order_id = $1`, c.OrderID, c.ID, now); err != nil {
		return nil, err
	}
	// The timeline shows PayPal's capture id, as the buyer's receipt does.
	credited, err := payments.AddCredit(ctx, tx, payments.NewEntry{AccountID: accountID, Kind: payments.EntryPayPalPurchase,
		Amount: out.Amount, Reference: "paypal_capture:" + c.ID}, c.ID)
	if err != nil {
		return nil, err
	}
	out.Credited, out.Effects = credited.Created, credited.Effects
	return out, nil
}

// CaptureOrder captures an approved order with PayPal (idempotent per
// order) and returns the capture for RecordCapture.
func CaptureOrder(ctx context.Context, p Purchaser, orderID string) (Capture, error) {
	return p.Capture(ctx, orderID)
}

// WebhookEvent is the part of a PayPal webhook the engine reads.
type WebhookEvent struct {
	ID        string `json:"id"`
	EventType string `json:"event_type"`
	Resource  struct {
		ID     string `json:"id"`
		Status string `json:"status"`
		Amount struct {
			Currency string `json:"currency_code"`
			Value    string `json:"value"`
		} `json:"amount"`
		SupplementaryData struct {
			RelatedIDs struct {
				OrderID string `json:"order_id"`
			} `json:"related_ids"`
		} `json:"supplementary_data"`
	} `json:"resource"`
}

var maxAmount = decimal.New(1, 12)

// storable reports whether identifiers can be stored and looked up as
// they are.
func storable(ids ...string) bool {
	for _, s := range ids {
		if len(s) > 255 || !utf8.ValidString(s) || strings.ContainsRune(s, 0) {
			return false
		}
	}
	return true
}

// ErrBadEvent is returned for a webhook body that isn't a PayPal event.
var ErrBadEvent = errors.New("paypal webhook: malformed event")

// HandleWebhook applies a verified PayPal event in tx: a
// PAYMENT.CAPTURE.COMPLETED credits its order's account (once per capture
// id). An event id is handled once; a replay returns replayed = true.
func HandleWebhook(ctx context.Context, tx pgx.Tx, body []byte, now time.Time) (captured *Captured, replayed bool, err error) {
	var ev WebhookEvent
	if err := json.Unmarshal(body, &ev); err != nil || ev.ID == "" || ev.EventType == "" {
		return nil, false, ErrBadEvent
	}
	r := ev.Resource
	if !storable(ev.ID, ev.EventType, r.ID, r.Status, r.SupplementaryData.RelatedIDs.OrderID) {
		return nil, false, fmt.Errorf("%w: identifiers must be UTF-8 text without NUL, at most 255 bytes", ErrBadEvent)
	}
	tag, err := tx.Exec(ctx, `INSERT INTO processor_events (processor, event_id, type) VALUES ('paypal', $1, $2) ON CONFLICT DO NOTHING`, ev.ID, ev.EventType)
	if err != nil {
		return nil, false, err
	}
	if tag.RowsAffected() == 0 {
		return nil, true, nil
	}
	if ev.EventType != "PAYMENT.CAPTURE.COMPLETED" {
		return nil, false, nil
	}
	if r.Amount.Currency != "EUR" {
		return nil, false, fmt.Errorf("%w: capture %s in %q", ErrBadEvent, r.ID, r.Amount.Currency)
	}
	amount, err := decimal.NewFromString(r.Amount.Value)
	// Credit is kept in cents, below a trillion (numeric(14, 2)): anything
	// else is not a capture of an order this engine created.
	if err != nil || !amount.IsPositive() || !amount.Equal(amount.Round(2)) || amount.Cmp(maxAmount) >= 0 {
		return nil, false, fmt.Errorf("%w: capture %s amount %q", ErrBadEvent, r.ID, r.Amount.Value)
	}
	c, err := RecordCapture(ctx, tx, Capture{OrderID: r.SupplementaryData.RelatedIDs.OrderID, ID: r.ID, Status: r.Status, Amount: amount}, now)
	return c, false, err
}
