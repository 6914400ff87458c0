package facturx

import (
	"encoding/xml"

	"github.com/shopspring/decimal"

	"github.com/billingengine/engine/billing"
)

// The CII elements the EN16931 profile uses, in the order of the Factur-X
// 1.09 XSD. Element names carry their namespace prefix, declared on the
// root; an empty optional element is left out (omitempty or a nil
// pointer).

const (
	nsRSM = "urn:un:unece:uncefact:data:standard:CrossIndustryInvoice:100"
	nsRAM = "urn:un:unece:uncefact:data:standard:ReusableAggregateBusinessInformationEntity:100"
	nsQDT = "urn:un:unece:uncefact:data:standard:QualifiedDataType:100"
	nsUDT = "urn:un:unece:uncefact:data:standard:UnqualifiedDataType:100"
)

type ciiInvoice struct {
	XMLName     xml.Name       `xml:"rsm:CrossIndustryInvoice"`
	RSM         string         `xml:"xmlns:rsm,attr"`
	QDT         string         `xml:"xmlns:qdt,attr"`
	RAM         string         `xml:"xmlns:ram,attr"`
	UDT         string         `xml:"xmlns:udt,attr"`
	Context     ciiContext     `xml:"rsm:ExchangedDocumentContext"`
	Document    ciiDocument    `xml:"rsm:ExchangedDocument"`
	Transaction ciiTransaction `xml:"rsm:SupplyChainTradeTransaction"`
}

type ciiID struct {
	ID string `xml:"ram:ID"`
}

type ciiContext struct {
	BusinessProcess *ciiID `xml:"ram:BusinessProcessSpecifiedDocumentContextParameter"`
	Guideline       ciiID  `xml:"ram:GuidelineSpecifiedDocumentContextParameter"`
}

type ciiDocument struct {
	ID       string     `xml:"ram:ID"`
	TypeCode string     `xml:"ram:TypeCode"`
	Issued   ciiUDTDate `xml:"ram:IssueDateTime"`
	Notes    []ciiNote  `xml:"ram:IncludedNote"`
}

type ciiDateString struct {
	Format string `xml:"format,attr"`
	Value  string `xml:",chardata"`
}

type ciiUDTDate struct {
	Date ciiDateString `xml:"udt:DateTimeString"`
}

type ciiQDTDate struct {
	Date ciiDateString `xml:"qdt:DateTimeString"`
}

func udtDate(s string) ciiUDTDate { return ciiUDTDate{ciiDateString{"102", s}} }
func qdtDate(s string) ciiQDTDate { return ciiQDTDate{ciiDateString{"102", s}} }

type ciiNote struct {
	Content     string `xml:"ram:Content"`
	SubjectCode string `xml:"ram:SubjectCode,omitempty"`
}

type ciiTransaction struct {
	Lines      []ciiLine     `xml:"ram:IncludedSupplyChainTradeLineItem"`
	Agreement  ciiAgreement  `xml:"ram:ApplicableHeaderTradeAgreement"`
	Delivery   struct{}      `xml:"ram:ApplicableHeaderTradeDelivery"`
	Settlement ciiSettlement `xml:"ram:ApplicableHeaderTradeSettlement"`
}

type ciiLine struct {
	Document   ciiLineDocument   `xml:"ram:AssociatedDocumentLineDocument"`
	Product    ciiProduct        `xml:"ram:SpecifiedTradeProduct"`
	Agreement  ciiLineAgreement  `xml:"ram:SpecifiedLineTradeAgreement"`
	Delivery   ciiLineDelivery   `xml:"ram:SpecifiedLineTradeDelivery"`
	Settlement ciiLineSettlement `xml:"ram:SpecifiedLineTradeSettlement"`
}

type ciiLineDocument struct {
	LineID string   `xml:"ram:LineID"`
	Note   *ciiNote `xml:"ram:IncludedNote"`
}

type ciiProduct struct {
	Name        string `xml:"ram:Name"`
	Description string `xml:"ram:Description,omitempty"`
}

type ciiLineAgreement struct {
	NetPrice ciiPrice `xml:"ram:NetPriceProductTradePrice"`
}

