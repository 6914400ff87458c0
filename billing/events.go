package billing

import "time"

// EventType names an event other services learn of (SPEC §11): part of
// the events' JSON and of webhook subscriptions, so a type never changes.
type EventType string

// The event types.
const (
	// EventInvoiceFinalized: an invoice was issued. Its data is the
	// invoice JSON of SPEC §7, as every invoice.* event's.
	EventInvoiceFinalized EventType = "invoice.finalized"
	// EventInvoicePaid: an invoice is paid in full.
	EventInvoicePaid EventType = "invoice.paid"
	// EventInvoicePaymentFailed: a collection attempt was declined or
	// failed; the data adds attempt, code, next_retry_at and suspension_at.
	EventInvoicePaymentFailed EventType = "invoice.payment_failed"
	// EventInvoiceOverdue: an invoice exhausted its retries (SPEC §5).
	EventInvoiceOverdue EventType = "invoice.overdue"
	// EventInvoiceVoided: an invoice was cancelled by a credit note.
	EventInvoiceVoided EventType = "invoice.voided"
	// EventCreditNoteIssued: a credit note was issued; its data is the
	// credit note's JSON.
	EventCreditNoteIssued EventType = "credit_note.issued"
	// EventCreditAdded: prepaid credit was added (amount, kind, reference).
	EventCreditAdded EventType = "credit.added"
	// EventAccountSuspended and EventAccountReactivated: the account's
	// standing changed (SPEC §5).
	EventAccountSuspended   EventType = "account.suspended"
	EventAccountReactivated EventType = "account.reactivated"
	// EventRunCompleted: a billing run finalized its last invoice (run id,
	// period, counts).
	EventRunCompleted EventType = "run.completed"
)

// EventTypes lists every event type, in the order the README documents
// them.
func EventTypes() []EventType {
	return []EventType{EventInvoiceFinalized, EventInvoicePaid, EventInvoicePaymentFailed, EventInvoiceOverdue,
		EventInvoiceVoided, EventCreditNoteIssued, EventCreditAdded, EventAccountSuspended, EventAccountReactivated,
		EventRunCompleted}
}

// Valid reports whether t is one of EventTypes.
func (t EventType) Valid() bool {
	for _, k := range EventTypes() {
		if k == t {
			return true
		}
	}
	return false
}

// Event is one event an operation emits, in its transaction (SPEC §11).
type Event struct {
	Type EventType
	// AccountID is the account the event is about ("" for a run's).
	AccountID string
	At        time.Time
	// InvoiceID, for an invoice.* event, is the invoice whose JSON, as it
	// stands when the event is written, is the event's data: the operation
	// need not build it.
	InvoiceID *int64
	// CreditNote, for credit_note.issued, is the credit note's number: its
	// JSON is the data.
	CreditNote string
	// Data holds the event's own fields, added to the invoice's JSON when
	// there is one: plain values, money already formatted (FormatMoney).
	Data map[string]any
}

// PaymentFailureDates are the dates an invoice.payment_failed event
// announces for an invoice issued (and first collected) at t0 whose attempt failed at
// at: the next daily retry (nil when none is left, SPEC §5), and when the
// account is suspended if the invoice stays unpaid (t0 + 5 days, once the
// last retry has failed).
func PaymentFailureDates(t0, at time.Time) (nextRetry *time.Time, suspension time.Time) {
	suspension = t0.Add(DunningRetries * DunningInterval)
	if next := DueSlot(t0, at) + 1; next <= DunningRetries {
		t := t0.Add(time.Duration(next) * DunningInterval)
		nextRetry = &t
	}
	return nextRetry, suspension
}
