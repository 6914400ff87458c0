package pdf

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/billingengine/engine/billing"
)

// wording is everything a document says in one language (SPEC §6): its
// labels, its legal mentions and its dates. Amounts read the French way in
// both languages ("1 234,56 €"): the seller is French and the numbers on
// a document never depend on who reads it.
type wording struct {
	invoice, creditNote                              string
	number, issueDate, period, dueDate, credits      string
	uponReceipt                                      string
	billTo, creditTo, account, vatNumber, siren      string
	country                                          string
	reason                                           string
	app, resource, hours, pricePerHour, exclVAT      string
	ofWhichAt                                        string
	continued                                        string
	referrals                                        func(n int) string
	referralsReversed                                func(n int) string
	carryover                                        string
	subtotal, discount, totalExclVAT, totalInclVAT   string
	vatRate                                          func(rate string) string
	vatReverse, vatNotApplicable                     string
	creditApplied, paidByProcessor, amountDue        string
	refunded                                         string
	paid, processing, void, unpaid                   string
	category                                         string
	terms, noDiscount, penalties, recoveryFee        string
	reverseCharge, outsideEU, oss                    string
	cancels                                          func(number, date string) string
	howToPay, portal, transfer, transferRef, ibanBIC string
	autoCollect                                      string
	testMode                                         string
	capital                                          string
	months                                           [12]string
	longDate                                         func(t time.Time, months [12]string) string
	periodRange                                      func(start, last time.Time, months [12]string) string
	suspension                                       string
}

var french = &wording{
	invoice: "Facture", creditNote: "Avoir",
	number: "Numéro", issueDate: "Date d'émission", period: "Période", dueDate: "Échéance", credits: "Annule la facture",
	uponReceipt: "paiement à réception",
	billTo:      "Facturé à", creditTo: "Avoir en faveur de", account: "Compte", vatNumber: "N° TVA", siren: "SIREN", country: "Pays",
	reason: "Motif : ",
	app:    "Application", resource: "Ressource", hours: "Heures", pricePerHour: "Prix / heure", exclVAT: "Montant HT",
	ofWhichAt: "dont au prix de",
	continued: "suite",
	referrals: func(n int) string {
		if n == 1 {
			return "Récompense de parrainage (1 compte parrainé)"
		}
		return fmt.Sprintf("Récompenses de parrainage (%d comptes parrainés)", n)
	},
	referralsReversed: func(n int) string {
		if n == 1 {
			return "Récompense de parrainage reprise (1 facture de compte parrainé annulée)"
		}
		return fmt.Sprintf("Récompenses de parrainage reprises (%d factures de comptes parrainés annulées)", n)
	},
	carryover: "Récompenses au-delà du sous-total, versées au crédit prépayé",
	subtotal:  "Sous-total HT", discount: "Remise de parrainage", totalExclVAT: "Total HT", totalInclVAT: "Total TTC",
	vatRate:    func(rate string) string { return "TVA " + rate + " %" },
	vatReverse: "TVA : autoliquidation", vatNotApplicable: "TVA non applicable",
	creditApplied: "Crédit prépayé imputé", paidByProcessor: "Payé par carte ou prélèvement", amountDue: "Reste à payer",
	refunded: "Reversé au crédit prépayé",
	paid:     "PAYÉE", processing: "PAIEMENT EN COURS", void: "ANNULÉE", unpaid: "À PAYER",
	category:      "Catégorie d'opération : prestations de services.",
	terms:         "Conditions de paiement : paiement à réception de la facture, par crédit prépayé, carte ou prélèvement SEPA.",
	noDiscount:    "Pas d'escompte pour paiement anticipé.",
	penalties:     "Pénalités de retard : 3 fois le taux d'intérêt légal (art. L441-10 du Code de commerce).",
	recoveryFee:   "Indemnité forfaitaire pour frais de recouvrement : 40 € (art. D441-5 du Code de commerce).",
	suspension:    "Sans paiement cinq jours après l'échéance, le compte est suspendu.",
	reverseCharge: "Autoliquidation : TVA due par le preneur (art. 283-2 du CGI ; art. 196 de la directive 2006/112/CE).",
	outsideEU:     "TVA non applicable, art. 259-1 du CGI : prestation de services à un preneur établi hors de l'Union européenne.",
	oss:           "TVA du pays du client, déclarée par le guichet unique (OSS).",
	cancels: func(number, date string) string {
		return "Cet avoir annule la facture " + number + " du " + date + ". Les sommes payées sur cette facture ont été versées au crédit prépayé du compte."
	},
	howToPay:    "Comment payer",
	portal:      "En ligne, par carte ou prélèvement SEPA : ",
	transfer:    "Par virement à ",
	transferRef: "en indiquant la référence ",
	ibanBIC:     "IBAN %s · BIC %s",
	autoCollect: "Le paiement est prélevé automatiquement sur le moyen de paiement du compte.",
	testMode:    "MODE TEST · émis par le bac à sable : ce document n'est pas une facture, aucun argent n'a circulé",
	capital:     "au capital de ",
	months: [12]string{"janvier", "février", "mars", "avril", "mai", "juin", "juillet", "août",
		"septembre", "octobre", "novembre", "décembre"},
	longDate: func(t time.Time, m [12]string) string {
		return fmt.Sprintf("%s %s %d", frenchDay(t), m[t.Month()-1], t.Year())
	},
	periodRange: func(start, last time.Time, m [12]string) string {
		if start.Month() == last.Month() && start.Year() == last.Year() {
			return fmt.Sprintf("du %s au %d %s %d", frenchDay(start), last.Day(), m[last.Month()-1], last.Year())
		}
		return fmt.Sprintf("du %s %s %d au %d %s %d", frenchDay(start), m[start.Month()-1], start.Year(), last.Day(), m[last.Month()-1], last.Year())
	},
}

