package portal

import (
	"embed"
	"fmt"
	"html/template"
	"io"
	"net/http"
	"time"

	"github.com/billingengine/engine/billing"
	"github.com/billingengine/engine/internal/accounts"
	"github.com/billingengine/engine/internal/views"
	"github.com/billingengine/engine/invoices"
)

//go:embed assets/style.css assets/card.js
var assets embed.FS

// Stylesheet serves the pages' one CSS file.
func Stylesheet(w http.ResponseWriter, _ *http.Request) {
	b, _ := assets.ReadFile("assets/style.css")
	w.Header().Set("Content-Type", "text/css; charset=utf-8")
	w.Header().Set("Cache-Control", "max-age=3600")
	_, _ = w.Write(b)
}

// CardScript serves the card page's script, the pages' only one: it
// mounts Stripe's card Element and confirms the SetupIntent (PageCard).
func CardScript(w http.ResponseWriter, _ *http.Request) {
	b, _ := assets.ReadFile("assets/card.js")
	w.Header().Set("Content-Type", "text/javascript; charset=utf-8")
	w.Header().Set("Cache-Control", "max-age=3600")
	_, _ = w.Write(b)
}

// StripeJS is the one script from elsewhere, on the card page alone: a
// card's number is typed into Stripe's own form and goes to Stripe, never
// through this server, so Stripe.js must come from Stripe.
const StripeJS = "https://js.stripe.com/v3/"

// CardPageCSP is the card page's Content-Security-Policy: the other pages'
// (no script at all) plus what Stripe.js needs, as Stripe documents it:
// its script, its frames (the card field; 3-D Secure on hooks.stripe.com)
// and its API.
const CardPageCSP = "default-src 'none'; script-src 'self' https://js.stripe.com; frame-src https://js.stripe.com https://hooks.stripe.com; " +
	"connect-src https://api.stripe.com; style-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"

// Page names the pages.
type Page string

const (
	PageOverview  Page = "overview"
	PageBilling   Page = "billing"
	PageReferrals Page = "referrals"
	PageTimeline  Page = "timeline"
	PageError     Page = "error"
	// PageCard is where a card is entered with Stripe (not in sandbox
	// mode): Stripe.js, StripeKey and ClientSecret, served with
	// CardPageCSP.
	PageCard Page = "card"
)

// Method is the payment method a page shows.
type Method struct {
	Type        string
	ID          string
	MandateRef  string
	MandateIBAN string
}

// Data is what a page shows.
type Data struct {
	Page     Page
	Lang     billing.Language
	CSRF     string
	TestMode bool
	// Flash is a message after a form: OK says whether it is good news.
	Flash string
	OK    bool
	// Error pages: Status and Message.
	Message string

	Account *views.Account
	// Open are the unpaid invoices (open or processing).
	Open []*invoices.Invoice
	// SuspendedAt, when suspended; SuspendsAt, when an overdue invoice
	// will suspend the account on that date.
	SuspendedAt *time.Time
	SuspendsAt  *time.Time
	Method      *Method
	Invoices    []*invoices.Invoice
	Payments    []views.Payment
	Referrals   *views.Referrals
	Timeline    []accounts.Event
	CreditMin   billing.Money
	CreditMax   billing.Money
	PayPal      bool
	// StripeCards: cards are entered in Stripe.js (Stripe mode), not
	// chosen among test ids (sandbox mode). The card page has the
	// publishable key and the SetupIntent's client secret.
	StripeCards  bool
	StripeKey    string
	ClientSecret string
	StripeJS     string
}

// Render writes a page in its language.
func Render(w io.Writer, d *Data) error {
	if !d.Lang.Valid() {
		d.Lang = billing.LanguageEnglish
	}
	return pages.Execute(w, d)
}

