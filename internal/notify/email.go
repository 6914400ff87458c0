package notify

import (
	"bytes"
	"fmt"
	htmltemplate "html/template"
	"strings"
	"sync"
	"text/template"
	"time"

	"github.com/shopspring/decimal"
	"github.com/wneessen/go-mail"

	"github.com/billingengine/engine/billing"
)

// EmailInput is everything one customer email shows (SPEC §12), read from
// its event, the account and the settings when it is sent.
type EmailInput struct {
	Template billing.EmailTemplate
	Language billing.Language
	// Name and To are the account's name and address.
	Name, To string
	// Seller signs the email.
	Seller string
	// TestMode: sandbox mode, said in the subject and the first line.
	TestMode bool
	// PortalURL is where the customer fixes a payment method; "" leaves
	// that sentence out (the portal of SPEC §14 is not served yet).
	PortalURL string
	// Location is the time zone dates are shown in (UTC when nil).
	Location *time.Location

	// The invoice (invoice_issued, payment_failed, suspension_warning).
	InvoiceNumber, Period string
	Total, AmountDue      decimal.Decimal
	// SEPA is the pre-notification of a SEPA debit (invoice_issued).
	SEPA *SEPANotice
	// DeclineCode is the processor's code of a failed payment; NextRetry
	// the next daily retry (nil when none is left), Suspension when the
	// account is suspended if the invoice stays unpaid.
	DeclineCode string
	NextRetry   *time.Time
	Suspension  time.Time

	// The credit (credit_receipt): amount, ledger kind and reference.
	CreditAmount    decimal.Decimal
	CreditKind      string
	CreditReference string

	// Attachments: the invoice's PDF (a business buyer's is its Factur-X,
	// the e-invoice embedded).
	Attachments []Attachment
}

// SEPANotice is what a SEPA pre-notification states: the amount (the
// invoice's amount due), the debit date, the mandate and the creditor.
type SEPANotice struct {
	DebitDate        time.Time
	MandateReference string
	CreditorID       string
}

// Attachment is a file attached to an email.
type Attachment struct {
	Name, ContentType string
	Data              []byte
}

// Rendered is an email's subject and bodies.
type Rendered struct {
	Subject, Text, HTML string
}

// strings per language and template: a subject and the paragraphs of the
// body, each a text/template over a view of the input.
type texts struct {
	subject string
	body    []string
}

