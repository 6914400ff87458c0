package invoices

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/shopspring/decimal"

	"github.com/billingengine/engine/billing"
	"github.com/billingengine/engine/internal/platform/pgdb"
	"github.com/billingengine/engine/invoices/facturx"
)

// E-invoices (SPEC §13): for a business buyer every invoice and credit
// note is also a Factur-X EN16931 CII XML, stored with each version of its
// PDF (documents.xml) in the same row, so that the bytes sent are the
// bytes kept. EInvoiceInput is the one place a Document becomes
// facturx.Input.

// BusinessProcess is the French "cadre de facturation" (BT-23) of every
// e-invoice: S1, an invoice of services (the FNFE codes B* are goods, M*
// mixed, S2 an invoice already paid when issued, S4-S7 deposits and
// subcontracting, S8/S9 multi-seller). Our invoices bill services and are
// issued before they are collected, so S1 holds for all of them, even one
// that prepaid credit settles at issue: that payment is the paid amount
// (BT-113), not a different kind of invoice.
const BusinessProcess = "S1"

// ErrConsumer is the error of asking a consumer's document for an
// e-invoice: consumer accounts keep the plain PDF (SPEC §13).
var ErrConsumer = errors.New("a consumer's document has no e-invoice")

type consumerError struct{ number, account string }

func (e consumerError) Error() string {
	return fmt.Sprintf("%s: account %s is a consumer: no e-invoice (SPEC §13)", e.number, e.account)
}

func (e consumerError) Is(target error) bool { return target == ErrConsumer }

// French mandatory mentions (code de commerce L441-9, L441-10, D441-5), the
// notes PMT, PMD and AAB that the BR-FR-05 rule requires.
const (
	mentionRecoveryFee = "Indemnité forfaitaire pour frais de recouvrement en cas de retard de paiement : 40 € (articles L441-10 et D441-5 du code de commerce)."
	mentionPenalties   = "Pénalités de retard : trois fois le taux d'intérêt légal, exigibles dès le lendemain de la date d'échéance, sans rappel préalable."
	mentionNoDiscount  = "Pas d'escompte pour paiement anticipé."
)

