package payments

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/shopspring/decimal"

	"github.com/billingengine/engine/billing"
	"github.com/billingengine/engine/internal/timeline"
)

// ErrInvoiceNotFound is returned when collecting an unknown invoice number.
var ErrInvoiceNotFound = errors.New("invoice not found")

// Attempt is a call to a processor to collect an invoice.
type Attempt struct {
	ID             int64
	InvoiceID      int64
	InvoiceNumber  string
	AccountID      string
	Attempt        int
	IdempotencyKey string
	Processor      string
	Method         Method
	MandateID      string
	Amount         decimal.Decimal
	State          string
	CreatedAt      time.Time
	// Resumed: the attempt was created by an earlier try whose outcome is
	// unknown.
	Resumed bool
}

// Request is the processor request of the attempt.
func (a *Attempt) Request() ChargeRequest {
	return ChargeRequest{
		IdempotencyKey: a.IdempotencyKey, InvoiceNumber: a.InvoiceNumber, Attempt: a.Attempt,
		AccountID: a.AccountID, Amount: a.Amount, Currency: "EUR", Method: a.Method, MandateID: a.MandateID,
		Resend: a.Resumed, AttemptedAt: a.CreatedAt,
	}
}

// Plan is what a collection has to do after its first transaction.
type Plan struct {
	InvoiceNumber string
	AccountID     string
	// Done: nothing to send to a processor now; Reason says why.
	Done   bool
	Reason string
	// Attempt to send when not Done: new, or a pending one whose outcome is
	// unknown (resent with the same key).
	Attempt *Attempt
	// CreditApplied is the prepaid credit this collection used.
	CreditApplied decimal.Decimal
}

// Reasons a collection has nothing to charge.
const (
	ReasonSlotDone        = "dunning_retry_done"
	ReasonPaid            = "paid"
	ReasonVoid            = "void"
	ReasonProcessing      = "processing"
	ReasonPaidByCredit    = "paid_by_credit"
	ReasonNoPaymentMethod = "no_payment_method"
)

