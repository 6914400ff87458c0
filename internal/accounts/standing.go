package accounts

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/billingengine/engine/billing"
	"github.com/billingengine/engine/internal/platform/pgdb"
)

// An account's standing follows its overdue invoices (SPEC §5): it is
// suspended when an invoice becomes overdue unpaid, and reactivated when no
// overdue invoice remains. An overdue invoice whose SEPA debit is
// processing still remains: the debit may fail days later, and reactivating
// the account meanwhile would only suspend it again (with an email and a
// webhook each time). It doesn't suspend an active account either, since a
// processing debit isn't unpaid until it fails. So:
//   - suspend: the account has an overdue open invoice;
//   - stay suspended: it has an overdue open or processing one;
//   - reactivate: it has neither.
//
// The audit's suspended_only_when_overdue check is the second rule.

// overdueRemains is the condition, on invoices i, of an overdue invoice
// that keeps its account suspended.
const overdueRemains = `i.overdue_at IS NOT NULL AND i.status IN ('open', 'processing')`

// lockStanding takes the account row before its standing is decided. Two
// payments of one account's invoices, committing side by side, would each
// still see the other invoice unpaid; behind the lock, the second sees the
// first. The lock must be a statement of its own: a subquery in the UPDATE
// would keep the snapshot taken before the wait. NO KEY UPDATE, so that it
// doesn't conflict with the key-share locks that inserts referencing the
// account (timeline events, attempts) hold: two such transactions would
// otherwise deadlock. It is the lock collection takes on the account
// (payments.PrepareCollections, payments.AddEntry).
func lockStanding(ctx context.Context, tx pgx.Tx, accountID string) error {
	_, err := tx.Exec(ctx, `SELECT 1 FROM accounts WHERE id = $1 FOR NO KEY UPDATE`, accountID)
	return err
}

// LockStandings locks, in tx, what the accounts' standings are decided
// from: their unpaid (open or processing) invoices, in id order, then the
// account rows, in id order. That is the order payment paths lock in
// (collection and recording an outcome lock the invoices first, then, when
// they need it, the account), so the two never wait for each other in a
// circle. The account lock alone would not serialise with a card payment:
// recording one locks only its invoice while the account is active.
// Behind both locks, a payment of one of these invoices has either
// committed, and is seen by every later statement of tx, or waits for tx
// to commit, and then sees what tx did (a suspension it undoes). It
// returns each account's status.
func LockStandings(ctx context.Context, tx pgx.Tx, accountIDs []string) (map[string]string, error) {
	if _, err := tx.Exec(ctx, `SELECT 1 FROM invoices WHERE account_id = ANY($1) AND status IN ('open', 'processing') ORDER BY id FOR UPDATE`, accountIDs); err != nil {
		return nil, err
	}
	rows, err := tx.Query(ctx, `SELECT id, status FROM accounts WHERE id = ANY($1) ORDER BY id FOR NO KEY UPDATE`, accountIDs)
	if err != nil {
		return nil, err
	}
	status := make(map[string]string, len(accountIDs))
	for rows.Next() {
		var id, s string
		if err := rows.Scan(&id, &s); err != nil {
			rows.Close()
			return nil, err
		}
		status[id] = s
	}
	rows.Close()
	return status, rows.Err()
}

// Suspend suspends an active account that has an overdue open invoice,
// with a timeline event listing its overdue invoices, in tx. The invoices
// are read behind the account's lock, so what it lists is what the
// account owes at that moment; an account with nothing overdue unpaid is
// never suspended. The caller holds the locks of the invoices it just
// found overdue (LockStandings, or the outcome being recorded), so those
// can't be paid in between. It returns the overdue invoices and whether
// it suspended the account.
func Suspend(ctx context.Context, tx pgx.Tx, accountID string, at time.Time) (overdue []string, suspended bool, err error) {
	if err := lockStanding(ctx, tx, accountID); err != nil {
		return nil, false, err
	}
	rows, err := tx.Query(ctx, `SELECT i.number, i.status FROM invoices i WHERE i.account_id = $1 AND `+overdueRemains+` ORDER BY i.number`, accountID)
	if err != nil {
		return nil, false, err
	}
	unpaid := false
	for rows.Next() {
		var number, status string
		if err := rows.Scan(&number, &status); err != nil {
			rows.Close()
			return nil, false, err
		}
		overdue = append(overdue, number)
		unpaid = unpaid || status == "open"
	}
	rows.Close()
	if err := rows.Err(); err != nil || !unpaid {
		return overdue, false, err
	}
	tag, err := tx.Exec(ctx, `UPDATE accounts SET status = 'suspended', updated_at = now() WHERE id = $1 AND status = 'active'`, accountID)
	if err != nil || tag.RowsAffected() == 0 {
		return overdue, false, err
	}
	return overdue, true, RecordEvents(ctx, tx, []Event{{AccountID: accountID, At: at, Kind: billing.TimelineSuspended,
		Data: map[string]any{"overdue_invoices": overdue}}})
}

// OverdueInvoices lists the account's overdue invoices that keep it
// suspended (open, or with a SEPA debit processing).
func OverdueInvoices(ctx context.Context, tx pgx.Tx, accountID string) ([]string, error) {
	rows, err := tx.Query(ctx, `SELECT i.number FROM invoices i WHERE i.account_id = $1 AND `+overdueRemains+` ORDER BY i.number`, accountID)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, pgx.RowTo[string])
}

// ReactivateIfClear reactivates a suspended account once no overdue
// invoice of it remains (open or processing), with a timeline event, in
// tx. It reports whether it did.
func ReactivateIfClear(ctx context.Context, tx pgx.Tx, accountID string, at time.Time) (bool, error) {
	if err := lockStanding(ctx, tx, accountID); err != nil {
		return false, err
	}
	tag, err := tx.Exec(ctx, `
		UPDATE accounts a SET status = 'active', updated_at = now()
		WHERE a.id = $1 AND a.status = 'suspended'
		  AND NOT EXISTS (SELECT 1 FROM invoices i WHERE i.account_id = a.id AND `+overdueRemains+`)`, accountID)
	if err != nil || tag.RowsAffected() == 0 {
		return false, err
	}
	return true, RecordEvents(ctx, tx, []Event{{AccountID: accountID, At: at, Kind: billing.TimelineReactivated}})
}

// StandingToReview lists the accounts whose standing disagrees with their
// invoices: suspended with no overdue invoice remaining, or active with an
// overdue open one. The engine doesn't leave accounts so, but earlier
// versions did (a pass that suspended an account paid meanwhile, a
// reactivation that ignored a processing debit that then failed); the
// dunning pass decides each of them again, under LockStandings. The read
// takes no lock: it only names accounts to look at.
func StandingToReview(ctx context.Context, q pgdb.Executor) ([]string, error) {
	rows, err := q.Query(ctx, `
		SELECT a.id FROM accounts a
		WHERE a.status = 'suspended' AND NOT EXISTS (SELECT 1 FROM invoices i WHERE i.account_id = a.id AND `+overdueRemains+`)
		UNION
		SELECT i.account_id FROM invoices i JOIN accounts a ON a.id = i.account_id
		WHERE i.status = 'open' AND i.overdue_at IS NOT NULL AND a.status = 'active'
		ORDER BY 1`)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, pgx.RowTo[string])
}
