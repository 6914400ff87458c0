package views_test

import (
	"context"
	"fmt"
	"slices"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/billingengine/engine/billing"
	"github.com/billingengine/engine/internal/dbtest"
	"github.com/billingengine/engine/internal/testfactory"
	"github.com/billingengine/engine/internal/views"
	"github.com/billingengine/engine/invoices"
)

// invoiceRow is what a test inserted, to compute a filter's answer in Go.
type invoiceRow struct {
	number, account, period, status string
	overdue                         bool
}

func pageAll(t *testing.T, ctx context.Context, db *dbtest.DB, f views.InvoiceFilter) []string {
	t.Helper()
	var got []string
	for pages := 0; ; pages++ {
		require.Less(t, pages, 100, "paging ends")
		page, err := views.ListInvoices(ctx, db.Pool, f)
		require.NoError(t, err)
		require.LessOrEqual(t, len(page.Data), f.Limit)
		for _, inv := range page.Data {
			got = append(got, inv.Number)
		}
		if page.Next == nil {
			return got
		}
		require.Len(t, page.Data, f.Limit, "a page before the last one is full")
		require.Equal(t, page.Data[len(page.Data)-1].Number, *page.Next)
		f.After = *page.Next
	}
}

// Every combination of filters, read page by page, gives exactly the
// invoices that match, in number order, each once.
func TestListInvoicesFiltersAndPages(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := dbtest.New(t)
	accounts := []string{"acc_a", "acc_b", "acc_c"}
	for _, id := range accounts {
		testfactory.Account(ctx, t, db.Pool, &testfactory.AccountOpts{ID: testfactory.Ptr(id)})
	}
	var rows []invoiceRow
	statuses := []string{"open", "processing", "paid"}
	for i, period := range []string{"2026-08", "2026-09", "2026-10"} {
		for j, acc := range accounts {
			status := statuses[(i+j)%3]
			inv := testfactory.Invoice(ctx, t, db.Pool, &testfactory.InvoiceOpts{AccountID: testfactory.Ptr(acc), Period: testfactory.Ptr(period), Status: &status})
			r := invoiceRow{number: inv.Number, account: acc, period: period, status: status}
			if status != "paid" && (i+j)%2 == 0 {
				_, err := db.Pool.Exec(ctx, `UPDATE invoices SET overdue_at = issued_at + interval '5 days' WHERE id = $1`, inv.ID)
				require.NoError(t, err)
				r.overdue = true
			}
			rows = append(rows, r)
		}
	}
	// A draft is not an invoice, and a void one is listed as void.
	testfactory.Draft(ctx, t, db.Pool, &testfactory.DraftOpts{AccountID: testfactory.Ptr("acc_a"), Period: testfactory.Ptr("2026-11")})
	v := testfactory.Invoice(ctx, t, db.Pool, &testfactory.InvoiceOpts{AccountID: testfactory.Ptr("acc_c"), Period: testfactory.Ptr("2026-07")})
	_, err := db.Pool.Exec(ctx, `UPDATE invoices SET status = 'void' WHERE id = $1`, v.ID)
	require.NoError(t, err)
	rows = append(rows, invoiceRow{number: v.Number, account: "acc_c", period: "2026-07", status: "void"})

	for _, period := range []string{"", "2026-08", "2026-10", "2026-12"} {
		for _, status := range []string{"", "open", "processing", "paid", "void"} {
			for _, account := range []string{"", "acc_a", "acc_c", "ghost"} {
				for _, overdue := range []bool{false, true} {
					var want []string
					for _, r := range rows {
						if (period == "" || r.period == period) && (status == "" || r.status == status) &&
							(account == "" || r.account == account) && (!overdue || r.overdue) {
							want = append(want, r.number)
						}
					}
					slices.Sort(want)
					for _, limit := range []int{1, 2, 100} {
						f := views.InvoiceFilter{Period: period, Status: invoices.Status(status), AccountID: account, Overdue: overdue, Limit: limit}
						got := pageAll(t, ctx, db, f)
						require.Equal(t, want, got, "%+v", f)
					}
				}
			}
		}
	}
}

// A page boundary doesn't move when invoices are finalized between two
// pages: nothing is listed twice or skipped, and the new invoices come last.
func TestListInvoicesStableUnderInserts(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := dbtest.New(t)
	var before []string
	for range 5 {
		before = append(before, testfactory.Invoice(ctx, t, db.Pool, nil).Number)
	}
	page, err := views.ListInvoices(ctx, db.Pool, views.InvoiceFilter{Limit: 2})
	require.NoError(t, err)
	require.NotNil(t, page.Next)
	got := []string{page.Data[0].Number, page.Data[1].Number}
	added := testfactory.Invoice(ctx, t, db.Pool, nil).Number
	rest := pageAll(t, ctx, db, views.InvoiceFilter{Limit: 2, After: *page.Next})
	require.Equal(t, append(before, added), append(got, rest...))
}

