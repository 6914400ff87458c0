package payments

import (
	"cmp"
	"context"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/billingengine/engine/billing"
	"github.com/billingengine/engine/internal/platform/pgdb"
)

// DunningCandidate is an unpaid invoice and what the dunning rules need
// to know of it.
type DunningCandidate struct {
	InvoiceID     int64
	InvoiceNumber string
	AccountID     string
	Input         billing.DunningInput
}

// dunningSQL reads open invoices that are not overdue yet, with their
// retries so far, whether an attempt is in flight and whether the account
// has a payment method.
const dunningSQL = `
	SELECT i.id, i.number, i.account_id, coalesce(i.collect_at, i.issued_at),
	       coalesce(s.last_slot, 0),
	       coalesce(s.last_failed, false),
	       coalesce(s.in_flight, false),
	       EXISTS (SELECT 1 FROM payment_methods pm WHERE pm.account_id = i.account_id AND pm.replaced_at IS NULL)
	FROM invoices i
	LEFT JOIN LATERAL (
	    SELECT max(pa.dunning_slot) AS last_slot,
	           bool_or(pa.state IN ('pending', 'processing')) AS in_flight,
	           (SELECT l.state IN ('declined', 'failed') FROM payment_attempts l
	            WHERE l.invoice_id = i.id AND l.dunning_slot IS NOT NULL
	            ORDER BY l.dunning_slot DESC LIMIT 1) AS last_failed
	    FROM payment_attempts pa WHERE pa.invoice_id = i.id) s ON true
	WHERE i.status = 'open' AND i.overdue_at IS NULL`

// dunningByIDSQL looks the batch's invoices up by id first: asked for
// "status = 'open' AND id = ANY($1)" in one go, the planner scanned the
// partial index of open invoices whole, which it believed empty when the
// statistics dated from the drafts (a first month, during the run that
// fills it): 31 ms a batch at 100,000 invoices instead of 5.
var dunningByIDSQL = `WITH batch AS MATERIALIZED (SELECT * FROM invoices WHERE id = ANY($1))` +
	strings.Replace(dunningSQL, "FROM invoices i\n", "FROM batch i\n", 1)

func scanCandidates(rows pgx.Rows, now time.Time) ([]DunningCandidate, error) {
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (DunningCandidate, error) {
		var c DunningCandidate
		err := r.Scan(&c.InvoiceID, &c.InvoiceNumber, &c.AccountID, &c.Input.IssuedAt,
			&c.Input.LastSlot, &c.Input.LastSlotFailed, &c.Input.InFlight, &c.Input.CanRetry)
		c.Input.Now = now
		return c, err
	})
}

// DunningCandidates returns every open invoice that is not overdue yet. The
// dunning pass reads it without locks: good enough to enqueue retries
// (collection rechecks the invoice) and to name the accounts to look at,
// not to suspend one (see DunningCandidatesOf).
func DunningCandidates(ctx context.Context, q pgdb.Executor, now time.Time) ([]DunningCandidate, error) {
	rows, err := q.Query(ctx, dunningSQL+` ORDER BY i.number`)
	if err != nil {
		return nil, err
	}
	return scanCandidates(rows, now)
}

// DunningCandidatesOf returns the accounts' open invoices that are not
// overdue yet, in id order. Read behind accounts.LockStandings, it is the
// state their suspensions are decided from.
func DunningCandidatesOf(ctx context.Context, q pgdb.Executor, accountIDs []string, now time.Time) ([]DunningCandidate, error) {
	rows, err := q.Query(ctx, dunningSQL+` AND i.account_id = ANY($1) ORDER BY i.id`, accountIDs)
	if err != nil {
		return nil, err
	}
	return scanCandidates(rows, now)
}

// DunningCandidatesByID returns those of the invoices that are open and not
// overdue yet, as candidates by invoice id: one statement for a collection
// batch's declines, however many.
func DunningCandidatesByID(ctx context.Context, q pgdb.Executor, invoiceIDs []int64, now time.Time) (map[int64]*DunningCandidate, error) {
	rows, err := q.Query(ctx, dunningByIDSQL, invoiceIDs)
	if err != nil {
		return nil, err
	}
	cs, err := scanCandidates(rows, now)
	if err != nil {
		return nil, err
	}
	out := make(map[int64]*DunningCandidate, len(cs))
	for i := range cs {
		out[cs[i].InvoiceID] = &cs[i]
	}
	return out, nil
}

// MarkOverdue records that invoices became overdue at now.
// It returns the invoice.overdue events of those that were not overdue yet,
// for jobs.Enqueue.
func MarkOverdue(ctx context.Context, tx pgx.Tx, invoiceIDs []int64, now time.Time) (billing.Effects, error) {
	var e billing.Effects
	if len(invoiceIDs) == 0 {
		return e, nil
	}
	rows, err := tx.Query(ctx, `UPDATE invoices SET overdue_at = $2 WHERE id = ANY($1) AND overdue_at IS NULL AND status = 'open'
		RETURNING id, account_id`, invoiceIDs, now)
	if err != nil {
		return e, err
	}
	type marked struct {
		id      int64
		account string
	}
	ms, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (marked, error) {
		var m marked
		return m, r.Scan(&m.id, &m.account)
	})
	if err != nil {
		return e, err
	}
	slices.SortFunc(ms, func(a, b marked) int { return cmp.Compare(a.id, b.id) })
	for _, m := range ms {
		id := m.id
		e.Events = append(e.Events, billing.Event{Type: billing.EventInvoiceOverdue, AccountID: m.account, At: now, InvoiceID: &id})
	}
	e.At = now
	return e, nil
}
