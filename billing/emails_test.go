package billing

import (
	"slices"
	"testing"
	"time"
)

func TestEmailsFor(t *testing.T) {
	t0 := time.Date(2026, 3, 1, 0, 30, 0, 0, time.UTC)
	day := func(k int) *time.Time { x := t0.Add(time.Duration(k) * DunningInterval); return &x }
	susp := *day(DunningRetries)
	cases := []struct {
		name string
		t    EventType
		f    EmailFacts
		want []EmailTemplate
	}{
		{"invoice", EventInvoiceFinalized, EmailFacts{}, []EmailTemplate{EmailInvoiceIssued}},
		{"zero invoice", EventInvoiceFinalized, EmailFacts{ZeroTotal: true}, nil},
		{"zero invoice with carry-over", EventInvoiceFinalized, EmailFacts{ZeroTotal: true, Carryover: true}, []EmailTemplate{EmailInvoiceIssued}},
		{"first failure", EventInvoicePaymentFailed, EmailFacts{NextRetry: day(1), Suspension: susp}, []EmailTemplate{EmailPaymentFailed}},
		{"fourth retry failed: day before suspension", EventInvoicePaymentFailed, EmailFacts{NextRetry: day(5), Suspension: susp},
			[]EmailTemplate{EmailPaymentFailed, EmailSuspensionWarning}},
		{"last retry failed", EventInvoicePaymentFailed, EmailFacts{Suspension: susp}, []EmailTemplate{EmailPaymentFailed}},
		{"suspended", EventAccountSuspended, EmailFacts{}, []EmailTemplate{EmailSuspended}},
		{"reactivated", EventAccountReactivated, EmailFacts{}, []EmailTemplate{EmailReactivated}},
		{"paypal", EventCreditAdded, EmailFacts{CreditKind: "paypal_purchase"}, []EmailTemplate{EmailCreditReceipt}},
		{"manual", EventCreditAdded, EmailFacts{CreditKind: "manual_credit"}, []EmailTemplate{EmailCreditReceipt}},
		{"referral reward", EventCreditAdded, EmailFacts{CreditKind: "referral_reward"}, nil},
		{"paid", EventInvoicePaid, EmailFacts{}, nil},
		{"run", EventRunCompleted, EmailFacts{}, nil},
	}
	for _, c := range cases {
		if got := EmailsFor(c.t, c.f); !slices.Equal(got, c.want) {
			t.Errorf("%s: %v, want %v", c.name, got, c.want)
		}
	}
}