var english = &wording{
	invoice: "Invoice", creditNote: "Credit note",
	number: "Number", issueDate: "Issue date", period: "Period", dueDate: "Due date", credits: "Cancels invoice",
	uponReceipt: "upon receipt",
	billTo:      "Bill to", creditTo: "Credit to", account: "Account", vatNumber: "VAT number", siren: "SIREN", country: "Country",
	reason: "Reason: ",
	app:    "App", resource: "Resource", hours: "Hours", pricePerHour: "Price per hour", exclVAT: "Excl. VAT",
	ofWhichAt: "of which at",
	continued: "continued",
	referrals: func(n int) string {
		if n == 1 {
			return "Referral reward (1 referred account)"
		}
		return fmt.Sprintf("Referral rewards (%d referred accounts)", n)
	},
	referralsReversed: func(n int) string {
		if n == 1 {
			return "Referral reward taken back (1 referred account's invoice cancelled)"
		}
		return fmt.Sprintf("Referral rewards taken back (%d referred accounts' invoices cancelled)", n)
	},
	carryover: "Rewards beyond the subtotal, added to prepaid credit",
	subtotal:  "Subtotal excl. VAT", discount: "Referral discount", totalExclVAT: "Total excl. VAT", totalInclVAT: "Total incl. VAT",
	vatRate:    func(rate string) string { return "VAT " + rate + " %" },
	vatReverse: "VAT: reverse charge", vatNotApplicable: "VAT: not applicable",
	creditApplied: "Prepaid credit applied", paidByProcessor: "Paid by card or debit", amountDue: "Amount due",
	refunded: "Refunded to prepaid credit",
	paid:     "PAID", processing: "PAYMENT PROCESSING", void: "VOID", unpaid: "UNPAID",
	category:      "Category of operation: supply of services (prestations de services).",
	terms:         "Payment terms: payable upon receipt of the invoice, by prepaid credit, card or SEPA direct debit.",
	noDiscount:    "No discount for early payment.",
	penalties:     "Late payment penalties: three times the French legal interest rate (art. L441-10 of the French Commercial Code).",
	recoveryFee:   "Fixed recovery fee for late payment: 40 € (art. D441-5 of the French Commercial Code).",
	suspension:    "Unpaid five days after the due date, the account is suspended.",
	reverseCharge: "Reverse charge: VAT to be accounted for by the customer (Autoliquidation, art. 283-2 du CGI; art. 196 of Directive 2006/112/EC).",
	outsideEU:     "VAT not applicable, art. 259-1 du CGI: services supplied to a customer established outside the European Union.",
	oss:           "VAT of the customer's country, declared through the One-Stop Shop (OSS).",
	cancels: func(number, date string) string {
		return "This credit note cancels invoice " + number + " of " + date + ". Any amount paid on it has been added to the account's prepaid credit."
	},
	howToPay:    "How to pay",
	portal:      "Online, by card or SEPA direct debit: ",
	transfer:    "By bank transfer to ",
	transferRef: "quoting the reference ",
	ibanBIC:     "IBAN %s · BIC %s",
	autoCollect: "Payment is collected automatically from the account's payment method.",
	testMode:    "TEST MODE · issued by the sandbox: not a valid invoice, no money has moved",
	capital:     "share capital ",
	months: [12]string{"January", "February", "March", "April", "May", "June", "July", "August",
		"September", "October", "November", "December"},
	longDate: func(t time.Time, m [12]string) string {
		return fmt.Sprintf("%d %s %d", t.Day(), m[t.Month()-1], t.Year())
	},
	periodRange: func(start, last time.Time, m [12]string) string {
		if start.Month() == last.Month() && start.Year() == last.Year() {
			return fmt.Sprintf("%d–%d %s %d", start.Day(), last.Day(), m[last.Month()-1], last.Year())
		}
		return fmt.Sprintf("%d %s %d – %d %s %d", start.Day(), m[start.Month()-1], start.Year(), last.Day(), m[last.Month()-1], last.Year())
	},
}

