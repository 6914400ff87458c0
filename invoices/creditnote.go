package invoices

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/shopspring/decimal"

	"github.com/billingengine/engine/billing"
)

// ErrCreditNoteNotFound is returned for a credit note number that doesn't
// exist.
var ErrCreditNoteNotFound = errors.New("credit note not found")

// IsCreditNoteNumber reports whether a document number is a credit note's.
func IsCreditNoteNumber(number string) bool { return strings.HasPrefix(number, "CN-") }

// CreditNote cancels a voided invoice. Its amounts and lines are the
// invoice's, negated; Refunded is what had been paid on the invoice when it
// was voided, moved to the account's prepaid credit.
type CreditNote struct {
	id            int64
	Number        string    `json:"number"`
	InvoiceNumber string    `json:"invoice_number"`
	AccountID     string    `json:"account_id"`
	Period        string    `json:"period"`
	IssuedAt      time.Time `json:"issued_at"`
	Reason        string    `json:"reason"`
	Currency      string    `json:"currency"`
	Subtotal      string    `json:"subtotal"`
	Discount      string    `json:"discount"`
	TaxRate       string    `json:"tax_rate"`
	Tax           string    `json:"tax"`
	Total         string    `json:"total"`
	Refunded      string    `json:"refunded"`
	Lines         []Line    `json:"lines"`
	RequestedBy   string    `json:"requested_by"`

	invoice *Invoice
}

// GetCreditNote returns a credit note by number.
func GetCreditNote(ctx context.Context, q Querier, number string) (*CreditNote, error) {
	return loadCreditNote(ctx, q, `c.number = $1`, number)
}

func creditNoteOf(ctx context.Context, q Querier, invoiceID int64) (*CreditNote, error) {
	return loadCreditNote(ctx, q, `c.invoice_id = $1`, invoiceID)
}

func loadCreditNote(ctx context.Context, q Querier, where string, arg any) (*CreditNote, error) {
	var cn CreditNote
	var subtotal, discount, tax, total, refunded decimal.Decimal
	err := q.QueryRow(ctx, `
		SELECT c.id, c.number, i.number, c.account_id, i.period, c.issued_at, c.reason, i.currency,
		       c.subtotal, c.discount, c.tax, c.total, c.refunded, c.requested_by
		FROM credit_notes c JOIN invoices i ON i.id = c.invoice_id WHERE `+where, arg).
		Scan(&cn.id, &cn.Number, &cn.InvoiceNumber, &cn.AccountID, &cn.Period, &cn.IssuedAt, &cn.Reason, &cn.Currency,
			&subtotal, &discount, &tax, &total, &refunded, &cn.RequestedBy)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, fmt.Errorf("%w: %v", ErrCreditNoteNotFound, arg)
	}
	if err != nil {
		return nil, err
	}
	cn.IssuedAt = cn.IssuedAt.UTC()
	cn.Subtotal, cn.Discount, cn.Tax, cn.Total = money(subtotal), money(discount), money(tax), money(total)
	cn.Refunded = money(refunded)
	inv, err := Get(ctx, q, cn.InvoiceNumber)
	if err != nil {
		return nil, err
	}
	cn.invoice = inv
	cn.TaxRate = inv.TaxRate
	cn.Lines = make([]Line, len(inv.Lines))
	for i, l := range inv.Lines {
		l.Amount = money(decimal.RequireFromString(l.Amount).Neg())
		cn.Lines[i] = l
	}
	return &cn, nil
}

// money formats an amount, never as "-0.00".
func money(d decimal.Decimal) string {
	if d.IsZero() {
		d = decimal.Zero
	}
	return billing.FormatMoney(d)
}

// creditNoteDocument is what a credit note's PDF shows: the invoice it
// cancels, negated, and the refund.
func creditNoteDocument(ctx context.Context, q Querier, number string) (*Document, error) {
	cn, err := GetCreditNote(ctx, q, number)
	if err != nil {
		return nil, err
	}
	inv := cn.invoice
	doc := &Document{
		Kind: KindCreditNote, Number: cn.Number, Reverses: cn.InvoiceNumber, Reason: cn.Reason, Issued: cn.IssuedAt, Due: cn.IssuedAt,
		Period: inv.Period, Start: inv.PeriodStart, End: inv.PeriodEnd,
		BuyerAccount: inv.AccountID, BuyerName: inv.BuyerName, BuyerEmail: inv.BuyerEmail,
		BuyerCountry: inv.BuyerCountry, BuyerVATNumber: inv.BuyerVATNumber,
		Lines: cn.Lines, Subtotal: cn.Subtotal, Discount: cn.Discount, TaxRate: cn.TaxRate, Tax: cn.Tax, Total: cn.Total,
		CreditApplied: "0.00", AmountPaid: cn.Refunded, AmountDue: "0.00", VATTreatment: inv.VATTreatment,
	}
	doc.Descriptions, err = descriptions(ctx, q, inv)
	return doc, err
}
