package views_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/billingengine/engine/billing"
	"github.com/billingengine/engine/internal/dbtest"
	"github.com/billingengine/engine/internal/testfactory"
	"github.com/billingengine/engine/internal/views"
)

// Invoices issued at each boundary day before the as-of date land in the
// bucket of their days past due; what is not owed (paid, void, issued
// later) is left out; every total is the sum of its parts.
func TestReceivablesAgeing(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := dbtest.New(t)
	paris, err := time.LoadLocation("Europe/Paris")
	require.NoError(t, err)
	asOf := time.Date(2026, 12, 31, 0, 0, 0, 0, paris)

	type inv struct {
		daysBefore int
		status     string
		total      string
		paid       string
		want       billing.AgeingBucket // "" : not a receivable
	}
	cases := []inv{
		{-1, "open", "5.00", "0.00", ""}, // issued the day after
		{0, "open", "1.00", "0.00", billing.BucketNotDue},
		{1, "processing", "2.00", "0.00", billing.Bucket1To30},
		{30, "open", "4.00", "1.50", billing.Bucket1To30}, // partly paid: 2.50 due
		{31, "open", "8.00", "0.00", billing.Bucket31To60},
		{60, "open", "16.00", "0.00", billing.Bucket31To60},
		{61, "open", "32.00", "0.00", billing.Bucket61To90},
		{90, "open", "64.00", "0.00", billing.Bucket61To90},
		{91, "open", "128.00", "0.00", billing.BucketOver90},
		{200, "paid", "256.00", "256.00", ""},
	}
	want := map[string]map[billing.AgeingBucket]billing.Money{}
	for i, c := range cases {
		acc := fmt.Sprintf("acc_%d", i%3)
		if i < 3 {
			testfactory.Account(ctx, t, db.Pool, &testfactory.AccountOpts{ID: &acc})
		}
		// Issued at 23:30 Paris time: the day of issue is Paris's, not UTC's.
		day := asOf.AddDate(0, 0, -c.daysBefore)
		issued := time.Date(day.Year(), day.Month(), day.Day(), 23, 30, 0, 0, paris)
		opts := &testfactory.InvoiceOpts{AccountID: &acc, Period: testfactory.Ptr(fmt.Sprintf("2025-%02d", i+1)), Subtotal: &c.total,
			Status: &c.status, AmountPaid: &c.paid, IssuedAt: &issued, Number: testfactory.Ptr(fmt.Sprintf("INV-2026-%06d", i+1))}
		testfactory.Invoice(ctx, t, db.Pool, opts)
		if c.want != "" {
			if want[acc] == nil {
				want[acc] = map[billing.AgeingBucket]billing.Money{}
			}
			due := billing.MustParseMoney(c.total).Sub(billing.MustParseMoney(c.paid))
			want[acc][c.want] = want[acc][c.want].Add(due)
		}
	}
	// A void invoice owes nothing.
	v := testfactory.Invoice(ctx, t, db.Pool, &testfactory.InvoiceOpts{AccountID: testfactory.Ptr("acc_0"), Period: testfactory.Ptr("2024-01"), Number: testfactory.Ptr("INV-2025-000001")})
	_, err = db.Pool.Exec(ctx, `UPDATE invoices SET status = 'void' WHERE id = $1`, v.ID)
	require.NoError(t, err)

	r, err := views.GetReceivables(ctx, db.Pool, asOf, paris)
	require.NoError(t, err)
	require.Equal(t, "2026-12-31", r.AsOf)
	require.Len(t, r.Accounts, len(want))
	var total, perBucket billing.Money
	for _, a := range r.Accounts {
		var sum billing.Money
		for _, b := range billing.AgeingBuckets {
			require.Equal(t, want[a.AccountID][b].String(), a.Buckets.Get(b).String(), "%s %s", a.AccountID, b)
			sum = sum.Add(a.Buckets.Get(b))
		}
		require.Equal(t, sum.String(), a.Total.String(), "an account's total is the sum of its buckets")
		total = total.Add(a.Total)
	}
	for _, b := range billing.AgeingBuckets {
		perBucket = perBucket.Add(r.Buckets.Get(b))
	}
	require.Equal(t, total.String(), r.Total.String(), "the total is the sum of the accounts")
	require.Equal(t, total.String(), perBucket.String(), "and of the buckets")
	require.Equal(t, "253.50", r.Total.String())

	// The same invoices a day later have all aged by one day.
	later, err := views.GetReceivables(ctx, db.Pool, asOf.AddDate(0, 0, 1), paris)
	require.NoError(t, err)
	require.Equal(t, "5.00", later.Buckets.NotDue.String(), "the invoice issued on the 31st is due now")
	require.Equal(t, "3.00", later.Buckets.To30.String(), "1 → 2 days, 0 → 1 day; 30 → 31 days moved on")
	require.Equal(t, "10.50", later.Buckets.To60.String(), "2.50 arrives at 31 days, 16.00 leaves at 61")
	require.Equal(t, "48.00", later.Buckets.To90.String(), "64.00 leaves at 91 days")
	require.Equal(t, "192.00", later.Buckets.Over90.String())
	require.Equal(t, "258.50", later.Total.String())
}
