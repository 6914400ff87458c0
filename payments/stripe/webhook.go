package stripe

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"
	sg "github.com/stripe/stripe-go/v76"
	"github.com/stripe/stripe-go/v76/webhook"

	"github.com/billingengine/engine/payments"
)

// ErrBadSignature is returned for a webhook whose signature, timestamp or
// API version doesn't check out: it is refused and changes nothing.
var ErrBadSignature = errors.New("stripe webhook: bad signature")

// ErrBadEvent is returned for a correctly signed event the engine cannot
// read (a malformed object, identifiers Postgres cannot store): it is
// refused and changes nothing.
var ErrBadEvent = errors.New("stripe webhook: malformed event")

// storable reports whether identifiers can be stored and looked up as
// they are: valid UTF-8, no NUL, of a sane length.
func storable(ids ...string) bool {
	for _, s := range ids {
		if len(s) > 255 || !utf8.ValidString(s) || strings.ContainsRune(s, 0) {
			return false
		}
	}
	return true
}

// methodID is what payment_methods.external_id accepts.
func methodID(s string) bool {
	return s != "" && storable(s) && !strings.ContainsFunc(s, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) })
}

// WebhookResult says what a webhook event did.
type WebhookResult struct {
	EventID string
	Type    string
	// Replayed: the event was handled before and was ignored this time.
	Replayed bool
	// Settled is the attempt a payment_intent event settled, if any.
	Settled *payments.Recorded
	// MethodChanged lists accounts whose payment method a
	// setup_intent.succeeded event set: the caller collects their open
	// invoices.
	MethodChanged []string
}

// HandleWebhook verifies an event (signature, tolerance and the API version
// of stripe-go v76: the endpoint must be created at 2023-10-16, since a
// payload of another version would be read with the wrong shapes) and
// applies it in tx. An event id is handled once: a replay is acknowledged
// and ignored.
func HandleWebhook(ctx context.Context, tx pgx.Tx, payload []byte, signature, secret string, now time.Time) (*WebhookResult, error) {
	ev, err := webhook.ConstructEvent(payload, signature, secret)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadSignature, err)
	}
	if ev.ID == "" || !storable(ev.ID, string(ev.Type)) {
		return nil, fmt.Errorf("%w: event id %q, type %q", ErrBadEvent, ev.ID, ev.Type)
	}
	res := &WebhookResult{EventID: ev.ID, Type: string(ev.Type)}
	if ev.Data == nil {
		// Every event Stripe sends carries its object; one without is not
		// from Stripe's API, whatever its signature.
		return nil, fmt.Errorf("%w: event %s has no data", ErrBadEvent, ev.ID)
	}
	tag, err := tx.Exec(ctx, `INSERT INTO processor_events (processor, event_id, type) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING`,
		Name, ev.ID, string(ev.Type))
	if err != nil {
		return nil, err
	}
	if tag.RowsAffected() == 0 {
		res.Replayed = true
		return res, nil
	}
	switch ev.Type {
	case "payment_intent.succeeded", "payment_intent.payment_failed":
		var pi sg.PaymentIntent
		if err := json.Unmarshal(ev.Data.Raw, &pi); err != nil {
			return nil, fmt.Errorf("%w: event %s: %v", ErrBadEvent, ev.ID, err)
		}
		if !storable(pi.ID, pi.Metadata["idempotency_key"]) {
			return nil, fmt.Errorf("%w: event %s: payment intent id or idempotency key", ErrBadEvent, ev.ID)
		}
		outcome, code := payments.OutcomeSucceeded, ""
		if ev.Type == "payment_intent.payment_failed" {
			outcome, code = payments.OutcomeFailed, "payment_failed"
			if e := pi.LastPaymentError; e != nil {
				code = declineCode(e)
			}
		}
		rec, err := payments.Settle(ctx, tx, Name, pi.ID, pi.Metadata["idempotency_key"], outcome, code, now)
		if errors.Is(err, payments.ErrAttemptNotFound) && pi.Metadata["idempotency_key"] == "" {
			return res, nil // not a payment of this engine
		}
		if err != nil {
			return nil, err
		}
		res.Settled = rec
	case "setup_intent.succeeded":
		var si sg.SetupIntent
		if err := json.Unmarshal(ev.Data.Raw, &si); err != nil {
			return nil, fmt.Errorf("%w: event %s: %v", ErrBadEvent, ev.ID, err)
		}
		account := si.Metadata["account_id"]
		if account == "" || si.PaymentMethod == nil || len(si.PaymentMethodTypes) == 0 {
			return res, nil
		}
		m := payments.Method{Type: payments.MethodType(si.PaymentMethodTypes[0]), ID: si.PaymentMethod.ID}
		if !m.Type.Valid() {
			return res, nil
		}
		mandate := ""
		if si.Mandate != nil {
			mandate = si.Mandate.ID
		}
		if !storable(account, mandate) || !methodID(m.ID) {
			return nil, fmt.Errorf("%w: event %s: account, payment method or mandate id", ErrBadEvent, ev.ID)
		}
		var known bool
		if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM accounts WHERE id = $1)`, account).Scan(&known); err != nil || !known {
			return res, err // not an account of this engine
		}
		changed, err := payments.SetMethods(ctx, tx, []payments.MethodChange{{AccountID: account, Method: m}})
		if err != nil {
			return nil, err
		}
		if si.Mandate != nil {
			if _, err := tx.Exec(ctx, `UPDATE payment_methods SET mandate_id = $2 WHERE account_id = $1 AND replaced_at IS NULL`, account, si.Mandate.ID); err != nil {
				return nil, err
			}
		}
		res.MethodChanged = changed
	}
	return res, nil
}