var catalog = map[billing.Language]map[billing.EmailTemplate]texts{
	billing.LanguageEnglish: {
		billing.EmailInvoiceIssued: {
			subject: "Your invoice {{.Number}} for {{.Period}}",
			body: []string{
				"Hello {{.Name}},",
				"Your invoice {{.Number}} for {{.Period}} is attached: total {{.Total}}, amount due {{.Due}}.",
				"{{if .SEPA}}SEPA direct debit pre-notification: {{.Due}} will be debited from your account on {{.DebitDate}} under mandate {{.Mandate}}, creditor identifier {{.Creditor}}.{{end}}",
				"{{if .Carryover}}Your referral discount exceeded this month's charges: the rest was added to your prepaid credit.{{end}}",
			},
		},
		billing.EmailPaymentFailed: {
			subject: "Payment failed for invoice {{.Number}}",
			body: []string{
				"Hello {{.Name}},",
				"We could not collect {{.Due}} for invoice {{.Number}}: {{.Reason}}.",
				"{{if .NextRetry}}We will try again on {{.NextRetry}}.{{else}}No retry is left.{{end}} If the invoice is still unpaid, your account will be suspended on {{.Suspension}}.",
				"To fix it, add a working payment method or prepaid credit{{if .Portal}}: {{.Portal}}{{end}}.",
			},
		},
		billing.EmailSuspensionWarning: {
			subject: "Your account will be suspended on {{.Suspension}}",
			body: []string{
				"Hello {{.Name}},",
				"Invoice {{.Number}} ({{.Due}}) is still unpaid. We will try one last time on {{.NextRetry}}; if it fails, your account will be suspended on {{.Suspension}}.",
				"To avoid it, add a working payment method or prepaid credit today{{if .Portal}}: {{.Portal}}{{end}}.",
			},
		},
		billing.EmailSuspended: {
			subject: "Your account is suspended",
			body: []string{
				"Hello {{.Name}},",
				"Your account is suspended because an invoice remains unpaid after every retry.",
				"Add a working payment method or prepaid credit{{if .Portal}} ({{.Portal}}){{end}}: the open invoices are then collected at once and your account is reactivated.",
			},
		},
		billing.EmailReactivated: {
			subject: "Your account is active again",
			body: []string{
				"Hello {{.Name}},",
				"Your overdue invoices are paid: your account is active again. Thank you.",
			},
		},
		billing.EmailCreditReceipt: {
			subject: "Receipt: {{.Credit}} of prepaid credit",
			body: []string{
				"Hello {{.Name}},",
				"{{.Credit}} of prepaid credit was added to your account ({{.CreditHow}}, reference {{.Reference}}).",
				"It pays your next invoices before any other payment method.",
			},
		},
	},
	billing.LanguageFrench: {
		billing.EmailInvoiceIssued: {
			subject: "Votre facture {{.Number}} pour {{.Period}}",
			body: []string{
				"Bonjour {{.Name}},",
				"Votre facture {{.Number}} pour {{.Period}} est jointe : total {{.Total}}, montant dû {{.Due}}.",
				"{{if .SEPA}}Pré-notification de prélèvement SEPA : {{.Due}} sera prélevé sur votre compte le {{.DebitDate}} au titre du mandat {{.Mandate}}, identifiant créancier {{.Creditor}}.{{end}}",
				"{{if .Carryover}}Votre remise de parrainage dépasse les frais du mois : le reste a été ajouté à votre crédit prépayé.{{end}}",
			},
		},
		billing.EmailPaymentFailed: {
			subject: "Échec du paiement de la facture {{.Number}}",
			body: []string{
				"Bonjour {{.Name}},",
				"Nous n'avons pas pu encaisser {{.Due}} pour la facture {{.Number}} : {{.Reason}}.",
				"{{if .NextRetry}}Nous réessaierons le {{.NextRetry}}.{{else}}Aucune nouvelle tentative n'est prévue.{{end}} Si la facture reste impayée, votre compte sera suspendu le {{.Suspension}}.",
				"Pour régulariser, ajoutez un moyen de paiement valide ou du crédit prépayé{{if .Portal}} : {{.Portal}}{{end}}.",
			},
		},
		billing.EmailSuspensionWarning: {
			subject: "Votre compte sera suspendu le {{.Suspension}}",
			body: []string{
				"Bonjour {{.Name}},",
				"La facture {{.Number}} ({{.Due}}) reste impayée. Nous réessaierons une dernière fois le {{.NextRetry}} ; en cas d'échec, votre compte sera suspendu le {{.Suspension}}.",
				"Pour l'éviter, ajoutez dès aujourd'hui un moyen de paiement valide ou du crédit prépayé{{if .Portal}} : {{.Portal}}{{end}}.",
			},
		},
		billing.EmailSuspended: {
			subject: "Votre compte est suspendu",
			body: []string{
				"Bonjour {{.Name}},",
				"Votre compte est suspendu car une facture reste impayée après toutes les tentatives.",
				"Ajoutez un moyen de paiement valide ou du crédit prépayé{{if .Portal}} ({{.Portal}}){{end}} : les factures ouvertes sont alors encaissées aussitôt et votre compte est réactivé.",
			},
		},
		billing.EmailReactivated: {
			subject: "Votre compte est de nouveau actif",
			body: []string{
				"Bonjour {{.Name}},",
				"Vos factures en retard sont payées : votre compte est de nouveau actif. Merci.",
			},
		},
		billing.EmailCreditReceipt: {
			subject: "Reçu : {{.Credit}} de crédit prépayé",
			body: []string{
				"Bonjour {{.Name}},",
				"{{.Credit}} de crédit prépayé ont été ajoutés à votre compte ({{.CreditHow}}, référence {{.Reference}}).",
				"Ce crédit règle vos prochaines factures avant tout autre moyen de paiement.",
			},
		},
	},
}

// compiled is a catalog entry parsed.
type compiled struct {
	subject *template.Template
	body    []*template.Template
}