type ciiPrice struct {
	ChargeAmount string `xml:"ram:ChargeAmount"`
}

type ciiQuantity struct {
	Unit  string `xml:"unitCode,attr"`
	Value string `xml:",chardata"`
}

type ciiLineDelivery struct {
	Billed ciiQuantity `xml:"ram:BilledQuantity"`
}

type ciiLineSettlement struct {
	Tax       ciiTax         `xml:"ram:ApplicableTradeTax"`
	Summation ciiLineSummary `xml:"ram:SpecifiedTradeSettlementLineMonetarySummation"`
}

type ciiLineSummary struct {
	LineTotal string `xml:"ram:LineTotalAmount"`
}

// ciiTax is TradeTaxType: a line's or an allowance's category (no
// amounts), or a breakdown.
type ciiTax struct {
	Calculated      string `xml:"ram:CalculatedAmount,omitempty"`
	TypeCode        string `xml:"ram:TypeCode"`
	ExemptionReason string `xml:"ram:ExemptionReason,omitempty"`
	Basis           string `xml:"ram:BasisAmount,omitempty"`
	Category        string `xml:"ram:CategoryCode"`
	ExemptionCode   string `xml:"ram:ExemptionReasonCode,omitempty"`
	Rate            string `xml:"ram:RateApplicablePercent,omitempty"`
}

type ciiAgreement struct {
	Seller ciiParty `xml:"ram:SellerTradeParty"`
	Buyer  ciiParty `xml:"ram:BuyerTradeParty"`
}

type ciiParty struct {
	Name        string        `xml:"ram:Name"`
	Description string        `xml:"ram:Description,omitempty"`
	Legal       *ciiLegal     `xml:"ram:SpecifiedLegalOrganization"`
	Address     ciiAddress    `xml:"ram:PostalTradeAddress"`
	URI         *ciiURI       `xml:"ram:URIUniversalCommunication"`
	TaxReg      *ciiSchemedID `xml:"ram:SpecifiedTaxRegistration>ram:ID"`
}

type ciiSchemedID struct {
	Scheme string `xml:"schemeID,attr"`
	Value  string `xml:",chardata"`
}

type ciiLegal struct {
	ID ciiSchemedID `xml:"ram:ID"`
}

type ciiURI struct {
	ID ciiSchemedID `xml:"ram:URIID"`
}

type ciiAddress struct {
	PostalCode string `xml:"ram:PostcodeCode,omitempty"`
	LineOne    string `xml:"ram:LineOne,omitempty"`
	LineTwo    string `xml:"ram:LineTwo,omitempty"`
	LineThree  string `xml:"ram:LineThree,omitempty"`
	City       string `xml:"ram:CityName,omitempty"`
	Country    string `xml:"ram:CountryID"`
}

type ciiSettlement struct {
	CreditorID       string            `xml:"ram:CreditorReferenceID,omitempty"`
	PaymentReference string            `xml:"ram:PaymentReference,omitempty"`
	Currency         string            `xml:"ram:InvoiceCurrencyCode"`
	PaymentMeans     []ciiPaymentMeans `xml:"ram:SpecifiedTradeSettlementPaymentMeans"`
	Taxes            []ciiTax          `xml:"ram:ApplicableTradeTax"`
	Period           *ciiPeriod        `xml:"ram:BillingSpecifiedPeriod"`
	Allowances       []ciiAllowance    `xml:"ram:SpecifiedTradeAllowanceCharge"`
	Terms            *ciiTerms         `xml:"ram:SpecifiedTradePaymentTerms"`
	Summation        ciiSummation      `xml:"ram:SpecifiedTradeSettlementHeaderMonetarySummation"`
	Preceding        *ciiReferencedDoc `xml:"ram:InvoiceReferencedDocument"`
}

type ciiPaymentMeans struct {
	TypeCode    string             `xml:"ram:TypeCode"`
	Information string             `xml:"ram:Information,omitempty"`
	Debited     *ciiIBAN           `xml:"ram:PayerPartyDebtorFinancialAccount"`
	Payee       *ciiIBAN           `xml:"ram:PayeePartyCreditorFinancialAccount"`
	Institution *ciiFinancialInstr `xml:"ram:PayeeSpecifiedCreditorFinancialInstitution"`
}

