package jobs

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/billingengine/engine/internal/platform/pgdb"
	"github.com/billingengine/engine/invoices"
	"github.com/billingengine/engine/payments"
)

// VoidInvoice voids an invoice (payments.Void) in one transaction with what
// follows from it: the credit note's PDF is rendered, the credit the
// account got back pays its open invoices, and an account suspended for
// this invoice alone is reactivated. A queued collect_invoice for the void
// invoice charges nothing. Voiding twice returns the first credit note.
func VoidInvoice(ctx context.Context, db pgdb.DB, client *Client, cfg *invoices.Config, p invoices.VoidParams, now time.Time) (v *payments.Voided, err error) {
	// A void locks the invoice, its referrer's reward and two accounts'
	// credit; a finalization or a collection running beside it may lock
	// some of those in another order. Postgres breaks such a deadlock by
	// failing one side: the void is simply done again.
	for try := 1; ; try++ {
		v, err = voidOnce(ctx, db, client, cfg, p, now)
		if try < 3 && pgdb.Retryable(err) {
			continue
		}
		return v, err
	}
}

func voidOnce(ctx context.Context, db pgdb.DB, client *Client, cfg *invoices.Config, p invoices.VoidParams, now time.Time) (*payments.Voided, error) {
	var v *payments.Voided
	err := pgx.BeginFunc(ctx, db, func(tx pgx.Tx) error {
		var err error
		v, err = payments.Void(ctx, tx, cfg, p, now)
		if err != nil || v.AlreadyVoid {
			return err
		}
		// The money the void moved: its timeline events, and the credited
		// accounts' open invoices collected.
		if _, err := Enqueue(ctx, tx, client, v.Effects); err != nil {
			return err
		}
		if err := enqueueRenders(ctx, tx, client, v.CreditNote.Number); err != nil {
			return err
		}
		return AfterPayment(ctx, tx, client, v.Invoice.AccountID, now)
	})
	return v, err
}