// compiledCatalog is the catalog parsed once: parsing five templates for
// every email sent cost more than executing them.
var compiledCatalog = sync.OnceValue(func() map[billing.Language]map[billing.EmailTemplate]compiled {
	parse := func(src string) *template.Template {
		return template.Must(template.New("").Option("missingkey=error").Parse(src))
	}
	out := map[billing.Language]map[billing.EmailTemplate]compiled{}
	for lang, byTemplate := range catalog {
		out[lang] = map[billing.EmailTemplate]compiled{}
		for t, tx := range byTemplate {
			c := compiled{subject: parse(tx.subject)}
			for _, p := range tx.body {
				c.body = append(c.body, parse(p))
			}
			out[lang][t] = c
		}
	}
	return out
})

// declines are the processors' codes in plain words.
var declines = map[billing.Language]map[string]string{
	billing.LanguageEnglish: {
		"generic_decline":    "your bank declined the card",
		"insufficient_funds": "the card has insufficient funds",
		"expired_card":       "the card has expired",
		"card_declined":      "your bank declined the card",
		"sepa_debit_failed":  "the SEPA direct debit was refused by your bank",
		"":                   "the payment was refused",
	},
	billing.LanguageFrench: {
		"generic_decline":    "votre banque a refusé la carte",
		"insufficient_funds": "le solde de la carte est insuffisant",
		"expired_card":       "la carte a expiré",
		"card_declined":      "votre banque a refusé la carte",
		"sepa_debit_failed":  "le prélèvement SEPA a été refusé par votre banque",
		"":                   "le paiement a été refusé",
	},
}

// DeclineReason is a decline code in plain words.
func DeclineReason(code string, lang billing.Language) string {
	if s, ok := declines[lang][code]; ok {
		return s
	}
	if strings.Contains(code, "sepa") || strings.Contains(code, "debit") {
		return declines[lang]["sepa_debit_failed"]
	}
	return declines[lang][""]
}

var monthsFR = []string{"janvier", "février", "mars", "avril", "mai", "juin", "juillet", "août", "septembre",
	"octobre", "novembre", "décembre"}

// FormatDate is a date for a reader of lang: "2 mars 2026", "2 March 2026".
func FormatDate(t time.Time, lang billing.Language, loc *time.Location) string {
	if loc == nil {
		loc = time.UTC
	}
	t = t.In(loc)
	if lang == billing.LanguageFrench {
		return fmt.Sprintf("%d %s %d", t.Day(), monthsFR[t.Month()-1], t.Year())
	}
	return t.Format("2 January 2006")
}

// view is what the templates see: every value already formatted.
type view struct {
	Name, Number, Period, Total, Due, Reason, NextRetry, Suspension string
	SEPA                                                            bool
	DebitDate, Mandate, Creditor                                    string
	Carryover                                                       bool
	Credit, CreditHow, Reference, Portal                            string
}

func (in *EmailInput) view() view {
	lang := in.Language
	money := func(d decimal.Decimal) string { return billing.FormatMoneyIn(billing.MoneyOf(d), lang) }
	date := func(t time.Time) string { return FormatDate(t, lang, in.Location) }
	v := view{Name: in.Name, Number: in.InvoiceNumber, Period: in.Period, Total: money(in.Total), Due: money(in.AmountDue),
		Reason: DeclineReason(in.DeclineCode, lang), Suspension: date(in.Suspension), Portal: in.PortalURL,
		Credit: money(in.CreditAmount), Reference: in.CreditReference, Carryover: in.Total.IsZero()}
	if in.NextRetry != nil {
		v.NextRetry = date(*in.NextRetry)
	}
	if in.SEPA != nil {
		v.SEPA, v.DebitDate, v.Mandate, v.Creditor = true, date(in.SEPA.DebitDate), in.SEPA.MandateReference, in.SEPA.CreditorID
	}
	switch {
	case in.CreditKind == "paypal_purchase" && lang == billing.LanguageFrench:
		v.CreditHow = "achat PayPal"
	case in.CreditKind == "paypal_purchase":
		v.CreditHow = "PayPal purchase"
	case lang == billing.LanguageFrench:
		v.CreditHow = "crédit manuel"
	default:
		v.CreditHow = "added by our team"
	}
	return v
}

