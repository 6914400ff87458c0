package views

import (
	"context"
	"time"

	"github.com/billingengine/engine/billing"
	"github.com/billingengine/engine/internal/platform/pgdb"
)

// Buckets are amounts due by age (billing.AgeingBucket), as the
// receivables JSON shows them (SPEC §15).
type Buckets struct {
	NotDue billing.Money `json:"not_due"`
	To30   billing.Money `json:"1_30"`
	To60   billing.Money `json:"31_60"`
	To90   billing.Money `json:"61_90"`
	Over90 billing.Money `json:"over_90"`
}

func (b *Buckets) add(bucket billing.AgeingBucket, m billing.Money) {
	switch bucket {
	case billing.BucketNotDue:
		b.NotDue = b.NotDue.Add(m)
	case billing.Bucket1To30:
		b.To30 = b.To30.Add(m)
	case billing.Bucket31To60:
		b.To60 = b.To60.Add(m)
	case billing.Bucket61To90:
		b.To90 = b.To90.Add(m)
	case billing.BucketOver90:
		b.Over90 = b.Over90.Add(m)
	}
}

// Get is one bucket's amount.
func (b Buckets) Get(bucket billing.AgeingBucket) billing.Money {
	switch bucket {
	case billing.BucketNotDue:
		return b.NotDue
	case billing.Bucket1To30:
		return b.To30
	case billing.Bucket31To60:
		return b.To60
	case billing.Bucket61To90:
		return b.To90
	case billing.BucketOver90:
		return b.Over90
	}
	return billing.Money{}
}

// ReceivableAccount is what one account owes, by age.
type ReceivableAccount struct {
	AccountID string        `json:"account_id"`
	Name      string        `json:"name"`
	Buckets   Buckets       `json:"buckets"`
	Total     billing.Money `json:"total"`
	// Invoices counts the account's unpaid invoices; Overdue those of them
	// dunning gave up on (the account is suspended for them).
	Invoices int `json:"invoices"`
	Overdue  int `json:"overdue"`
}

// Receivables is the ageing of what customers owe (billing receivables).
type Receivables struct {
	AsOf     string               `json:"as_of"`
	Accounts []*ReceivableAccount `json:"accounts"`
	// Buckets sums the accounts' buckets; Total their totals.
	Buckets Buckets       `json:"buckets"`
	Total   billing.Money `json:"total"`
}

// GetReceivables ages the invoices open or processing now that were
// issued on or before asOf's day (in loc), by account id: each owes its
// amount due (total − amount paid) in the bucket of its days past due as
// of that day. Invoices are due on issue. The status is today's: an
// invoice issued before asOf and paid since is not a receivable.
func GetReceivables(ctx context.Context, q pgdb.Executor, asOf time.Time, loc *time.Location) (*Receivables, error) {
	a := asOf.In(loc)
	day := time.Date(a.Year(), a.Month(), a.Day(), 0, 0, 0, 0, loc)
	end := day.AddDate(0, 0, 1)
	rows, err := q.Query(ctx, `
		SELECT i.account_id, a.name, i.issued_at, i.total - i.amount_paid, i.overdue_at IS NOT NULL
		FROM invoices i JOIN accounts a ON a.id = i.account_id
		WHERE i.status IN ('open', 'processing') AND i.issued_at < $1 AND i.total > i.amount_paid
		ORDER BY i.account_id, i.issued_at`, end)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	r := &Receivables{AsOf: day.Format(time.DateOnly), Accounts: []*ReceivableAccount{}}
	var cur *ReceivableAccount
	for rows.Next() {
		var id, name string
		var issued time.Time
		var due billing.Money
		var overdue bool
		if err := rows.Scan(&id, &name, &issued, &due, &overdue); err != nil {
			return nil, err
		}
		if cur == nil || cur.AccountID != id {
			cur = &ReceivableAccount{AccountID: id, Name: name}
			r.Accounts = append(r.Accounts, cur)
		}
		bucket := billing.BucketFor(billing.DaysPastDue(issued, day, loc))
		cur.Buckets.add(bucket, due)
		cur.Total = cur.Total.Add(due)
		cur.Invoices++
		if overdue {
			cur.Overdue++
		}
		r.Buckets.add(bucket, due)
		r.Total = r.Total.Add(due)
	}
	return r, rows.Err()
}