// wordingFor is the wording of a document's language: French unless it
// says English (documents issued before languages were stored, whose
// invoice has none, read as their buyer's country decides).
func wordingFor(d *Document) *wording {
	lang := d.Language
	if !lang.Valid() {
		lang = billing.DefaultLanguage(d.BuyerCountry)
	}
	if lang == billing.LanguageEnglish {
		return english
	}
	return french
}

func (w *wording) date(t time.Time) string { return w.longDate(t, w.months) }

// span shows [start, end) as the days it covers.
func (w *wording) span(start, end time.Time) string {
	return w.periodRange(start, end.Add(-time.Nanosecond), w.months)
}

func (w *wording) status(s billing.InvoiceStatus) (string, int, int, int) {
	switch s {
	case billing.InvoiceStatusPaid:
		return w.paid, 46, 125, 50
	case billing.InvoiceStatusProcessing:
		return w.processing, 200, 130, 20
	case billing.InvoiceStatusVoid:
		return w.void, 120, 120, 120
	default:
		return w.unpaid, 190, 50, 45
	}
}

// sellerMention is the seller's legal form, capital and registration:
// "SAS au capital de 50 000,00 € · RCS Paris 303 265 045". A Legal
// configured as the whole mention (older configurations, without capital
// and register) is shown as it is.
func (w *wording) sellerMention(s Seller) string {
	var parts []string
	legal := s.Legal
	if !s.Capital.IsZero() {
		legal = strings.TrimSpace(legal + " " + w.capital + FormatEUR(billing.MoneyOf(s.Capital)))
	}
	if legal != "" {
		parts = append(parts, legal)
	}
	if s.RCS != "" {
		rcs := "RCS " + s.RCS
		if len(s.SIREN) == 9 {
			rcs += " " + s.SIREN[:3] + " " + s.SIREN[3:6] + " " + s.SIREN[6:]
		}
		parts = append(parts, rcs)
	}
	return strings.Join(parts, " · ")
}

// frenchDay is the day of the month as French dates write it: "1er", "2".
func frenchDay(t time.Time) string {
	if t.Day() == 1 {
		return "1er"
	}
	return strconv.Itoa(t.Day())
}
