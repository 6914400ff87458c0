package billing

import "time"

// Effects is what a domain operation implies beyond the rows it wrote:
// work that must follow in the same transaction, said as data. The
// operation (payments, invoices) returns it instead of calling up into
// the packages that do that work; jobs.Enqueue applies it, in the caller's
// transaction, from every entry point alike (CLI, HTTP, webhooks,
// workers). So a consequence is written once, where the change is decided,
// and no entry point can forget one.
//
// The zero value implies nothing. Effects are merged with Merge when one
// transaction does several operations.
type Effects struct {
	// CollectOpenInvoices names accounts whose open invoices must be
	// collected now: prepaid credit grew, or a new payment method was set
	// (SPEC §5). Enqueue looks the invoices up when it applies the effect,
	// so an invoice opened later in the same transaction is included.
	CollectOpenInvoices []string
	// CheckStanding names accounts whose standing (SPEC §5) must be decided
	// again because an overdue invoice of theirs may no longer count: a
	// suspended one with nothing overdue left is reactivated, at At.
	CheckStanding []string
	// Timeline is the events to append to the accounts' timelines, in
	// order, after those already written in the transaction.
	Timeline []TimelineEvent
	// Events is what other services learn of the operation (SPEC §11), in
	// order: Enqueue writes them in the transaction, with their webhook
	// deliveries.
	Events []Event
	// Render names invoices and credit notes whose PDF must be rendered
	// (again): what they show changed.
	Render []string
	// At is when the operation happened: the time a standing decided
	// because of it is recorded at. Zero means the time Enqueue runs.
	At time.Time
}

// TimelineKind names an event of an account's timeline, as internal/accounts
// records it and reads it back. Kinds are part of the timeline's JSON (SPEC
// §7): they never change.
type TimelineKind string

// The timeline's kinds.
const (
	TimelineInvoiceIssued    TimelineKind = "invoice_issued"
	TimelineInvoiceVoided    TimelineKind = "invoice_voided"
	TimelinePaymentSucceeded TimelineKind = "payment_succeeded"
	TimelinePaymentDeclined  TimelineKind = "payment_declined"
	TimelinePaymentPending   TimelineKind = "payment_processing"
	TimelinePaymentFailed    TimelineKind = "payment_failed"
	TimelineCreditAdded      TimelineKind = "credit_added"
	TimelineCreditApplied    TimelineKind = "credit_applied"
	TimelineSuspended        TimelineKind = "suspended"
	TimelineReactivated      TimelineKind = "reactivated"
	TimelineMethodChanged    TimelineKind = "payment_method_changed"
	// TimelineReferralReversed: a reward this account earned was taken
	// back, its referee's invoice having been voided.
	TimelineReferralReversed TimelineKind = "referral_reversed"
	// TimelineRefunded: a payment on a void invoice went to prepaid credit.
	TimelineRefunded TimelineKind = "refunded_to_credit"
	// TimelineAccountUpdated: a re-import changed the account's legal data
	// (address, VAT number, SIREN or language); its data names the fields
	// and holds their values before and after.
	TimelineAccountUpdated TimelineKind = "account_updated"
)

// TimelineEvent is one event an operation adds to an account's timeline.
type TimelineEvent struct {
	AccountID string
	At        time.Time
	Kind      TimelineKind
	// InvoiceID is the invoice the event is about, if any.
	InvoiceID *int64
	// Data is the event's JSON object (nil is recorded as {}): plain
	// values, money already formatted (FormatMoney), so that the row reads
	// as the timeline shows it.
	Data map[string]any
}

// Merge returns e followed by o: lists are concatenated in that order (an
// account named twice is collected or checked once: Enqueue's queries are
// by set), and At is the later of the two.
func (e Effects) Merge(o Effects) Effects {
	at := e.At
	if o.At.After(at) {
		at = o.At
	}
	return Effects{
		CollectOpenInvoices: concat(e.CollectOpenInvoices, o.CollectOpenInvoices),
		CheckStanding:       concat(e.CheckStanding, o.CheckStanding),
		Timeline:            concat(e.Timeline, o.Timeline),
		Events:              concat(e.Events, o.Events),
		Render:              concat(e.Render, o.Render),
		At:                  at,
	}
}

// Empty reports whether e implies nothing.
func (e Effects) Empty() bool {
	return len(e.CollectOpenInvoices) == 0 && len(e.CheckStanding) == 0 && len(e.Timeline) == 0 && len(e.Events) == 0 && len(e.Render) == 0
}

// concat copies, so that merged Effects never share an array with their
// parts: appending to one must not change the other.
func concat[T any](a, b []T) []T {
	if len(a)+len(b) == 0 {
		return nil
	}
	out := make([]T, 0, len(a)+len(b))
	return append(append(out, a...), b...)
}
