package portal

import (
	"github.com/billingengine/engine/billing"
	"github.com/billingengine/engine/payments"
)

// The pages name what happened in the reader's words: the codes of the
// API (payment_method_changed, succeeded, paypal_purchase) mean nothing to
// a customer, and a French page must not show English ones. Each function
// switches over its type, so that the exhaustive linter names any kind
// added later without a label.

func pick(lang billing.Language, en, fr string) string {
	if lang == billing.LanguageFrench {
		return fr
	}
	return en
}

// eventLabel names a timeline event.
func eventLabel(lang billing.Language, k billing.TimelineKind) string {
	switch k {
	case billing.TimelineInvoiceIssued:
		return pick(lang, "Invoice issued", "Facture émise")
	case billing.TimelineInvoiceVoided:
		return pick(lang, "Invoice voided", "Facture annulée")
	case billing.TimelinePaymentSucceeded:
		return pick(lang, "Payment received", "Paiement reçu")
	case billing.TimelinePaymentDeclined:
		return pick(lang, "Payment declined", "Paiement refusé")
	case billing.TimelinePaymentPending:
		return pick(lang, "Direct debit in progress", "Prélèvement en cours")
	case billing.TimelinePaymentFailed:
		return pick(lang, "Payment failed", "Paiement échoué")
	case billing.TimelineCreditAdded:
		return pick(lang, "Credit added", "Crédit ajouté")
	case billing.TimelineCreditApplied:
		return pick(lang, "Credit used to pay an invoice", "Crédit utilisé pour une facture")
	case billing.TimelineSuspended:
		return pick(lang, "Account suspended", "Compte suspendu")
	case billing.TimelineReactivated:
		return pick(lang, "Account reactivated", "Compte réactivé")
	case billing.TimelineMethodChanged:
		return pick(lang, "Payment method changed", "Moyen de paiement modifié")
	case billing.TimelineReferralReversed:
		return pick(lang, "Referral reward taken back", "Récompense de parrainage reprise")
	case billing.TimelineRefunded:
		return pick(lang, "Payment refunded as credit", "Paiement remboursé en crédit")
	case billing.TimelineAccountUpdated:
		return pick(lang, "Account details updated", "Coordonnées du compte modifiées")
	}
	return string(k)
}

// outcomeLabel names a payment attempt's outcome.
func outcomeLabel(lang billing.Language, o string) string {
	switch s := billing.AttemptState(o); s {
	case billing.AttemptStatePending:
		return pick(lang, "sent", "envoyé")
	case billing.AttemptStateSucceeded:
		return pick(lang, "succeeded", "réussi")
	case billing.AttemptStateDeclined:
		return pick(lang, "declined", "refusé")
	case billing.AttemptStateProcessing:
		return pick(lang, "in progress", "en cours")
	case billing.AttemptStateFailed:
		return pick(lang, "failed", "échoué")
	}
	return o
}

// entryLabel names why prepaid credit moved.
func entryLabel(lang billing.Language, k string) string {
	switch e := payments.EntryKind(k); e {
	case payments.EntryPayPalPurchase:
		return pick(lang, "bought with PayPal", "acheté avec PayPal")
	case payments.EntryManualCredit:
		return pick(lang, "added by us", "ajouté par nos soins")
	case payments.EntryReferralReward:
		return pick(lang, "referral reward", "récompense de parrainage")
	case payments.EntryInvoicePayment:
		return pick(lang, "used for an invoice", "utilisé pour une facture")
	case payments.EntryRefundToCredit:
		return pick(lang, "refund", "remboursement")
	case payments.EntryReferralReversal:
		return pick(lang, "referral reward taken back", "récompense de parrainage reprise")
	}
	return k
}
