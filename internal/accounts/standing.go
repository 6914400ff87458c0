package accounts

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/billingengine/engine/internal/timeline"
)

// lockStanding takes the account row before its standing is decided. Two
// payments of one account's invoices, committing side by side, would each
// still see the other invoice unpaid; behind the lock, the second sees the
// first. The lock must be a statement of its own: a subquery in the UPDATE
// would keep the snapshot taken before the wait. NO KEY UPDATE, so that it
// doesn't conflict with the key-share locks that inserts referencing the
// account (timeline events, attempts) hold: two such transactions would
// otherwise deadlock.
func lockStanding(ctx context.Context, tx pgx.Tx, accountID string) error {
	_, err := tx.Exec(ctx, `SELECT 1 FROM accounts WHERE id = $1 FOR NO KEY UPDATE`, accountID)
	return err
}

// Suspend suspends an active account because of overdue invoices, with a
// timeline event, in tx. It reports whether the account was active.
func Suspend(ctx context.Context, tx pgx.Tx, accountID string, at time.Time, overdue []string) (bool, error) {
	if err := lockStanding(ctx, tx, accountID); err != nil {
		return false, err
	}
	tag, err := tx.Exec(ctx, `UPDATE accounts SET status = 'suspended', updated_at = now() WHERE id = $1 AND status = 'active'`, accountID)
	if err != nil || tag.RowsAffected() == 0 {
		return false, err
	}
	return true, timeline.Record(ctx, tx, []timeline.Event{{AccountID: accountID, At: at, Kind: timeline.KindSuspended,
		Data: map[string]any{"overdue_invoices": overdue}}})
}

// OverdueInvoices lists the account's open invoices that are overdue.
func OverdueInvoices(ctx context.Context, tx pgx.Tx, accountID string) ([]string, error) {
	rows, err := tx.Query(ctx, `SELECT number FROM invoices WHERE account_id = $1 AND status = 'open' AND overdue_at IS NOT NULL ORDER BY number`, accountID)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, pgx.RowTo[string])
}

// ReactivateIfClear reactivates a suspended account once no overdue
// invoice of it remains unpaid, with a timeline event, in tx. It reports
// whether it did.
func ReactivateIfClear(ctx context.Context, tx pgx.Tx, accountID string, at time.Time) (bool, error) {
	if err := lockStanding(ctx, tx, accountID); err != nil {
		return false, err
	}
	tag, err := tx.Exec(ctx, `
		UPDATE accounts a SET status = 'active', updated_at = now()
		WHERE a.id = $1 AND a.status = 'suspended'
		  AND NOT EXISTS (SELECT 1 FROM invoices i WHERE i.account_id = a.id AND i.status = 'open' AND i.overdue_at IS NOT NULL)`, accountID)
	if err != nil || tag.RowsAffected() == 0 {
		return false, err
	}
	return true, timeline.Record(ctx, tx, []timeline.Event{{AccountID: accountID, At: at, Kind: timeline.KindReactivated}})
}