var strs = map[billing.Language]map[string]string{
	billing.LanguageEnglish: {
		"title": "Billing", "overview": "Overview", "billing": "Billing", "referrals": "Referrals", "timeline": "Timeline",
		"logout": "Log out", "status": "Status", "active": "Active", "suspended": "Suspended", "balance": "Prepaid credit",
		"unpaid": "Unpaid invoices", "none_unpaid": "Nothing to pay: every invoice is paid.", "number": "Invoice", "period": "Period",
		"due": "Amount due", "issued": "Issued", "state": "Status", "open": "unpaid", "processing": "debit in progress", "paid": "paid", "void": "void",
		"howto":           "To pay, add a card or a SEPA direct debit on the Billing page, or buy prepaid credit: open invoices are then paid at once.",
		"suspended_since": "Your account is suspended since %s: add a payment method or credit to pay the invoices below and reactivate it.",
		"suspends_at":     "Unless the invoices below are paid, your account will be suspended on %s.",
		"methods":         "Payment method", "no_method": "No payment method yet.", "card": "Card", "sepa_debit": "SEPA direct debit",
		"add_card": "Add a card", "card_id": "Card (test mode: a Stripe test id)", "add": "Save this card",
		"enter_card": "Enter a card", "card_stripe": "You type your card into Stripe's secure form: its number goes to Stripe, our payment processor, and never through our servers.",
		"card_field": "Card number, expiry date and security code", "card_holder": "Cardholder's name", "back": "Back to Billing",
		"card_nojs":        "Entering a card needs JavaScript: Stripe's secure form runs in your browser. Turn JavaScript on for this page, or add a SEPA direct debit on the Billing page instead.",
		"card_unavailable": "Stripe's secure form could not be loaded. Check your connection and reload the page, or add a SEPA direct debit instead.",
		"add_sepa":         "Add a SEPA direct debit", "iban": "IBAN", "bic": "BIC (optional)", "holder": "Account holder's name",
		"mandate_consent": "By saving, you sign a SEPA Core mandate online: you authorise us to send instructions to your bank to debit your account, and your bank to debit it accordingly. You are entitled to a refund from your bank within 8 weeks of a debit.",
		"sign":            "Sign the mandate", "mandate": "Mandate", "mandate_pdf": "Download the mandate (PDF)",
		"buy_credit": "Buy prepaid credit with PayPal", "amount": "Amount in euros", "buy": "Pay with PayPal",
		"credit_bounds": "Between %s and %s.", "history": "Payment history", "no_history": "No payment yet.",
		"date": "Date", "amount_col": "Amount", "what": "What", "documents": "Invoices and credit notes", "pdf": "PDF", "credit_note": "Credit note",
		"attempt": "Payment", "credit": "Credit", "ref_link": "Your referral link", "ref_code": "Your code:", "referees": "People you referred",
		"no_referees": "Nobody yet.", "name": "Name", "window": "Window", "months_left": "Months left", "rewards": "Rewards",
		"no_rewards": "No reward yet.", "event": "Event", "no_events": "Nothing yet.", "test_mode": "TEST MODE: nothing is charged",
		"error": "Something went wrong", "skip": "Skip to content",
	},
	billing.LanguageFrench: {
		"title": "Facturation", "overview": "Aperçu", "billing": "Paiement", "referrals": "Parrainage", "timeline": "Chronologie",
		"logout": "Se déconnecter", "status": "Statut", "active": "Actif", "suspended": "Suspendu", "balance": "Crédit prépayé",
		"unpaid": "Factures impayées", "none_unpaid": "Rien à payer : toutes les factures sont réglées.", "number": "Facture", "period": "Période",
		"due": "Reste à payer", "issued": "Émise le", "state": "Statut", "open": "impayée", "processing": "prélèvement en cours", "paid": "payée", "void": "annulée",
		"howto":           "Pour payer, ajoutez une carte ou un prélèvement SEPA sur la page Paiement, ou achetez du crédit prépayé : les factures ouvertes sont alors réglées aussitôt.",
		"suspended_since": "Votre compte est suspendu depuis le %s : ajoutez un moyen de paiement ou du crédit pour régler les factures ci-dessous et le réactiver.",
		"suspends_at":     "Sans paiement des factures ci-dessous, votre compte sera suspendu le %s.",
		"methods":         "Moyen de paiement", "no_method": "Aucun moyen de paiement.", "card": "Carte", "sepa_debit": "Prélèvement SEPA",
		"add_card": "Ajouter une carte", "card_id": "Carte (mode test : un identifiant de test Stripe)", "add": "Enregistrer la carte",
		"enter_card": "Saisir une carte", "card_stripe": "Vous saisissez votre carte dans le formulaire sécurisé de Stripe : son numéro va à Stripe, notre prestataire de paiement, et ne passe jamais par nos serveurs.",
		"card_field": "Numéro de carte, date d'expiration et cryptogramme", "card_holder": "Titulaire de la carte", "back": "Retour au paiement",
		"card_nojs":        "La saisie d'une carte demande JavaScript : le formulaire sécurisé de Stripe fonctionne dans votre navigateur. Activez JavaScript pour cette page, ou ajoutez plutôt un prélèvement SEPA sur la page Paiement.",
		"card_unavailable": "Le formulaire sécurisé de Stripe n'a pas pu être chargé. Vérifiez votre connexion et rechargez la page, ou ajoutez plutôt un prélèvement SEPA.",
		"add_sepa":         "Ajouter un prélèvement SEPA", "iban": "IBAN", "bic": "BIC (facultatif)", "holder": "Titulaire du compte",
		"mandate_consent": "En enregistrant, vous signez en ligne un mandat de prélèvement SEPA Core : vous nous autorisez à envoyer des instructions à votre banque pour débiter votre compte, et votre banque à le débiter conformément à ces instructions. Vous pouvez être remboursé par votre banque dans les 8 semaines suivant un débit.",
		"sign":            "Signer le mandat", "mandate": "Mandat", "mandate_pdf": "Télécharger le mandat (PDF)",
		"buy_credit": "Acheter du crédit prépayé avec PayPal", "amount": "Montant en euros", "buy": "Payer avec PayPal",
		"credit_bounds": "Entre %s et %s.", "history": "Historique des paiements", "no_history": "Aucun paiement.",
		"date": "Date", "amount_col": "Montant", "what": "Opération", "documents": "Factures et avoirs", "pdf": "PDF", "credit_note": "Avoir",
		"attempt": "Paiement", "credit": "Crédit", "ref_link": "Votre lien de parrainage", "ref_code": "Votre code :", "referees": "Vos filleuls",
		"no_referees": "Aucun filleul.", "name": "Nom", "window": "Période", "months_left": "Mois restants", "rewards": "Récompenses",
		"no_rewards": "Aucune récompense.", "event": "Événement", "no_events": "Rien pour l'instant.", "test_mode": "MODE TEST : rien n'est débité",
		"error": "Une erreur est survenue", "skip": "Aller au contenu",
	},
}

func money(lang billing.Language, v any) string {
	switch m := v.(type) {
	case billing.Money:
		return billing.FormatMoneyIn(m, lang)
	case *billing.Money:
		if m == nil {
			return ""
		}
		return billing.FormatMoneyIn(*m, lang)
	case string:
		p, err := billing.ParseMoney(m)
		if err != nil {
			return m
		}
		return billing.FormatMoneyIn(p, lang)
	}
	return ""
}

func date(lang billing.Language, t time.Time) string {
	if lang == billing.LanguageFrench {
		return t.UTC().Format("02/01/2006")
	}
	return t.UTC().Format("2 Jan 2006")
}

var pages = template.Must(template.New("page").Funcs(template.FuncMap{
	"t":        func(lang billing.Language, k any) string { return strs[lang][fmt.Sprint(k)] },
	"money":    money,
	"pageList": func() []Page { return []Page{PageOverview, PageBilling, PageReferrals, PageTimeline} },
	"date":     date,
	"event":    eventLabel,
	"outcome":  outcomeLabel,
	"entry":    entryLabel,
	"datetime": func(lang billing.Language, t time.Time) string {
		return date(lang, t) + " " + t.UTC().Format("15:04") + " UTC"
	},
}).Parse(layout))
