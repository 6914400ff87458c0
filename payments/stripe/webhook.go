package stripe

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"
	"github.com/shopspring/decimal"
	sg "github.com/stripe/stripe-go/v76"
	"github.com/stripe/stripe-go/v76/webhook"

	"github.com/billingengine/engine/billing"
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
	// setup_intent.succeeded event set.
	MethodChanged []string
	// Credited lists accounts that reconciliation credited with a payment
	// Stripe took on an attempt recorded as failed.
	Credited []string
	// Effects is what follows from a new method or credit (a timeline
	// event, collecting the accounts' open invoices), the same as from the
	// CLI: the caller passes it to jobs.Enqueue in the same transaction.
	// The outcome in Settled has its own follow-up (jobs.AfterOutcome).
	Effects billing.Effects
	// Ignored says why an accepted event changed nothing, when it did not
	// (IgnoredUnknownPayment, IgnoredStale, IgnoredNeedsReview).
	Ignored string
}

// Why an accepted event changed nothing.
const (
	// IgnoredUnknownPayment: a PaymentIntent carrying one of the engine's
	// idempotency keys that no attempt has (another environment sharing the
	// Stripe account, a restored database). Retrying would not change that.
	IgnoredUnknownPayment = "unknown_payment_intent"
	// IgnoredStale: the event contradicts the recorded outcome, and Stripe's
	// current state of the PaymentIntent agrees with the record.
	IgnoredStale = "stale"
	// IgnoredNeedsReview: the event contradicts the recorded outcome and the
	// engine cannot settle it (Stripe disagrees with a recorded success, or
	// no API to ask): logged at error level for a person.
	IgnoredNeedsReview = "needs_review"
)

// Tolerance is how far a signature's timestamp may be from now, into the
// past (a replayed capture) or the future (a forged or badly clocked one).
const Tolerance = 5 * time.Minute

// PaymentIntentReader reads a PaymentIntent's current state from Stripe;
// *Processor is one.
type PaymentIntentReader interface {
	PaymentIntent(ctx context.Context, id string) (*sg.PaymentIntent, error)
}

// Webhook verifies Stripe events and applies them.
type Webhook struct {
	Secret string
	// API reads PaymentIntents, to reconcile an event that contradicts the
	// outcome recorded for its payment (Stripe does not order its events).
	// Without it, such an event is logged for a person and acknowledged.
	API PaymentIntentReader
	// Logger receives what an event did that nobody else sees (slog's
	// default when nil).
	Logger *slog.Logger
}

func (w *Webhook) logger() *slog.Logger {
	if w.Logger != nil {
		return w.Logger
	}
	return slog.Default()
}

// HandleWebhook is Webhook{Secret: secret}.Handle: events that contradict
// a recorded outcome are logged, not reconciled.
func HandleWebhook(ctx context.Context, tx pgx.Tx, payload []byte, signature, secret string, now time.Time) (*WebhookResult, error) {
	return (&Webhook{Secret: secret}).Handle(ctx, tx, payload, signature, now)
}

// signedAt is the timestamp of a Stripe-Signature header ("t=…,v1=…").
func signedAt(header string) (time.Time, bool) {
	var at time.Time
	ok := false
	for _, pair := range strings.Split(header, ",") {
		if k, v, found := strings.Cut(pair, "="); found && k == "t" {
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil {
				return time.Time{}, false
			}
			at, ok = time.Unix(n, 0), true
		}
	}
	return at, ok
}

// Handle verifies an event (signature, a timestamp within Tolerance of now
// either way, and the API version of stripe-go v76: the endpoint must be
// created at 2023-10-16, since a payload of another version would be read
// with the wrong shapes) and applies it in tx. An event id is handled once:
// a replay is acknowledged and ignored.
func (w *Webhook) Handle(ctx context.Context, tx pgx.Tx, payload []byte, signature string, now time.Time) (*WebhookResult, error) {
	// stripe-go only refuses timestamps too far in the past, by the
	// system clock: the window is checked here, both ways, on now.
	ev, err := webhook.ConstructEventWithOptions(payload, signature, w.Secret, webhook.ConstructEventOptions{IgnoreTolerance: true})
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadSignature, err)
	}
	if at, ok := signedAt(signature); !ok {
		return nil, fmt.Errorf("%w: no timestamp", ErrBadSignature)
	} else if d := now.Sub(at); d > Tolerance || d < -Tolerance {
		return nil, fmt.Errorf("%w: signed at %s, more than %s from now (%s)", ErrBadSignature,
			at.UTC().Format(time.RFC3339), Tolerance, now.UTC().Format(time.RFC3339))
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
			return nil, fmt.Errorf("%w: event %s: %w", ErrBadEvent, ev.ID, err)
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
		key := pi.Metadata["idempotency_key"]
		rec, err := payments.Settle(ctx, tx, Name, pi.ID, key, outcome, code, now)
		if errors.Is(err, payments.ErrAttemptNotFound) && key == "" {
			return res, nil // not a payment of this engine
		}
		if errors.Is(err, payments.ErrAttemptNotFound) {
			// Attempts are recorded before Stripe sees them, so none will
			// turn up later: answering 500 would have Stripe retry for
			// days for nothing. Acknowledge it, loudly.
			w.logger().WarnContext(ctx, "stripe webhook: a PaymentIntent carries one of our idempotency keys but no attempt has it; acknowledged, nothing changed",
				"event", ev.ID, "type", string(ev.Type), "payment_intent", pi.ID, "idempotency_key", key)
			res.Ignored = IgnoredUnknownPayment
			return res, nil
		}
		if err != nil {
			return nil, err
		}
		res.Settled = rec
		if rec.Already && (rec.Outcome == payments.OutcomeSucceeded) != (outcome == payments.OutcomeSucceeded) {
			if err := w.reconcile(ctx, tx, ev, pi.ID, rec, outcome, now, res); err != nil {
				return nil, err
			}
		}
	case "setup_intent.succeeded":
		var si sg.SetupIntent
		if err := json.Unmarshal(ev.Data.Raw, &si); err != nil {
			return nil, fmt.Errorf("%w: event %s: %w", ErrBadEvent, ev.ID, err)
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
		changed, err := payments.ChangeMethods(ctx, tx, []payments.MethodChange{{AccountID: account, Method: m}}, now)
		if err != nil {
			return nil, err
		}
		if si.Mandate != nil {
			if _, err := tx.Exec(ctx, `UPDATE payment_methods SET mandate_id = $2 WHERE account_id = $1 AND replaced_at IS NULL`, account, si.Mandate.ID); err != nil {
				return nil, err
			}
		}
		res.MethodChanged, res.Effects = changed.Accounts, changed.Effects
	}
	return res, nil
}

