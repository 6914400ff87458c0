package billing

import (
	"time"
)

// EmailTemplate names a customer email (SPEC §12). Each email derives from
// one event; an event may give several (a failed payment the day before
// suspension is also the warning). The name is part of the email's
// Message-ID, so a template never changes name.
type EmailTemplate string

// The templates.
const (
	EmailInvoiceIssued     EmailTemplate = "invoice_issued"
	EmailPaymentFailed     EmailTemplate = "payment_failed"
	EmailSuspensionWarning EmailTemplate = "suspension_warning"
	EmailSuspended         EmailTemplate = "suspended"
	EmailReactivated       EmailTemplate = "reactivated"
	EmailCreditReceipt     EmailTemplate = "credit_receipt"
)

// EmailTemplates lists every template.
func EmailTemplates() []EmailTemplate {
	return []EmailTemplate{EmailInvoiceIssued, EmailPaymentFailed, EmailSuspensionWarning, EmailSuspended,
		EmailReactivated, EmailCreditReceipt}
}

// EmailFacts is what the derivation needs to know of an event beyond its
// type.
type EmailFacts struct {
	// ZeroTotal: the invoice's total is 0.00; Carryover: it shows a
	// referral carry-over line (its total went to prepaid credit).
	ZeroTotal, Carryover bool
	// NextRetry and Suspension are an invoice.payment_failed event's dates.
	NextRetry  *time.Time
	Suspension time.Time
	// CreditKind is a credit.added event's ledger kind.
	CreditKind string
}

// EmailsFor is the derivation event → emails: the templates an event
// gives, none for the events customers are not told of.
//
//   - invoice.finalized: the invoice, except a zero-total invoice that
//     shows no referral carry-over (nothing to pay, nothing to tell);
//   - invoice.payment_failed: the failure; when its next retry is the last
//     one, due when the account is suspended if it fails (the day before
//     suspension), the warning too;
//   - account.suspended, account.reactivated: their emails;
//   - credit.added: a receipt for credit bought with PayPal or added by
//     hand (a referral reward is announced on the invoice).
func EmailsFor(t EventType, f EmailFacts) []EmailTemplate {
	switch t {
	case EventInvoiceFinalized:
		if f.ZeroTotal && !f.Carryover {
			return nil
		}
		return []EmailTemplate{EmailInvoiceIssued}
	case EventInvoicePaymentFailed:
		out := []EmailTemplate{EmailPaymentFailed}
		if f.NextRetry != nil && !f.NextRetry.Before(f.Suspension) {
			out = append(out, EmailSuspensionWarning)
		}
		return out
	case EventAccountSuspended:
		return []EmailTemplate{EmailSuspended}
	case EventAccountReactivated:
		return []EmailTemplate{EmailReactivated}
	case EventCreditAdded:
		if f.CreditKind == "paypal_purchase" || f.CreditKind == "manual_credit" {
			return []EmailTemplate{EmailCreditReceipt}
		}
		return nil
	case EventInvoicePaid, EventInvoiceOverdue, EventInvoiceVoided, EventCreditNoteIssued, EventRunCompleted:
		return nil
	}
	return nil
}