var htmlPage = htmltemplate.Must(htmltemplate.New("email").Parse(`<!DOCTYPE html>
<html lang="{{.Lang}}"><head><meta charset="utf-8"><title>{{.Subject}}</title></head>
<body style="font-family: sans-serif; line-height: 1.4; color: #222;">
{{if .TestMode}}<p style="background: #fde68a; padding: 4px 8px; font-weight: bold;">TEST MODE</p>
{{end}}{{range .Paragraphs}}<p>{{.}}</p>
{{end}}<p>{{.Signature}}</p>
</body></html>
`))

// Render builds an email's subject and bodies in its language. In test
// mode the subject starts with [TEST MODE] and the body with TEST MODE.
func Render(in *EmailInput) (*Rendered, error) {
	lang := in.Language
	if !lang.Valid() {
		lang = billing.LanguageFrench
	}
	tx, ok := compiledCatalog()[lang][in.Template]
	if !ok {
		return nil, fmt.Errorf("no email template %q", in.Template)
	}
	in2 := *in
	in2.Language = lang
	v := in2.view()
	var b bytes.Buffer
	exec := func(t *template.Template) (string, error) {
		b.Reset()
		if err := t.Execute(&b, v); err != nil {
			return "", err
		}
		return strings.TrimSpace(b.String()), nil
	}
	subject, err := exec(tx.subject)
	if err != nil {
		return nil, err
	}
	var paras []string
	for _, p := range tx.body {
		s, err := exec(p)
		if err != nil {
			return nil, err
		}
		if s != "" {
			paras = append(paras, s)
		}
	}
	sig := in.Seller
	if sig == "" {
		sig = "Billing"
	}
	if in.TestMode {
		subject = "[TEST MODE] " + subject
	}
	var text strings.Builder
	if in.TestMode {
		text.WriteString("TEST MODE\n\n")
	}
	for _, p := range paras {
		text.WriteString(p + "\n\n")
	}
	text.WriteString("-- \n" + sig + "\n")
	var html bytes.Buffer
	err = htmlPage.Execute(&html, map[string]any{"Lang": string(lang), "Subject": subject, "TestMode": in.TestMode,
		"Paragraphs": paras, "Signature": sig})
	if err != nil {
		return nil, err
	}
	return &Rendered{Subject: subject, Text: text.String(), HTML: html.String()}, nil
}

// MessageID is an email's stable Message-ID (without the angle brackets):
// the event id and the template at the sender's domain, so that a resend
// is recognised as the same message.
func MessageID(eventID string, t billing.EmailTemplate, fromDomain string) string {
	return eventID + "." + string(t) + "@" + fromDomain
}

// BuildMessage is the email as go-mail sends it: From, To, Subject, the
// stable Message-ID, Date, the text and HTML alternatives and the
// attachments.
func BuildMessage(in *EmailInput, from, messageID string, date time.Time) (*mail.Msg, error) {
	r, err := Render(in)
	if err != nil {
		return nil, err
	}
	return buildMessage(in, r, from, messageID, date)
}

// buildMessage is BuildMessage of an email already rendered.
func buildMessage(in *EmailInput, r *Rendered, from, messageID string, date time.Time) (*mail.Msg, error) {
	m := mail.NewMsg(mail.WithNoDefaultUserAgent())
	if err := m.From(from); err != nil {
		return nil, fmt.Errorf("BILLING_MAIL_FROM %q: %w", from, err)
	}
	if err := m.To(in.To); err != nil {
		return nil, fmt.Errorf("recipient %q: %w", in.To, err)
	}
	m.Subject(r.Subject)
	m.SetMessageIDWithValue(messageID)
	m.SetDateWithValue(date)
	m.SetGenHeader(mail.Header("X-Billing-Template"), string(in.Template))
	m.SetBodyString(mail.TypeTextPlain, r.Text)
	m.AddAlternativeString(mail.TypeTextHTML, r.HTML)
	for _, a := range in.Attachments {
		ct := mail.ContentType(a.ContentType)
		if err := m.AttachReader(a.Name, bytes.NewReader(a.Data), mail.WithFileContentType(ct)); err != nil {
			return nil, err
		}
	}
	return m, nil
}
