package notify

import (
	"bytes"
	netmail "net/mail"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"github.com/billingengine/engine/billing"
)

func sampleInput(t billing.EmailTemplate, lang billing.Language) *EmailInput {
	t0 := time.Date(2026, 3, 1, 0, 30, 0, 0, time.UTC)
	next := t0.Add(4 * 24 * time.Hour)
	return &EmailInput{Template: t, Language: lang, Name: "Ada & Co", To: "ada@example.com", Seller: "Billing SAS",
		InvoiceNumber: "INV-2026-000001", Period: "2026-02", Total: decimal.RequireFromString("1234.56"),
		AmountDue: decimal.RequireFromString("1234.56"), DeclineCode: "insufficient_funds", NextRetry: &next,
		Suspension: t0.Add(5 * 24 * time.Hour), CreditAmount: decimal.RequireFromString("50"), CreditKind: "paypal_purchase",
		CreditReference: "CAP-1"}
}

func TestRenderEveryTemplate(t *testing.T) {
	want := map[billing.Language]map[billing.EmailTemplate][]string{
		billing.LanguageEnglish: {
			billing.EmailInvoiceIssued:     {"Your invoice INV-2026-000001 for 2026-02", "€1,234.56"},
			billing.EmailPaymentFailed:     {"Payment failed for invoice INV-2026-000001", "the card has insufficient funds", "5 March 2026", "6 March 2026"},
			billing.EmailSuspensionWarning: {"suspended on 6 March 2026", "one last time on 5 March 2026"},
			billing.EmailSuspended:         {"Your account is suspended"},
			billing.EmailReactivated:       {"Your account is active again"},
			billing.EmailCreditReceipt:     {"Receipt: €50.00 of prepaid credit", "PayPal purchase", "CAP-1"},
		},
		billing.LanguageFrench: {
			billing.EmailInvoiceIssued:     {"Votre facture INV-2026-000001 pour 2026-02", "1\u202f234,56\u00a0€"},
			billing.EmailPaymentFailed:     {"Échec du paiement de la facture INV-2026-000001", "le solde de la carte est insuffisant", "5 mars 2026", "6 mars 2026"},
			billing.EmailSuspensionWarning: {"suspendu le 6 mars 2026", "dernière fois le 5 mars 2026"},
			billing.EmailSuspended:         {"Votre compte est suspendu"},
			billing.EmailReactivated:       {"Votre compte est de nouveau actif"},
			billing.EmailCreditReceipt:     {"Reçu : 50,00\u00a0€ de crédit prépayé", "achat PayPal", "CAP-1"},
		},
	}
	for lang, byTpl := range want {
		for _, tpl := range billing.EmailTemplates() {
			r, err := Render(sampleInput(tpl, lang))
			if err != nil {
				t.Fatalf("%s %s: %v", lang, tpl, err)
			}
			all := r.Subject + "\n" + r.Text
			for _, s := range byTpl[tpl] {
				if !strings.Contains(all, s) {
					t.Errorf("%s %s: %q not in\n%s", lang, tpl, s, all)
				}
			}
			if strings.Contains(all, "TEST MODE") || strings.Contains(all, "<no value>") {
				t.Errorf("%s %s: live email says TEST MODE or misses a value:\n%s", lang, tpl, all)
			}
			if !strings.Contains(r.HTML, "Ada &amp; Co") || strings.Contains(r.HTML, "Ada & Co") {
				t.Errorf("%s %s: HTML does not escape the name:\n%s", lang, tpl, r.HTML)
			}
			if strings.Contains(r.HTML, "http") {
				t.Errorf("%s %s: HTML refers to something external:\n%s", lang, tpl, r.HTML)
			}
			// EMAILS_SAMPLES=DIR keeps every HTML part to look at
			// (chromium --headless --screenshot turns them into pictures).
			if dir := os.Getenv("EMAILS_SAMPLES"); dir != "" {
				if err := os.WriteFile(filepath.Join(dir, string(lang)+"-"+string(tpl)+".html"), []byte(r.HTML), 0o644); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
}

func TestRenderTestModeAndPortal(t *testing.T) {
	for _, lang := range []billing.Language{billing.LanguageFrench, billing.LanguageEnglish} {
		for _, tpl := range billing.EmailTemplates() {
			in := sampleInput(tpl, lang)
			in.TestMode = true
			r, err := Render(in)
			if err != nil {
				t.Fatal(err)
			}
			if !strings.HasPrefix(r.Subject, "[TEST MODE] ") || !strings.HasPrefix(r.Text, "TEST MODE\n") || !strings.Contains(r.HTML, "TEST MODE") {
				t.Errorf("%s %s: TEST MODE missing: %q / %q", lang, tpl, r.Subject, r.Text)
			}
		}
		in := sampleInput(billing.EmailPaymentFailed, lang)
		r, _ := Render(in)
		if strings.Contains(r.Text, "portal") {
			t.Errorf("%s: a portal sentence without a portal URL:\n%s", lang, r.Text)
		}
		in.PortalURL = "https://billing.example.com/portal/"
		r, _ = Render(in)
		if !strings.Contains(r.Text, "https://billing.example.com/portal/") {
			t.Errorf("%s: the portal URL is missing:\n%s", lang, r.Text)
		}
	}
}

func TestRenderSEPAPreNotification(t *testing.T) {
	in := sampleInput(billing.EmailInvoiceIssued, billing.LanguageFrench)
	in.SEPA = &SEPANotice{DebitDate: time.Date(2026, 3, 4, 0, 30, 0, 0, time.UTC), MandateReference: "MNDT-42", CreditorID: "FR12ZZZ123456"}
	r, err := Render(in)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{"Pré-notification de prélèvement SEPA", "1\u202f234,56\u00a0€ sera prélevé", "le 4 mars 2026", "MNDT-42", "FR12ZZZ123456"} {
		if !strings.Contains(r.Text, s) {
			t.Errorf("%q not in\n%s", s, r.Text)
		}
	}
	in.SEPA = nil
	r, _ = Render(in)
	if strings.Contains(r.Text, "SEPA") {
		t.Errorf("a card invoice mentions SEPA:\n%s", r.Text)
	}
}

func TestBuildMessage(t *testing.T) {
	in := sampleInput(billing.EmailInvoiceIssued, billing.LanguageEnglish)
	in.Attachments = []Attachment{{Name: "INV-2026-000001.pdf", ContentType: "application/pdf", Data: []byte("%PDF-1.4 test")}}
	id := MessageID("evt_00000000000000010000000000000002", billing.EmailInvoiceIssued, "example.com")
	m, err := BuildMessage(in, "Billing <billing@example.com>", id, time.Date(2026, 3, 1, 0, 30, 0, 0, time.UTC))
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	if _, err := m.WriteTo(&b); err != nil {
		t.Fatal(err)
	}
	s := b.String()
	parsed, err := netmail.ReadMessage(strings.NewReader(s))
	if err != nil {
		t.Fatal(err)
	}
	if got := parsed.Header.Get("Message-Id"); got != "<evt_00000000000000010000000000000002.invoice_issued@example.com>" {
		t.Errorf("Message-ID %q", got)
	}
	for _, want := range []string{"multipart/alternative",
		"text/plain", "text/html", `filename="INV-2026-000001.pdf"`, "application/pdf", "To: <ada@example.com>"} {
		if !strings.Contains(s, want) {
			t.Errorf("%q not in the message:\n%s", want, s)
		}
	}
	if _, err := BuildMessage(in, "not an address", id, time.Now()); err == nil {
		t.Error("a From that is not an address was accepted")
	}
}
