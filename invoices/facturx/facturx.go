// Package facturx writes the structured e-invoice of SPEC §13: a UN/CEFACT
// Cross Industry Invoice (CII D16B) XML of the Factur-X 1.09 profile
// EN16931, as the French 2026 e-invoicing reform requires of invoices
// between businesses.
//
// It is pure: an Input, already decided by the caller (package invoices
// maps its documents to it in one function), becomes XML bytes. The same
// Input always gives the same bytes. Amounts are billing.Money and are
// written by billing's formatter only; nothing here is a float. Generate
// checks the totals against the lines, the allowances and the VAT
// breakdown (the EN 16931 BR-CO rules) before writing anything, so an
// inconsistent e-invoice is an error here, never a document sent.
package facturx

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/shopspring/decimal"

	"github.com/billingengine/engine/billing"
)

// Guideline is the specification identifier (BT-24) of the Factur-X
// EN16931 profile.
const Guideline = "urn:cen.eu:en16931:2017"

// TypeCode is the document type (BT-3, UNTDID 1001).
type TypeCode string

const (
	// CommercialInvoice is an invoice (380).
	CommercialInvoice TypeCode = "380"
	// CreditNote is a credit note (381); it cites the invoice it corrects
	// (BT-25, BT-26).
	CreditNote TypeCode = "381"
)

// Category is a VAT category code (BT-95, BT-118, BT-151; UNCL 5305).
type Category string

const (
	// Standard is the standard rate (S).
	Standard Category = "S"
	// ReverseCharge is the intra-EU reverse charge (AE): 0 %, both VAT
	// identifiers, an exemption reason.
	ReverseCharge Category = "AE"
	// OutsideScope is "not subject to VAT" (O): no rate, no VAT
	// identifiers, an exemption reason.
	OutsideScope Category = "O"
)

// Exemption reason codes (BT-121, VATEX).
const (
	VATEXReverseCharge = "VATEX-EU-AE"
	VATEXOutsideScope  = "VATEX-EU-O"
)

// Units of measure (BT-130, UN/ECE Recommendation 20).
const (
	UnitHour = "HUR"
	UnitOne  = "C62"
)

// Payment means codes (BT-81, UNTDID 4461).
const (
	MeansCard          = "48"
	MeansTransfer      = "58" // SEPA credit transfer
	MeansSEPADirectDeb = "59"
)

// Note subject codes (BT-21, UNTDID 4451) of the French mandatory
// mentions.
const (
	NotePenalties    = "PMD" // late-payment penalties
	NoteRecoveryFee  = "PMT" // the 40 € fixed recovery fee
	NoteNoEarlyDisc  = "AAB" // discount for early payment, or its absence
	NoteGeneral      = "AAI" // general information
	NoteTaxStatement = "TXD"
)

// Input is everything an e-invoice says, already decided.
type Input struct {
	Type   TypeCode
	Number string // BT-1
	// Issued is the issue date (BT-2); only its date in its location is
	// written, as are the other dates'.
	Issued time.Time
	// Preceding is the invoice a credit note corrects (BG-3); required for
	// a credit note.
	Preceding *Reference
	// BusinessProcess is the French "cadre de facturation" (BT-23), such
	// as S1 (services).
	BusinessProcess string
	Currency        string // BT-5, EUR
	Notes           []Note // BG-1

	Seller Party // BG-4
	Buyer  Party // BG-7

	// PeriodStart and PeriodEnd bound the invoicing period (BG-14), both
	// days included.
	PeriodStart, PeriodEnd time.Time

	Lines      []Line      // BG-25
	Allowances []Allowance // BG-20
	VAT        []VAT       // BG-23
	Totals     Totals      // BG-22

	// PaymentReference is the remittance information (BT-83).
	PaymentReference string
	PaymentMeans     []PaymentMeans // BG-16
	// PaymentTerms (BT-20) and Due (BT-9, when not zero).
	PaymentTerms string
	Due          time.Time
	// MandateReference (BT-89) and CreditorID (BT-90): a SEPA direct
	// debit's mandate and the seller's SEPA creditor identifier.
	MandateReference string
	CreditorID       string
}

// Reference is a preceding invoice (BT-25, BT-26).
type Reference struct {
	Number string
	Issued time.Time
}

// Note is a document-level note (BT-21 subject, BT-22 text).
type Note struct {
	Subject string
	Text    string
}