// reconcile settles an event that contradicts the outcome recorded for its
// attempt (a succeeded after a payment_failed, or the reverse: Stripe
// doesn't order its events) by asking Stripe for the PaymentIntent as it is
// now. A decided attempt never changes (the database refuses it), so:
// Stripe took the money of an attempt recorded as failed or declined ->
// the amount becomes the account's prepaid credit, which pays its open
// invoices (once per attempt: the ledger is idempotent by reference);
// Stripe agrees with the record -> the event was stale, ignored; Stripe
// says a recorded success did not succeed -> logged for a person. An error
// reaching Stripe is returned: Stripe sends the event again, and the
// engine asks again.
func (w *Webhook) reconcile(ctx context.Context, tx pgx.Tx, ev sg.Event, piID string, rec *payments.Recorded, claimed payments.Outcome, now time.Time, res *WebhookResult) error {
	a := rec.Attempt
	log := w.logger().With("event", ev.ID, "type", string(ev.Type), "payment_intent", piID, "invoice", a.InvoiceNumber,
		"idempotency_key", a.IdempotencyKey, "recorded", string(rec.Outcome), "event_says", string(claimed))
	log.WarnContext(ctx, "stripe webhook: the event contradicts the outcome recorded for its payment; asking Stripe for the PaymentIntent's current state")
	if w.API == nil {
		log.ErrorContext(ctx, "stripe webhook: cannot ask Stripe (no API configured); acknowledged, a person must check the payment in the Stripe dashboard")
		res.Ignored = IgnoredNeedsReview
		return nil
	}
	cur, err := w.API.PaymentIntent(ctx, piID)
	var se *sg.Error
	if errors.As(err, &se) && se.HTTPStatusCode == http.StatusNotFound {
		log.ErrorContext(ctx, "stripe webhook: Stripe does not know the PaymentIntent; acknowledged, a person must check the payment", "error", se.Msg)
		res.Ignored = IgnoredNeedsReview
		return nil
	}
	if err != nil {
		return fmt.Errorf("reconciling event %s with Stripe: %w", ev.ID, err)
	}
	log = log.With("stripe_status", string(cur.Status))
	succeeded := cur.Status == sg.PaymentIntentStatusSucceeded
	switch {
	case succeeded && rec.Outcome != payments.OutcomeSucceeded:
		amount := a.Amount
		if cur.AmountReceived > 0 {
			amount = decimal.New(cur.AmountReceived, -2)
		}
		invoiceID := a.InvoiceID
		// The same reference as a payment that succeeds on a voided
		// invoice: one attempt's money is credited once, whichever way.
		ref := "late_payment:" + a.IdempotencyKey
		credited, err := payments.AddCredit(ctx, tx, payments.NewEntry{AccountID: a.AccountID, Kind: payments.EntryRefundToCredit,
			Amount: amount, Reference: ref, InvoiceID: &invoiceID}, ref)
		if err != nil {
			return err
		}
		created := credited.Created
		res.Credited = append(res.Credited, a.AccountID)
		res.Effects = res.Effects.Merge(credited.Effects)
		if !created {
			// A credit the ledger already had adds no timeline event, but
			// the account's open invoices are still collected: the credit
			// may be unspent, and collecting twice charges nothing twice.
			res.Effects.CollectOpenInvoices = append(res.Effects.CollectOpenInvoices, a.AccountID)
		}
		log.WarnContext(ctx, "stripe webhook: reconciled: Stripe took a payment recorded as not taken; its amount is now the account's prepaid credit, which pays its open invoices",
			"account_id", a.AccountID, "amount", billing.FormatMoney(amount), "credited", created)
	case !succeeded && rec.Outcome == payments.OutcomeSucceeded:
		log.ErrorContext(ctx, "stripe webhook: Stripe says a payment recorded as succeeded has not succeeded; acknowledged, a person must check it (refund, dispute)")
		res.Ignored = IgnoredNeedsReview
	default:
		log.InfoContext(ctx, "stripe webhook: reconciled: Stripe's current state agrees with the recorded outcome; the event was stale and is ignored")
		res.Ignored = IgnoredStale
	}
	return nil
}