// EInvoiceInput maps a document to the e-invoice it is, for a business
// buyer. Credit notes are written with positive amounts: type code 381
// says they credit the buyer (their JSON's amounts are the invoice's,
// negated).
func EInvoiceInput(doc *Document, seller Seller, loc *time.Location) (*facturx.Input, error) {
	if !doc.Business() {
		return nil, consumerError{doc.Number, doc.BuyerAccount}
	}
	if loc == nil {
		loc = time.UTC
	}
	sign := func(m billing.Money) billing.Money { return m }
	in := &facturx.Input{
		Type: facturx.CommercialInvoice, Number: doc.Number, Issued: doc.Issued.In(loc), BusinessProcess: BusinessProcess,
		Currency: "EUR", PeriodStart: doc.Start.In(loc), PeriodEnd: doc.End.In(loc).AddDate(0, 0, -1),
		Notes: []facturx.Note{
			{Subject: facturx.NoteRecoveryFee, Text: mentionRecoveryFee},
			{Subject: facturx.NotePenalties, Text: mentionPenalties},
			{Subject: facturx.NoteNoEarlyDisc, Text: mentionNoDiscount},
		},
	}
	if doc.Kind == KindCreditNote {
		sign = billing.Money.Neg
		in.Type = facturx.CreditNote
		in.Preceding = &facturx.Reference{Number: doc.Reverses, Issued: doc.ReversesIssued.In(loc)}
		in.Notes = append(in.Notes, facturx.Note{Subject: facturx.NoteGeneral, Text: fmt.Sprintf(
			"Avoir annulant la facture %s du %s. Motif : %s. Remboursé sur le crédit prépayé : %s.",
			doc.Reverses, doc.ReversesIssued.In(loc).Format("02/01/2006"), doc.Reason, FormatEUR(doc.AmountPaid))})
	}
	if seller.TestMode {
		in.Notes = append(in.Notes, facturx.Note{Subject: facturx.NoteGeneral, Text: "TEST MODE: this document bills nobody."})
	}

	country := seller.Country
	if country == "" {
		country = "FR"
	}
	in.Seller = facturx.Party{
		Name: seller.Name, LegalInfo: seller.Legal, SIREN: seller.SIREN, VATNumber: seller.VATNumber, Email: seller.Email,
		Address: SellerAddress(seller.Address, country),
	}
	a := doc.BuyerAddress
	in.Buyer = facturx.Party{
		Name: doc.BuyerName, SIREN: buyerSIREN(doc), VATNumber: doc.BuyerVATNumber, Email: doc.BuyerEmail,
		Address: facturx.Address{PostalCode: a.PostalCode, City: a.City, Country: cmp.Or(a.Country, doc.BuyerCountry)},
	}
	for _, l := range []string{a.Line1, a.Line2} {
		if l != "" {
			in.Buyer.Address.Lines = append(in.Buyer.Address.Lines, l)
		}
	}

	cat, rate := facturx.Standard, doc.TaxRate
	vat := facturx.VAT{}
	switch doc.VATTreatment {
	case billing.VATDomestic, billing.VATOSS:
	case billing.VATReverseCharge:
		cat, rate = facturx.ReverseCharge, decimal.Zero
		vat.ExemptionCode, vat.ExemptionReason = facturx.VATEXReverseCharge, "Autoliquidation (reverse charge): VAT due by the customer, article 196 of Directive 2006/112/EC"
	case billing.VATOutsideEU:
		cat, rate = facturx.OutsideScope, decimal.Zero
		vat.ExemptionCode, vat.ExemptionReason = facturx.VATEXOutsideScope, "TVA non applicable (VAT not applicable): services to a business established outside the EU, article 259-1 du CGI"
	default:
		return nil, fmt.Errorf("%s: VAT treatment %q has no e-invoice category", doc.Number, doc.VATTreatment)
	}

	referrals := 0
	for _, l := range doc.Lines {
		amount := sign(l.Amount)
		line := facturx.Line{ID: fmt.Sprint(len(in.Lines) + 1), NetAmount: amount, Category: cat, Rate: rate}
		switch l.Type {
		case billing.LineUsage:
			line.Name = l.App + " · " + l.Resource
			if s := doc.Descriptions[l.Resource]; s != "" && s != l.Resource {
				line.Description = s
			}
			line.Unit = facturx.UnitHour
			line.Quantity = l.Hours.Decimal
			line.NetPrice, line.Note = usagePrice(l, amount)
		case billing.LineReferralReversal:
			line.Name = "Referral reward taken back: the referred account's invoice was cancelled"
			line.Unit, line.Quantity, line.NetPrice = facturx.UnitOne, decimal.NewFromInt(1), amount.Decimal()
		case billing.LineReferral:
			// The referral lines and the carry-over sum to −discount: the
			// document-level allowance below.
			referrals++
			continue
		case billing.LineReferralCarryover:
			continue
		default:
			return nil, fmt.Errorf("%s: line type %q has no e-invoice line", doc.Number, l.Type)
		}
		in.Lines = append(in.Lines, line)
	}
	subtotal, discount, tax, total := sign(doc.Subtotal), sign(doc.Discount), sign(doc.Tax), sign(doc.Total)
	if discount.IsPositive() {
		// One aggregated allowance: a referrer's document never names
		// another customer (SPEC §6).
		in.Allowances = []facturx.Allowance{{Amount: discount, ReasonCode: "95", Category: cat, Rate: rate,
			Reason: fmt.Sprintf("Referral rewards (%d referred accounts)", referrals)}}
	}
	vat.Category, vat.Rate, vat.Basis, vat.Tax = cat, rate, subtotal.Sub(discount), tax
	in.VAT = []facturx.VAT{vat}

	// The paid amount is what the PDF says was paid (prepaid credit and
	// payments), so that the due amount is the PDF's. A credit note is
	// settled whole: what was paid went back to prepaid credit, and what
	// was not is no longer owed.
	paid := doc.AmountPaid
	if doc.Kind == KindCreditNote {
		paid = total
	}
	in.Totals = facturx.Totals{LineTotal: subtotal, Allowances: discount, TaxBasis: subtotal.Sub(discount), Tax: tax,
		GrandTotal: total, Prepaid: paid, Due: total.Sub(paid)}
	if doc.Kind == KindInvoice {
		paymentMeans(in, doc, seller)
	}
	return in, nil
}

// frenchVAT is a French VAT number: FR, a two-character key, the SIREN.
var frenchVAT = regexp.MustCompile(`^FR[0-9A-Z]{2}([0-9]{9})$`)

// buyerSIREN is the buyer's SIREN: the one stored, else the one a French
// VAT number is made of (its last nine digits), so that a French business
// is identified by its SIREN (BT-47) as the reform asks.
func buyerSIREN(doc *Document) string {
	if doc.BuyerSIREN != "" {
		return doc.BuyerSIREN
	}
	if m := frenchVAT.FindStringSubmatch(doc.BuyerVATNumber); m != nil && doc.BuyerCountry == "FR" {
		return m[1]
	}
	return ""
}

// usagePrice is a usage line's net price per hour: its price, or, for a
// line billed at several prices, its amount over its hours, with a note
// that details the prices (the amount, not the price, is what counts:
// SPEC §3 rounds it once).
func usagePrice(l DocumentLine, amount billing.Money) (decimal.Decimal, string) {
	if len(l.Prices) == 1 {
		return l.Prices[0].PerHour, ""
	}
	var parts []string
	for _, p := range l.Prices {
		parts = append(parts, fmt.Sprintf("%s h at %s €/h", billing.FormatHours(p.Hours), p.PerHour))
	}
	note := ""
	if len(parts) > 0 {
		note = "Billed " + strings.Join(parts, ", ") + "."
	}
	if !l.Hours.Valid || l.Hours.Decimal.IsZero() {
		return amount.Decimal(), note
	}
	return amount.Decimal().DivRound(l.Hours.Decimal, 6), note
}