// Party is the seller or the buyer.
type Party struct {
	Name string
	// LegalInfo is the seller's additional legal information (BT-33:
	// legal form, capital, registration).
	LegalInfo string
	// SIREN is the French legal registration (BT-30, BT-47, scheme 0002).
	SIREN string
	// VATNumber is the VAT identifier (BT-31, BT-48).
	VATNumber string
	Address   Address
	// Email is the party's electronic address (BT-34, BT-49, scheme EM).
	Email string
}

// Address is a postal address (BG-5, BG-8). Only Country is required.
type Address struct {
	Lines      []string // up to three
	PostalCode string
	City       string
	Country    string // ISO 3166-1 alpha-2
}

// Line is an invoice line (BG-25).
type Line struct {
	ID          string // BT-126
	Name        string // BT-153
	Description string // BT-154
	Note        string // BT-127
	Quantity    decimal.Decimal
	Unit        string          // BT-130
	NetPrice    decimal.Decimal // BT-146, per unit
	NetAmount   billing.Money   // BT-131
	Category    Category        // BT-151
	Rate        decimal.Decimal // BT-152, percent
}

// Allowance is a document-level allowance (BG-20), such as the referral
// discount.
type Allowance struct {
	Amount     billing.Money // BT-92
	ReasonCode string        // BT-98, UNTDID 5189 (95: discount)
	Reason     string        // BT-97
	Category   Category      // BT-95
	Rate       decimal.Decimal
}

// VAT is one VAT breakdown (BG-23).
type VAT struct {
	Category        Category
	Rate            decimal.Decimal // BT-119, percent
	Basis           billing.Money   // BT-116
	Tax             billing.Money   // BT-117
	ExemptionReason string          // BT-120
	ExemptionCode   string          // BT-121
}

// Totals are the document totals (BG-22).
type Totals struct {
	LineTotal  billing.Money // BT-106
	Allowances billing.Money // BT-107
	TaxBasis   billing.Money // BT-109
	Tax        billing.Money // BT-110
	GrandTotal billing.Money // BT-112
	Prepaid    billing.Money // BT-113
	Due        billing.Money // BT-115
}

// PaymentMeans is one payment instruction (BG-16).
type PaymentMeans struct {
	Code        string // BT-81
	Information string // BT-82
	// PayeeIBAN and PayeeBIC: the account a transfer goes to (BT-84,
	// BT-86).
	PayeeIBAN, PayeeBIC string
	// DebitedIBAN is the buyer's account a direct debit takes from
	// (BT-91), when known.
	DebitedIBAN string
}