// PrepareCollection is the first step of collecting an invoice (SPEC §4),
// in tx with the invoice locked: prepaid credit first, then, for what is
// still due, an attempt on the account's payment method, recorded as
// pending before any processor sees it. The caller commits, sends the
// attempt, and records the answer with RecordCharge. If a pending attempt
// exists (an earlier try that crashed or timed out after sending it), it is
// returned to be resent with its own key: never a new attempt.
//
// slot > 0 makes this the dunning retry of that slot: made at most once,
// however many times it is asked for.
func PrepareCollection(ctx context.Context, tx pgx.Tx, number, processor string, now time.Time, slot int) (*Plan, error) {
	var invoiceID int64
	var accountID, status string
	var total, paid, creditApplied decimal.Decimal
	err := tx.QueryRow(ctx, `
		SELECT id, account_id, status, total, amount_paid, credit_applied FROM invoices
		WHERE number = $1 FOR UPDATE`, number).Scan(&invoiceID, &accountID, &status, &total, &paid, &creditApplied)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, fmt.Errorf("%w: %s", ErrInvoiceNotFound, number)
	}
	if err != nil {
		return nil, err
	}
	plan := &Plan{InvoiceNumber: number, AccountID: accountID}
	switch status {
	case "paid":
		plan.Done, plan.Reason = true, ReasonPaid
		return plan, nil
	case "void":
		// Nothing new is charged on a void invoice, but an attempt whose
		// outcome is unknown is still resent to learn it: money it took
		// goes to prepaid credit (see decide).
		inFlight, err := attemptInFlight(ctx, tx, invoiceID)
		if err != nil {
			return nil, err
		}
		if inFlight != nil && inFlight.State == "pending" {
			inFlight.Resumed = true
			plan.Attempt = inFlight
			return plan, nil
		}
		plan.Done, plan.Reason = true, ReasonVoid
		return plan, nil
	case "draft":
		return nil, fmt.Errorf("invoice %s is a draft", number)
	}

	inFlight, err := attemptInFlight(ctx, tx, invoiceID)
	if err != nil {
		return nil, err
	}
	if inFlight != nil {
		if inFlight.State == string(OutcomeProcessing) {
			plan.Done, plan.Reason = true, ReasonProcessing
			return plan, nil
		}
		inFlight.Resumed = true
		plan.Attempt = inFlight
		return plan, nil
	}

	if slot > 0 {
		var done bool
		if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM payment_attempts WHERE invoice_id = $1 AND dunning_slot = $2)`, invoiceID, slot).Scan(&done); err != nil {
			return nil, err
		}
		if done {
			plan.Done, plan.Reason = true, ReasonSlotDone
			return plan, nil
		}
	}

	due := total.Sub(paid)
	var events []timeline.Event
	if due.IsPositive() {
		if plan.CreditApplied, err = applyCredit(ctx, tx, invoiceID, number, accountID, due); err != nil {
			return nil, err
		}
		if plan.CreditApplied.IsPositive() {
			due = due.Sub(plan.CreditApplied)
			events = append(events, timeline.Event{AccountID: accountID, At: now, Kind: timeline.KindCreditApplied, InvoiceID: &invoiceID,
				Data: map[string]any{"number": number, "amount": billing.FormatMoney(plan.CreditApplied)}})
		}
	}
	if !due.IsPositive() {
		if _, err := tx.Exec(ctx, `UPDATE invoices SET status = 'paid' WHERE id = $1`, invoiceID); err != nil {
			return nil, err
		}
		events = append(events, timeline.Event{AccountID: accountID, At: now, Kind: timeline.KindPaymentSucceeded, InvoiceID: &invoiceID,
			Data: map[string]any{"number": number, "method": "credit", "amount": billing.FormatMoney(plan.CreditApplied)}})
		plan.Done, plan.Reason = true, ReasonPaidByCredit
		return plan, timeline.Record(ctx, tx, events)
	}

	var method Method
	var mandate *string
	err = tx.QueryRow(ctx, `SELECT type, external_id, mandate_id FROM payment_methods WHERE account_id = $1 AND replaced_at IS NULL`, accountID).
		Scan(&method.Type, &method.ID, &mandate)
	if errors.Is(err, pgx.ErrNoRows) {
		plan.Done, plan.Reason = true, ReasonNoPaymentMethod
		return plan, timeline.Record(ctx, tx, events)
	}
	if err != nil {
		return nil, err
	}

	a := &Attempt{InvoiceID: invoiceID, InvoiceNumber: number, AccountID: accountID, Processor: processor,
		Method: method, Amount: due, State: "pending", CreatedAt: now.UTC().Truncate(time.Microsecond)}
	if mandate != nil {
		a.MandateID = *mandate
	}
	if err := tx.QueryRow(ctx, `SELECT coalesce(max(attempt), 0) + 1 FROM payment_attempts WHERE invoice_id = $1`, invoiceID).Scan(&a.Attempt); err != nil {
		return nil, err
	}
	a.IdempotencyKey = AttemptKey(number, a.Attempt)
	var slotArg *int
	if slot > 0 {
		slotArg = &slot
	}
	err = tx.QueryRow(ctx, `
		INSERT INTO payment_attempts (invoice_id, attempt, idempotency_key, processor, method, payment_method_id, amount, created_at, dunning_slot)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING id`,
		invoiceID, a.Attempt, a.IdempotencyKey, processor, method.Type, method.ID, a.Amount, a.CreatedAt, slotArg).Scan(&a.ID)
	if err != nil {
		return nil, err
	}
	plan.Attempt = a
	return plan, timeline.Record(ctx, tx, events)
}

// AttemptKey is the idempotency key of an invoice's attempt number n.
func AttemptKey(number string, n int) string { return fmt.Sprintf("%s-attempt-%d", number, n) }

func attemptInFlight(ctx context.Context, tx pgx.Tx, invoiceID int64) (*Attempt, error) {
	a := &Attempt{}
	var mandate *string
	err := tx.QueryRow(ctx, `
		SELECT pa.id, pa.invoice_id, i.number, i.account_id, pa.attempt, pa.idempotency_key, pa.processor,
		       pa.method, pa.payment_method_id, pa.amount, pa.state, pa.created_at,
		       (SELECT mandate_id FROM payment_methods pm WHERE pm.account_id = i.account_id AND pm.type = pa.method
		          AND pm.external_id = pa.payment_method_id ORDER BY pm.id DESC LIMIT 1)
		FROM payment_attempts pa JOIN invoices i ON i.id = pa.invoice_id
		WHERE pa.invoice_id = $1 AND pa.state IN ('pending', 'processing')
		FOR UPDATE OF pa`, invoiceID).
		Scan(&a.ID, &a.InvoiceID, &a.InvoiceNumber, &a.AccountID, &a.Attempt, &a.IdempotencyKey, &a.Processor,
			&a.Method.Type, &a.Method.ID, &a.Amount, &a.State, &a.CreatedAt, &mandate)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	if mandate != nil {
		a.MandateID = *mandate
	}
	return a, nil
}

// applyCredit takes up to due from the account's prepaid credit for the
// invoice (locked by the caller) and returns what it took.
func applyCredit(ctx context.Context, tx pgx.Tx, invoiceID int64, number, accountID string, due decimal.Decimal) (decimal.Decimal, error) {
	var balance decimal.Decimal
	if err := tx.QueryRow(ctx, `SELECT credit_balance FROM accounts WHERE id = $1 FOR NO KEY UPDATE`, accountID).Scan(&balance); err != nil {
		return decimal.Zero, err
	}
	take := decimal.Min(balance, due)
	if !take.IsPositive() {
		return decimal.Zero, nil
	}
	var n int
	if err := tx.QueryRow(ctx, `SELECT count(*) FROM credit_ledger WHERE invoice_id = $1 AND kind = 'invoice_payment'`, invoiceID).Scan(&n); err != nil {
		return decimal.Zero, err
	}
	id := invoiceID
	if _, _, err := AddEntry(ctx, tx, NewEntry{AccountID: accountID, Kind: EntryInvoicePayment, Amount: take,
		Reference: fmt.Sprintf("invoice_payment:%s:%d", number, n+1), InvoiceID: &id}); err != nil {
		return decimal.Zero, err
	}
	if _, err := tx.Exec(ctx, `UPDATE invoices SET credit_applied = credit_applied + $2, amount_paid = amount_paid + $2 WHERE id = $1`, invoiceID, take); err != nil {
		return decimal.Zero, err
	}
	return take, nil
}

// Recorded is what RecordCharge or Settle did.
type Recorded struct {
	Attempt *Attempt
	Outcome Outcome
	Code    string
	// Status is the invoice's status afterwards.
	Status string
	// Already: the outcome was recorded before; nothing changed.
	Already bool
	// Refunded: the charge succeeded on an invoice voided meanwhile, and
	// its amount went to the account's prepaid credit.
	Refunded bool
}

// RecordCharge stores a processor's answer to a pending attempt and moves
// the invoice accordingly, in tx: succeeded adds to amount_paid (paid when
// nothing is due), processing marks the invoice processing, declined leaves
// it open. Recording an attempt that is no longer pending does nothing.
func RecordCharge(ctx context.Context, tx pgx.Tx, attemptID int64, res ChargeResult, now time.Time) (*Recorded, error) {
	a, state, status, err := lockAttempt(ctx, tx, `pa.id = $1`, attemptID)
	if err != nil {
		return nil, err
	}
	rec := &Recorded{Attempt: a, Outcome: Outcome(state), Status: status}
	if state != "pending" {
		rec.Already = true
		return rec, nil
	}
	switch res.Outcome {
	case OutcomeSucceeded, OutcomeDeclined, OutcomeProcessing, OutcomeFailed:
	default:
		return nil, fmt.Errorf("attempt %s: unknown outcome %q", a.IdempotencyKey, res.Outcome)
	}
	return rec, decide(ctx, tx, a, rec, res.Outcome, res.Code, res.Reference, now)
}

// Settle records how a processing attempt (a SEPA debit) ended, found by
// the processor's reference or by its idempotency key. A settlement that
// arrives before the attempt was recorded as processing settles it from
// pending; one that arrives twice changes nothing the second time.
func Settle(ctx context.Context, tx pgx.Tx, processor, reference, key string, outcome Outcome, code string, now time.Time) (*Recorded, error) {
	if outcome != OutcomeSucceeded && outcome != OutcomeFailed {
		return nil, fmt.Errorf("settlement outcome must be succeeded or failed, got %q", outcome)
	}
	a, state, status, err := lockAttempt(ctx, tx, `pa.processor = $1 AND (pa.processor_ref = $2 OR pa.idempotency_key = $3)`, processor, reference, key)
	if err != nil {
		return nil, err
	}
	rec := &Recorded{Attempt: a, Outcome: Outcome(state), Status: status}
	if state != "pending" && state != "processing" {
		rec.Already = true
		return rec, nil
	}
	return rec, decide(ctx, tx, a, rec, outcome, code, reference, now)
}

// ErrAttemptNotFound is returned by Settle for a payment the engine doesn't know.
var ErrAttemptNotFound = errors.New("payment attempt not found")

func lockAttempt(ctx context.Context, tx pgx.Tx, where string, args ...any) (*Attempt, string, string, error) {
	// The invoice first, as PrepareCollection does, so the two never deadlock.
	var invoiceID int64
	err := tx.QueryRow(ctx, `SELECT pa.invoice_id FROM payment_attempts pa WHERE `+where, args...).Scan(&invoiceID)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, "", "", fmt.Errorf("%w: %v", ErrAttemptNotFound, args)
	}
	if err != nil {
		return nil, "", "", err
	}
	var status string
	if err := tx.QueryRow(ctx, `SELECT status FROM invoices WHERE id = $1 FOR UPDATE`, invoiceID).Scan(&status); err != nil {
		return nil, "", "", err
	}
	a := &Attempt{}
	var state string
	err = tx.QueryRow(ctx, `
		SELECT pa.id, pa.invoice_id, i.number, i.account_id, pa.attempt, pa.idempotency_key, pa.processor,
		       pa.method, pa.payment_method_id, pa.amount, pa.state, pa.created_at
		FROM payment_attempts pa JOIN invoices i ON i.id = pa.invoice_id
		WHERE `+where+` FOR UPDATE OF pa`, args...).
		Scan(&a.ID, &a.InvoiceID, &a.InvoiceNumber, &a.AccountID, &a.Attempt, &a.IdempotencyKey, &a.Processor,
			&a.Method.Type, &a.Method.ID, &a.Amount, &state, &a.CreatedAt)
	if err != nil {
		return nil, "", "", err
	}
	a.State = state
	return a, state, status, nil
}

// decide moves the attempt to outcome and the invoice with it.
func decide(ctx context.Context, tx pgx.Tx, a *Attempt, rec *Recorded, outcome Outcome, code, reference string, now time.Time) error {
	var ref *string
	if reference != "" {
		ref = &reference
	}
	settled := outcome == OutcomeSucceeded || outcome == OutcomeFailed
	if _, err := tx.Exec(ctx, `
		UPDATE payment_attempts SET state = $2, code = $3, processor_ref = coalesce($4, processor_ref),
		    decided_at = coalesce(decided_at, $5), settled_at = CASE WHEN $6 AND state = 'processing' THEN $5 END
		WHERE id = $1`, a.ID, outcome, code, ref, now, settled); err != nil {
		return err
	}
	var status string
	var err error
	switch outcome {
	case OutcomeSucceeded:
		// A void invoice keeps counting what was paid on it (amount_paid =
		// credit applied + charges), and the money goes to prepaid credit.
		err = tx.QueryRow(ctx, `
			UPDATE invoices SET amount_paid = amount_paid + $2,
			    status = CASE WHEN status = 'void' THEN status WHEN amount_paid + $2 = total THEN 'paid'
			                  WHEN status = 'processing' THEN 'open' ELSE status END
			WHERE id = $1 RETURNING status`, a.InvoiceID, a.Amount).Scan(&status)
		if err == nil && status == "void" {
			err = refundLate(ctx, tx, a, now)
			rec.Refunded = err == nil
		}
	case OutcomeProcessing:
		err = tx.QueryRow(ctx, `
			UPDATE invoices SET status = CASE WHEN status = 'void' THEN status ELSE 'processing' END
			WHERE id = $1 RETURNING status`, a.InvoiceID).Scan(&status)
	default: // declined, failed
		err = tx.QueryRow(ctx, `
			UPDATE invoices SET status = CASE WHEN status = 'processing' THEN 'open' ELSE status END
			WHERE id = $1 RETURNING status`, a.InvoiceID).Scan(&status)
	}
	if err != nil {
		return err
	}
	rec.Outcome, rec.Code, rec.Status = outcome, code, status
	kind := map[Outcome]timeline.Kind{
		OutcomeSucceeded: timeline.KindPaymentSucceeded, OutcomeDeclined: timeline.KindPaymentDeclined,
		OutcomeProcessing: timeline.KindPaymentPending, OutcomeFailed: timeline.KindPaymentFailed,
	}[outcome]
	invID := a.InvoiceID
	return timeline.Record(ctx, tx, []timeline.Event{{AccountID: a.AccountID, At: now, Kind: kind, InvoiceID: &invID,
		Data: map[string]any{"number": a.InvoiceNumber, "attempt": a.Attempt, "method": string(a.Method.Type),
			"amount": billing.FormatMoney(a.Amount), "code": code}}})
}

// refundLate moves a payment that succeeded after its invoice was voided to
// the account's prepaid credit.
func refundLate(ctx context.Context, tx pgx.Tx, a *Attempt, now time.Time) error {
	invoiceID := a.InvoiceID
	if _, _, err := AddEntry(ctx, tx, NewEntry{AccountID: a.AccountID, Kind: EntryRefundToCredit, Amount: a.Amount,
		Reference: "late_payment:" + a.IdempotencyKey, InvoiceID: &invoiceID}); err != nil {
		return err
	}
	return timeline.Record(ctx, tx, []timeline.Event{{AccountID: a.AccountID, At: now, Kind: timeline.KindRefunded, InvoiceID: &invoiceID,
		Data: map[string]any{"number": a.InvoiceNumber, "attempt": a.Attempt, "amount": billing.FormatMoney(a.Amount)}}})
}