// paymentMeans says how the invoice is paid: by the account's SEPA debit
// (59, with its mandate and the seller's creditor identifier) or card
// (48), and by transfer to the seller's IBAN (58) whenever something is
// due that no debit is collecting.
func paymentMeans(in *facturx.Input, doc *Document, seller Seller) {
	in.PaymentReference = doc.Number
	in.Due = doc.Due
	due := in.Totals.Due.IsPositive()
	transfer := facturx.PaymentMeans{Code: facturx.MeansTransfer, Information: "Virement SEPA, référence " + doc.Number,
		PayeeIBAN: seller.IBAN, PayeeBIC: seller.BIC}
	terms := "Payable à réception de la facture."
	switch doc.Payment.Type {
	case "sepa_debit":
		in.PaymentMeans = append(in.PaymentMeans, facturx.PaymentMeans{Code: facturx.MeansSEPADirectDeb, Information: "Prélèvement SEPA"})
		in.MandateReference, in.CreditorID = doc.Payment.MandateID, seller.SEPACreditorID
		terms = "Payable à réception de la facture, par prélèvement SEPA à la date d'émission."
	case "card":
		in.PaymentMeans = append(in.PaymentMeans, facturx.PaymentMeans{Code: facturx.MeansCard, Information: "Carte bancaire"})
		terms = "Payable à réception de la facture, par la carte enregistrée."
		if due && seller.IBAN != "" {
			in.PaymentMeans = append(in.PaymentMeans, transfer)
			terms += " À défaut, par virement."
		}
	default:
		if due && seller.IBAN != "" {
			in.PaymentMeans = append(in.PaymentMeans, transfer)
			terms = "Payable à réception de la facture, par virement."
		}
	}
	in.PaymentTerms = terms
}

// postalLine is a French address's last line: a five-digit postal code
// and the city.
var postalLine = regexp.MustCompile(`^([0-9]{5})\s+(.+)$`)

// SellerAddress reads BILLING_SELLER_ADDRESS (lines separated by "\n"):
// the line that starts with a five-digit postal code gives the postal code
// and the city, the lines before it are the street address (a third and
// later line are joined into the third), and lines after it (a country
// name) are left out: the country is SELLER_COUNTRY's code. An address
// without such a line is all street address.
func SellerAddress(text, country string) facturx.Address {
	a := facturx.Address{Country: country}
	var lines []string
	for _, l := range strings.Split(text, "\n") {
		if l = strings.TrimSpace(l); l != "" {
			lines = append(lines, l)
		}
	}
	for i, l := range lines {
		if m := postalLine.FindStringSubmatch(l); m != nil {
			a.PostalCode, a.City = m[1], m[2]
			lines = lines[:i]
			break
		}
	}
	if len(lines) > 3 {
		lines = append(lines[:2], strings.Join(lines[2:], ", "))
	}
	a.Lines = lines
	return a
}

// RenderXML writes a business document's e-invoice.
func RenderXML(doc *Document, seller Seller, loc *time.Location) ([]byte, error) {
	in, err := EInvoiceInput(doc, seller, loc)
	if err != nil {
		return nil, err
	}
	return facturx.Generate(in)
}

// renderXML is RenderXML for any document: nil for a consumer's.
func renderXML(doc *Document, seller Seller, loc *time.Location) ([]byte, error) {
	if !doc.Business() {
		return nil, nil
	}
	return RenderXML(doc, seller, loc)
}

// loadPayments reads the current payment method of accounts. The table is
// payments' (its only writer); reading it here lets a document say how it
// is paid without invoices knowing how payments work.
func loadPayments(ctx context.Context, q pgdb.Executor, accounts []string) (map[string]DocumentPayment, error) {
	rows, err := q.Query(ctx, `SELECT account_id, type, coalesce(mandate_id, '') FROM payment_methods WHERE account_id = ANY($1) AND replaced_at IS NULL`, accounts)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[string]DocumentPayment{}
	for rows.Next() {
		var a string
		var p DocumentPayment
		if err := rows.Scan(&a, &p.Type, &p.MandateID); err != nil {
			return nil, err
		}
		out[a] = p
	}
	return out, rows.Err()
}

// EnsureXML returns the newest stored version of a business document with
// its e-invoice (PDF.XML), rendering and storing one first when there is
// none yet. A consumer's document answers ErrConsumer.
func (r *Renderer) EnsureXML(ctx context.Context, db pgdb.DB, number string) (*PDF, error) {
	doc, err := LoadDocument(ctx, db, number)
	if err != nil {
		return nil, err
	}
	if !doc.Business() {
		return nil, consumerError{doc.Number, doc.BuyerAccount}
	}
	p, err := LatestPDF(ctx, db, number)
	if err != nil && !errors.Is(err, ErrNoPDF) {
		return nil, err
	}
	if p == nil || p.XML == nil {
		if p, err = r.RenderInvoice(ctx, db, number); err != nil {
			return nil, err
		}
	}
	if p.XML == nil {
		return nil, fmt.Errorf("%s: no e-invoice stored: render it again", number)
	}
	return p, nil
}
