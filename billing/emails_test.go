package billing

import (
	"slices"
	"testing"
	"time"

	"github.com/shopspring/decimal"
)

func TestFormatMoneyIn(t *testing.T) {
	cases := []struct {
		in     string
		fr, en string
	}{
		{"0", "0,00\u00a0€", "€0.00"},
		{"5", "5,00\u00a0€", "€5.00"},
		{"999.99", "999,99\u00a0€", "€999.99"},
		{"1234.56", "1\u202f234,56\u00a0€", "€1,234.56"},
		{"1234567.8", "1\u202f234\u202f567,80\u00a0€", "€1,234,567.80"},
		{"-12.5", "-12,50\u00a0€", "-€12.50"},
	}
	for _, c := range cases {
		d := decimal.RequireFromString(c.in)
		if got := FormatMoneyIn(d, LanguageFrench); got != c.fr {
			t.Errorf("fr %s: %q, want %q", c.in, got, c.fr)
		}
		if got := FormatMoneyIn(d, LanguageEnglish); got != c.en {
			t.Errorf("en %s: %q, want %q", c.in, got, c.en)
		}
	}
}

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