type ciiIBAN struct {
	IBAN string `xml:"ram:IBANID"`
}

type ciiFinancialInstr struct {
	BIC string `xml:"ram:BICID"`
}

type ciiPeriod struct {
	Start ciiUDTDate `xml:"ram:StartDateTime"`
	End   ciiUDTDate `xml:"ram:EndDateTime"`
}

type ciiIndicator struct {
	Indicator bool `xml:"udt:Indicator"`
}

type ciiAllowance struct {
	Charge     ciiIndicator `xml:"ram:ChargeIndicator"`
	Amount     string       `xml:"ram:ActualAmount"`
	ReasonCode string       `xml:"ram:ReasonCode,omitempty"`
	Reason     string       `xml:"ram:Reason,omitempty"`
	Tax        ciiTax       `xml:"ram:CategoryTradeTax"`
}

type ciiTerms struct {
	Description string      `xml:"ram:Description,omitempty"`
	Due         *ciiUDTDate `xml:"ram:DueDateDateTime"`
	Mandate     string      `xml:"ram:DirectDebitMandateID,omitempty"`
}

type ciiAmount struct {
	Currency string `xml:"currencyID,attr"`
	Value    string `xml:",chardata"`
}

type ciiSummation struct {
	LineTotal  string    `xml:"ram:LineTotalAmount"`
	Allowances string    `xml:"ram:AllowanceTotalAmount"`
	TaxBasis   string    `xml:"ram:TaxBasisTotalAmount"`
	Tax        ciiAmount `xml:"ram:TaxTotalAmount"`
	GrandTotal string    `xml:"ram:GrandTotalAmount"`
	Prepaid    string    `xml:"ram:TotalPrepaidAmount"`
	Due        string    `xml:"ram:DuePayableAmount"`
}

type ciiReferencedDoc struct {
	ID     string     `xml:"ram:IssuerAssignedID"`
	Issued ciiQDTDate `xml:"ram:FormattedIssueDateTime"`
}

