package payments

import (
	"context"

	"github.com/shopspring/decimal"

	"github.com/billingengine/engine/billing"
	"github.com/billingengine/engine/internal/platform/pgdb"
	"github.com/billingengine/engine/invoices"
)

// AttachAttempts fills the invoices' attempts (SPEC §7), oldest first. An
// attempt whose outcome is not known yet shows as processing.
func AttachAttempts(ctx context.Context, q pgdb.Executor, invs []*invoices.Invoice) error {
	if len(invs) == 0 {
		return nil
	}
	byID := make(map[int64]*invoices.Invoice, len(invs))
	ids := make([]int64, len(invs))
	for i, inv := range invs {
		byID[inv.ID], ids[i] = inv, inv.ID
	}
	rows, err := q.Query(ctx, `
		SELECT invoice_id, created_at, method, amount, CASE state WHEN 'pending' THEN 'processing' ELSE state END, code
		FROM payment_attempts WHERE invoice_id = ANY($1) ORDER BY invoice_id, attempt`, ids)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var id int64
		var a invoices.Attempt
		var amount decimal.Decimal
		if err := rows.Scan(&id, &a.At, &a.Method, &amount, &a.Outcome, &a.Code); err != nil {
			return err
		}
		a.At = a.At.UTC()
		a.Amount = billing.FormatMoney(amount)
		byID[id].Attempts = append(byID[id].Attempts, a)
	}
	return rows.Err()
}

// GetInvoice is invoices.Get with the attempts attached.
func GetInvoice(ctx context.Context, q pgdb.Executor, number string) (*invoices.Invoice, error) {
	inv, err := invoices.Get(ctx, q, number)
	if err != nil {
		return nil, err
	}
	return inv, AttachAttempts(ctx, q, []*invoices.Invoice{inv})
}

// ListInvoices is invoices.List with the attempts attached.
func ListInvoices(ctx context.Context, q pgdb.Executor, p invoices.ListParams) ([]*invoices.Invoice, error) {
	invs, err := invoices.List(ctx, q, p)
	if err != nil {
		return nil, err
	}
	return invs, AttachAttempts(ctx, q, invs)
}

// InvoicesByID is invoices.ByIDs with the attempts attached, by id.
func InvoicesByID(ctx context.Context, q pgdb.Executor, ids []int64) (map[int64]*invoices.Invoice, error) {
	invs, err := invoices.ByIDs(ctx, q, ids)
	if err != nil {
		return nil, err
	}
	if err := AttachAttempts(ctx, q, invs); err != nil {
		return nil, err
	}
	out := make(map[int64]*invoices.Invoice, len(invs))
	for _, inv := range invs {
		out[inv.ID] = inv
	}
	return out, nil
}
