package invoices

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/billingengine/engine/billing"
	"github.com/billingengine/engine/internal/platform/pgdb"
)

// ErrCreditNoteNotFound is returned for a credit note number that doesn't
// exist.
var ErrCreditNoteNotFound = errors.New("credit note not found")

// IsCreditNoteNumber reports whether a document number is a credit note's.
func IsCreditNoteNumber(number string) bool { return strings.HasPrefix(NormalizeNumber(number), "CN-") }

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

	invoice *storedInvoice
	amounts creditNoteAmounts
}

// creditNoteAmounts are a credit note's amounts typed, for its Document.
type creditNoteAmounts struct {
	subtotal, discount, tax, total, refunded billing.Money
}

// GetCreditNote returns a credit note by number.
func GetCreditNote(ctx context.Context, q pgdb.Executor, number string) (*CreditNote, error) {
	return loadCreditNote(ctx, q, `c.number = $1`, NormalizeNumber(number))
}

func creditNoteOf(ctx context.Context, q pgdb.Executor, invoiceID int64) (*CreditNote, error) {
	return loadCreditNote(ctx, q, `c.invoice_id = $1`, invoiceID)
}

func loadCreditNote(ctx context.Context, q pgdb.Executor, where string, arg any) (*CreditNote, error) {
	var cn CreditNote
	a := &cn.amounts
	err := q.QueryRow(ctx, `
		SELECT c.id, c.number, i.number, c.account_id, i.period, c.issued_at, c.reason, i.currency,
		       c.subtotal, c.discount, c.tax, c.total, c.refunded, c.requested_by
		FROM credit_notes c JOIN invoices i ON i.id = c.invoice_id WHERE `+where, arg).
		Scan(&cn.id, &cn.Number, &cn.InvoiceNumber, &cn.AccountID, &cn.Period, &cn.IssuedAt, &cn.Reason, &cn.Currency,
			&a.subtotal, &a.discount, &a.tax, &a.total, &a.refunded, &cn.RequestedBy)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, fmt.Errorf("%w: %v", ErrCreditNoteNotFound, arg)
	}
	if err != nil {
		return nil, err
	}
	cn.IssuedAt = cn.IssuedAt.UTC()
	cn.Subtotal, cn.Discount, cn.Tax, cn.Total = a.subtotal.String(), a.discount.String(), a.tax.String(), a.total.String()
	cn.Refunded = a.refunded.String()
	st, err := getStored(ctx, q, cn.InvoiceNumber)
	if err != nil {
		return nil, err
	}
	cn.invoice = st
	cn.TaxRate = st.inv.TaxRate
	cn.Lines = make([]Line, len(st.inv.Lines))
	for i, l := range st.inv.Lines {
		// Negated typed, not parsed back from the invoice's JSON; Money has
		// no -0.00 to guard against.
		l.Amount = st.lines[i].Amount.Neg().String()
		cn.Lines[i] = l
	}
	return &cn, nil
}