// The invoice JSON carries each usage line's unit prices and the VAT regime.
func TestListedInvoiceJSON(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := dbtest.New(t)
	for _, c := range []struct{ treatment, regime string }{
		{"domestic", "domestic"}, {"reverse_charge", "reverse_charge"}, {"oss", "oss"}, {"outside_eu", "outside_scope"},
	} {
		tr := invoicesTreatment(c.treatment)
		inv := testfactory.Invoice(ctx, t, db.Pool, &testfactory.InvoiceOpts{VATTreatment: &tr})
		_, err := db.Pool.Exec(ctx, `INSERT INTO invoice_usage_lines (invoice_id, apps, resources, hours, amounts, price_counts, prices_per_hour, price_hours)
			VALUES ($1, '{web}', '{c}', '{100}', '{10.00}', '{1}', '{0.0278}', '{100}')`, inv.ID)
		require.NoError(t, err, "a line as drafting writes it")
		page, err := views.ListInvoices(ctx, db.Pool, views.InvoiceFilter{AccountID: inv.AccountID})
		require.NoError(t, err)
		require.Len(t, page.Data, 1)
		got := page.Data[0]
		require.Equal(t, c.regime, got.VATRegime)
		require.Equal(t, []invoices.LinePrice{{PerHour: "0.0278", Hours: "100.000000"}}, got.Lines[0].Prices)
		require.NotNil(t, got.Attempts)
	}
}

func TestListAccounts(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := dbtest.New(t)
	for i, name := range []string{"Acme SAS", "Globex", "Initech_Corp", "acme labs", "Umbrella"} {
		status := "active"
		if i%2 == 1 {
			status = "suspended"
		}
		testfactory.Account(ctx, t, db.Pool, &testfactory.AccountOpts{ID: testfactory.Ptr(fmt.Sprintf("acc_%d", i)), Name: testfactory.Ptr(name), Status: &status})
	}
	testfactory.PaymentMethod(ctx, t, db.Pool, &testfactory.PaymentMethodOpts{AccountID: testfactory.Ptr("acc_0")})
	testfactory.PaymentMethod(ctx, t, db.Pool, &testfactory.PaymentMethodOpts{AccountID: testfactory.Ptr("acc_0")}) // the old one replaced

	ids := func(f views.AccountFilter) []string {
		var out []string
		for {
			page, err := views.ListAccounts(ctx, db.Pool, f)
			require.NoError(t, err)
			for _, a := range page.Data {
				out = append(out, a.ID)
				want, err := views.GetAccount(ctx, db.Pool, a.ID)
				require.NoError(t, err)
				require.Equal(t, want, a, "the listing shows what accounts show shows")
			}
			if page.Next == nil {
				return out
			}
			f.After = *page.Next
		}
	}
	require.Equal(t, []string{"acc_0", "acc_1", "acc_2", "acc_3", "acc_4"}, ids(views.AccountFilter{Limit: 2}))
	require.Equal(t, []string{"acc_1", "acc_3"}, ids(views.AccountFilter{Status: views.StatusSuspended, Limit: 1}))
	require.Equal(t, []string{"acc_0", "acc_3"}, ids(views.AccountFilter{Search: "ACME"}), "any case, name")
	require.Equal(t, []string{"acc_2"}, ids(views.AccountFilter{Search: "h_c"}), "_ is a character, not a wildcard")
	require.Equal(t, []string{"acc_4"}, ids(views.AccountFilter{Search: "acc_4@"}), "email")
	require.Equal(t, []string{"acc_3"}, ids(views.AccountFilter{Search: "acme", Status: views.StatusSuspended}))
	require.Empty(t, ids(views.AccountFilter{Search: "%"}))

	for _, f := range []views.AccountFilter{{Status: "closed"}, {Limit: views.MaxLimit + 1}, {Search: "a\x00"}} {
		_, err := views.ListAccounts(ctx, db.Pool, f)
		require.True(t, views.IsParamError(err), "%+v: %v", f, err)
	}
}

func TestInvoiceFilterParams(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		f     views.InvoiceFilter
		param string
	}{
		{views.InvoiceFilter{Period: "2026-13"}, "period"},
		{views.InvoiceFilter{Status: "draft"}, "status"},
		{views.InvoiceFilter{After: "42"}, "after"},
		{views.InvoiceFilter{Limit: 1001}, "limit"},
		{views.InvoiceFilter{AccountID: "a\x01"}, "account"},
	} {
		err := c.f.Validate()
		var pe *views.ParamError
		require.ErrorAs(t, err, &pe, "%+v", c.f)
		require.Equal(t, c.param, pe.Param)
	}
	require.NoError(t, (&views.InvoiceFilter{After: "inv-2026-000001"}).Validate(), "numbers in any case")
	for _, s := range []string{"0", "1001", "x", "-1"} {
		_, err := views.ParseLimit(s)
		require.True(t, views.IsParamError(err), s)
	}
	n, err := views.ParseLimit("")
	require.NoError(t, err)
	require.Equal(t, views.DefaultLimit, n)
}

func invoicesTreatment(s string) billing.VATTreatment { return billing.VATTreatment(s) }
