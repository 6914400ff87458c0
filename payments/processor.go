package payments

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/shopspring/decimal"

	"github.com/billingengine/engine/billing"
)

// Outcome is what became of a collection attempt. It is
// billing.AttemptState, the type of payment_attempts.state, which documents
// each value and the transitions Postgres allows; an outcome is any of its
// values but billing.AttemptStatePending. The names here stay so that
// callers move to billing's at their own pace.
type Outcome = billing.AttemptState

const (
	// OutcomeSucceeded: the money is collected.
	OutcomeSucceeded = billing.AttemptStateSucceeded
	// OutcomeDeclined: the processor refused (a card decline). A business
	// outcome: dunning retries later with a new attempt.
	OutcomeDeclined = billing.AttemptStateDeclined
	// OutcomeProcessing: accepted, settled later (SEPA direct debit).
	OutcomeProcessing = billing.AttemptStateProcessing
	// OutcomeFailed: a processing payment that did not settle.
	OutcomeFailed = billing.AttemptStateFailed
)

// ChargeRequest asks a processor to collect Amount from an account's
// payment method. IdempotencyKey identifies the attempt: sending the same
// request again, however many times, charges at most once.
type ChargeRequest struct {
	IdempotencyKey string
	InvoiceNumber  string
	Attempt        int
	AccountID      string
	Amount         decimal.Decimal
	Currency       string
	Method         Method
	MandateID      string
	// Resend is set when this attempt was sent before and its outcome is
	// unknown; AttemptedAt is when it was first created. A processor that
	// can look the payment up does so before sending it again.
	Resend      bool
	AttemptedAt time.Time
}

// ChargeResult is a processor's answer.
type ChargeResult struct {
	Outcome Outcome
	// Code says why a charge was declined or failed (insufficient_funds…).
	Code string
	// Reference is the processor's id for the payment (a PaymentIntent).
	Reference string
}

// Processor collects money from payment methods: Stripe, or the sandbox
// that behaves like Stripe's test mode.
//
// Charge must return a *TechnicalError (or an error wrapping one) when it
// could not learn the outcome, so the caller retries the same request with
// the same key; any other outcome is a business answer and is recorded.
type Processor interface {
	Name() string
	Charge(ctx context.Context, req ChargeRequest) (ChargeResult, error)
}

// BatchProcessor is a Processor that takes many charges in one call (the
// sandbox does): one answer or error per request, in order. The rules of
// Charge hold for each.
type BatchProcessor interface {
	Processor
	ChargeMany(ctx context.Context, reqs []ChargeRequest) ([]ChargeResult, []error)
}

// Looker is a Processor that can tell what became of a charge from its
// idempotency key alone, without making it: reconciliation asks it about
// attempts whose outcome is unknown. found is false when the processor never
// received the request (then resending it with its key is safe). A
// processor that is not a Looker is asked by Charge with Resend set, which
// looks the payment up first where it can (Stripe).
type Looker interface {
	Lookup(ctx context.Context, req ChargeRequest) (res ChargeResult, found bool, err error)
}

// Settler is what a processor simulated in the engine's own database (the
// sandbox) does that a real one does on its side. It settles the charges it
// accepted as processing (SEPA debits), which a real processor reports by
// webhook; and, its clock being the engine's, it lets collection and the
// dunning pass run at a simulated time (`billing dunning run --now`), which
// a real processor's charges, made now, would contradict. Workers run its
// settlements as jobs through this interface alone, so that no package but
// cmd imports a test processor.
type Settler interface {
	// Name is the processor whose attempts it settles, as recorded on them:
	// only those answered processing wait for Settle.
	Name() string
	// Settle decides the charges with these references in tx, once each:
	// asked again, it answers its first decision. It answers for every
	// reference, or fails.
	Settle(ctx context.Context, tx pgx.Tx, references []string) ([]Settlement, error)
}

// TechnicalError is a failure that says nothing of the payment: a timeout,
// a 5xx, a connection lost. Reached tells whether the request may have got
// to the processor; like pgconn.SafeToRetry, SafeToRetry reports when it
// provably did not. Either way the attempt is retried with its own key —
// never as a new attempt, which is how systems charge twice.
type TechnicalError struct {
	Op      string
	Reached bool
	Err     error
}

func (e *TechnicalError) Error() string {
	where := "before reaching the processor"
	if e.Reached {
		where = "outcome unknown"
	}
	return fmt.Sprintf("%s: %s: %v", e.Op, where, e.Err)
}

func (e *TechnicalError) Unwrap() error { return e.Err }

// SafeToRetry reports whether the request provably did not reach the
// processor.
func (e *TechnicalError) SafeToRetry() bool { return !e.Reached }

// IsTechnical reports whether err is a technical failure.
func IsTechnical(err error) bool {
	var te *TechnicalError
	return errors.As(err, &te)
}