// Check reports the first way the Input breaks the EN 16931 rules that
// Generate can check without the schematron: the totals against the
// lines, the allowances and the breakdown (BR-CO-10, -11, -13, -14, -15,
// -16, -17, BR-S-08, BR-AE-08, BR-O-08), and what each VAT category and
// document type requires.
func (in *Input) Check() error {
	if in.Number == "" {
		return errors.New("no invoice number (BT-1)")
	}
	switch in.Type {
	case CommercialInvoice:
	case CreditNote:
		if in.Preceding == nil || in.Preceding.Number == "" {
			return fmt.Errorf("%s: a credit note cites the invoice it corrects (BT-25)", in.Number)
		}
	default:
		return fmt.Errorf("%s: unknown document type %q", in.Number, in.Type)
	}
	if len(in.Lines) == 0 {
		return fmt.Errorf("%s: no lines (BG-25)", in.Number)
	}
	if in.Seller.Name == "" || in.Seller.Address.Country == "" || in.Buyer.Name == "" || in.Buyer.Address.Country == "" {
		return fmt.Errorf("%s: seller and buyer need a name and a country (BT-27, BT-40, BT-44, BT-55)", in.Number)
	}
	t := in.Totals
	var lines, allowances, basis, tax billing.Money
	perCat := map[string]billing.Money{}
	key := func(c Category, r decimal.Decimal) string { return string(c) + "|" + rateText(c, r) }
	for _, l := range in.Lines {
		lines = lines.Add(l.NetAmount)
		perCat[key(l.Category, l.Rate)] = perCat[key(l.Category, l.Rate)].Add(l.NetAmount)
	}
	for _, a := range in.Allowances {
		if a.Amount.IsNegative() {
			return fmt.Errorf("%s: allowance %s is negative", in.Number, a.Amount)
		}
		allowances = allowances.Add(a.Amount)
		perCat[key(a.Category, a.Rate)] = perCat[key(a.Category, a.Rate)].Sub(a.Amount)
	}
	if len(in.VAT) == 0 {
		return fmt.Errorf("%s: no VAT breakdown (BG-23)", in.Number)
	}
	for _, v := range in.VAT {
		basis, tax = basis.Add(v.Basis), tax.Add(v.Tax)
		want, ok := perCat[key(v.Category, v.Rate)]
		if !ok || !want.Equal(v.Basis) {
			return fmt.Errorf("%s: VAT %s basis %s is not the lines less the allowances of that category, %s (BR-S-08, BR-AE-08, BR-O-08)", in.Number, v.Category, v.Basis, want)
		}
		delete(perCat, key(v.Category, v.Rate))
		wantTax := billing.MoneyOf(v.Basis.Decimal().Mul(v.Rate).Shift(-2))
		switch v.Category {
		case Standard:
			if !v.Rate.IsPositive() {
				return fmt.Errorf("%s: standard rate VAT needs a positive rate (BR-S-05)", in.Number)
			}
		case ReverseCharge, OutsideScope:
			wantTax = billing.Money{}
			if v.ExemptionCode == "" && v.ExemptionReason == "" {
				return fmt.Errorf("%s: VAT %s needs an exemption reason (BR-AE-10, BR-O-10)", in.Number, v.Category)
			}
			if v.Category == ReverseCharge && (in.Seller.VATNumber == "" || in.Buyer.VATNumber == "") {
				return fmt.Errorf("%s: reverse charge needs the seller's and the buyer's VAT identifiers (BR-AE-02)", in.Number)
			}
		default:
			return fmt.Errorf("%s: unknown VAT category %q", in.Number, v.Category)
		}
		if !v.Tax.Equal(wantTax) {
			return fmt.Errorf("%s: VAT %s tax %s is not %s × %s %% = %s (BR-CO-17)", in.Number, v.Category, v.Tax, v.Basis, v.Rate, wantTax)
		}
	}
	for k := range perCat {
		return fmt.Errorf("%s: lines of VAT %s have no breakdown (BR-CO-18)", in.Number, k)
	}
	checks := []struct {
		rule      string
		got, want billing.Money
	}{
		{"BR-CO-10: line total (BT-106) = Σ line net amounts", t.LineTotal, lines},
		{"BR-CO-11: allowances (BT-107) = Σ allowances", t.Allowances, allowances},
		{"BR-CO-13: tax basis (BT-109) = BT-106 − BT-107", t.TaxBasis, t.LineTotal.Sub(t.Allowances)},
		{"BR-CO-13: tax basis (BT-109) = Σ VAT bases", t.TaxBasis, basis},
		{"BR-CO-14: tax (BT-110) = Σ VAT amounts", t.Tax, tax},
		{"BR-CO-15: grand total (BT-112) = BT-109 + BT-110", t.GrandTotal, t.TaxBasis.Add(t.Tax)},
		{"BR-CO-16: due (BT-115) = BT-112 − BT-113", t.Due, t.GrandTotal.Sub(t.Prepaid)},
	}
	for _, c := range checks {
		if !c.got.Equal(c.want) {
			return fmt.Errorf("%s: %s: %s, want %s", in.Number, c.rule, c.got, c.want)
		}
	}
	for _, p := range in.PaymentMeans {
		if p.Code == MeansTransfer && p.PayeeIBAN == "" {
			return fmt.Errorf("%s: a transfer names the account to pay (BR-61)", in.Number)
		}
	}
	return nil
}

// Generate writes the CII XML of in, after Check.
func Generate(in *Input) ([]byte, error) {
	if err := in.Check(); err != nil {
		return nil, err
	}
	doc := build(in)
	var b bytes.Buffer
	b.WriteString(xml.Header)
	enc := xml.NewEncoder(&b)
	enc.Indent("", "  ")
	if err := enc.Encode(doc); err != nil {
		return nil, fmt.Errorf("%s: %w", in.Number, err)
	}
	b.WriteByte('\n')
	return b.Bytes(), nil
}

// QuantityDecimals is the precision of a billed quantity (BT-129): at
// most four decimals (BR-FR-DEC-02).
const QuantityDecimals = 4

// maxPriceDecimals is the most decimals a net price has (BR-FR-DEC-03).
const maxPriceDecimals = 6

// priceDecimals writes a price with its own decimals, at least two and at
// most six.
func priceDecimals(p decimal.Decimal) int32 {
	n := -p.Exponent()
	return max(2, min(n, maxPriceDecimals))
}

// rateText is a rate as written: two decimals ("20.00", "0.00").
func rateText(_ Category, r decimal.Decimal) string { return billing.FormatFixed(r, 2) }

func date(t time.Time) string { return t.Format("20060102") }

// clean folds a text's whitespace runs (newlines included) into single
// spaces.
func clean(s string) string { return strings.Join(strings.Fields(s), " ") }