// build maps a checked Input to the CII tree.
func build(in *Input) *ciiInvoice {
	doc := &ciiInvoice{RSM: nsRSM, QDT: nsQDT, RAM: nsRAM, UDT: nsUDT}
	doc.Context.Guideline.ID = Guideline
	if in.BusinessProcess != "" {
		doc.Context.BusinessProcess = &ciiID{in.BusinessProcess}
	}
	doc.Document = ciiDocument{ID: in.Number, TypeCode: string(in.Type), Issued: udtDate(date(in.Issued))}
	for _, n := range in.Notes {
		doc.Document.Notes = append(doc.Document.Notes, ciiNote{Content: clean(n.Text), SubjectCode: n.Subject})
	}

	tx := &doc.Transaction
	for _, l := range in.Lines {
		cl := ciiLine{
			Document:  ciiLineDocument{LineID: l.ID},
			Product:   ciiProduct{Name: clean(l.Name), Description: clean(l.Description)},
			Agreement: ciiLineAgreement{NetPrice: ciiPrice{ChargeAmount: billing.FormatFixed(l.NetPrice, priceDecimals(l.NetPrice))}},
			Delivery:  ciiLineDelivery{Billed: ciiQuantity{Unit: l.Unit, Value: billing.FormatFixed(l.Quantity, QuantityDecimals)}},
			Settlement: ciiLineSettlement{
				Tax:       categoryTax(l.Category, l.Rate),
				Summation: ciiLineSummary{LineTotal: l.NetAmount.String()},
			},
		}
		if l.Note != "" {
			cl.Document.Note = &ciiNote{Content: clean(l.Note)}
		}
		tx.Lines = append(tx.Lines, cl)
	}

	outside := false
	for _, v := range in.VAT {
		outside = outside || v.Category == OutsideScope
	}
	tx.Agreement.Seller = party(in.Seller, !outside)
	tx.Agreement.Buyer = party(in.Buyer, !outside)

	s := &tx.Settlement
	s.CreditorID = in.CreditorID
	s.PaymentReference = in.PaymentReference
	s.Currency = in.Currency
	for _, p := range in.PaymentMeans {
		m := ciiPaymentMeans{TypeCode: p.Code, Information: clean(p.Information)}
		if p.DebitedIBAN != "" {
			m.Debited = &ciiIBAN{p.DebitedIBAN}
		}
		if p.PayeeIBAN != "" {
			m.Payee = &ciiIBAN{p.PayeeIBAN}
		}
		if p.PayeeBIC != "" {
			m.Institution = &ciiFinancialInstr{p.PayeeBIC}
		}
		s.PaymentMeans = append(s.PaymentMeans, m)
	}
	for _, v := range in.VAT {
		t := categoryTax(v.Category, v.Rate)
		t.Calculated, t.Basis = v.Tax.String(), v.Basis.String()
		t.ExemptionReason, t.ExemptionCode = clean(v.ExemptionReason), v.ExemptionCode
		s.Taxes = append(s.Taxes, t)
	}
	if !in.PeriodStart.IsZero() && !in.PeriodEnd.IsZero() {
		s.Period = &ciiPeriod{Start: udtDate(date(in.PeriodStart)), End: udtDate(date(in.PeriodEnd))}
	}
	for _, a := range in.Allowances {
		s.Allowances = append(s.Allowances, ciiAllowance{
			Amount: a.Amount.String(), ReasonCode: a.ReasonCode, Reason: clean(a.Reason), Tax: categoryTax(a.Category, a.Rate),
		})
	}
	if in.PaymentTerms != "" || !in.Due.IsZero() || in.MandateReference != "" {
		s.Terms = &ciiTerms{Description: clean(in.PaymentTerms), Mandate: in.MandateReference}
		if !in.Due.IsZero() {
			d := udtDate(date(in.Due))
			s.Terms.Due = &d
		}
	}
	t := in.Totals
	s.Summation = ciiSummation{
		LineTotal: t.LineTotal.String(), Allowances: t.Allowances.String(), TaxBasis: t.TaxBasis.String(),
		Tax: ciiAmount{Currency: in.Currency, Value: t.Tax.String()}, GrandTotal: t.GrandTotal.String(),
		Prepaid: t.Prepaid.String(), Due: t.Due.String(),
	}
	if in.Preceding != nil {
		s.Preceding = &ciiReferencedDoc{ID: in.Preceding.Number, Issued: qdtDate(date(in.Preceding.Issued))}
	}
	return doc
}

// categoryTax is a line's, an allowance's or a breakdown's VAT category
// and rate; "not subject to VAT" has no rate (BR-O-05, BR-O-06, BR-48).
func categoryTax(c Category, r decimal.Decimal) ciiTax {
	t := ciiTax{TypeCode: "VAT", Category: string(c)}
	if c != OutsideScope {
		t.Rate = rateText(c, r)
	}
	return t
}

// party writes a seller or a buyer; withVAT false leaves its VAT
// identifier out, as an invoice not subject to VAT must (BR-O-02).
func party(p Party, withVAT bool) ciiParty {
	cp := ciiParty{Name: clean(p.Name), Description: clean(p.LegalInfo)}
	if p.SIREN != "" {
		cp.Legal = &ciiLegal{ID: ciiSchemedID{Scheme: "0002", Value: p.SIREN}}
	}
	a := p.Address
	cp.Address = ciiAddress{PostalCode: a.PostalCode, City: clean(a.City), Country: a.Country}
	for i, l := range a.Lines {
		switch i {
		case 0:
			cp.Address.LineOne = clean(l)
		case 1:
			cp.Address.LineTwo = clean(l)
		default:
			cp.Address.LineThree = clean(cp.Address.LineThree + " " + l)
		}
	}
	if p.Email != "" {
		cp.URI = &ciiURI{ID: ciiSchemedID{Scheme: "EM", Value: p.Email}}
	}
	if withVAT && p.VATNumber != "" {
		cp.TaxReg = &ciiSchemedID{Scheme: "VA", Value: p.VATNumber}
	}
	return cp
}
