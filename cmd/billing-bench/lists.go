package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"slices"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/billingengine/engine/internal/platform/pgdb"
	"github.com/billingengine/engine/internal/views"
)

// listsBench measures the finance listings (GET /v1/invoices, billing
// invoices list) on a generated table of -invoices invoices: 90 % paid,
// 6 % open, 2 % processing, 1 % void, 1 % of them overdue, over
// -invoices/10 accounts and ten periods. It prints the median and the
// slowest of -repeat pages of each filter against the 50 ms target, and the
// plan of the unpaid listing.
func listsBench(args []string) error {
	fs := flag.NewFlagSet("lists", flag.ExitOnError)
	n := fs.Int("invoices", 1_000_000, "invoices to generate")
	repeat := fs.Int("repeat", 20, "pages read per filter")
	_ = fs.Parse(args)
	url := os.Getenv("DATABASE_URL")
	if url == "" {
		return fmt.Errorf("DATABASE_URL must name a fresh database (make bench-lists creates one)")
	}
	ctx := context.Background()
	pool, err := pgxpool.New(ctx, url)
	if err != nil {
		return err
	}
	defer pool.Close()
	if _, err := pgdb.Migrate(ctx, pool); err != nil {
		return err
	}
	start := time.Now()
	if err := generateInvoices(ctx, pool, *n); err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "bench: %d invoices generated in %s\n", *n, time.Since(start).Round(time.Millisecond))

	var middle string
	if err := pool.QueryRow(ctx, `SELECT number FROM invoices WHERE status = 'open' ORDER BY number OFFSET (SELECT count(*) / 2 FROM invoices WHERE status = 'open') LIMIT 1`).Scan(&middle); err != nil {
		return err
	}
	filters := []struct {
		name string
		f    views.InvoiceFilter
	}{
		{"status=open (first page)", views.InvoiceFilter{Status: "open"}},
		{"status=open (a middle page)", views.InvoiceFilter{Status: "open", After: middle}},
		{"status=processing", views.InvoiceFilter{Status: "processing"}},
		{"overdue=true", views.InvoiceFilter{Overdue: true}},
		{"status=void", views.InvoiceFilter{Status: "void"}},
		{"account=acc_0000042", views.InvoiceFilter{AccountID: "acc_0000042"}},
		{"period=2026-05&status=open", views.InvoiceFilter{Period: "2026-05", Status: "open"}},
		{"no filter", views.InvoiceFilter{}},
		{"status=open&limit=1000", views.InvoiceFilter{Status: "open", Limit: 1000}},
	}
	fmt.Printf("%-30s %10s %10s %8s  (target: a page under 50 ms)\n", "GET /v1/invoices?", "median", "slowest", "rows")
	for _, c := range filters {
		var times []time.Duration
		rows := 0
		for range *repeat {
			t0 := time.Now()
			page, err := views.ListInvoices(ctx, pool, c.f)
			if err != nil {
				return fmt.Errorf("%s: %w", c.name, err)
			}
			times = append(times, time.Since(t0))
			rows = len(page.Data)
		}
		slices.Sort(times)
		worst := times[len(times)-1]
		verdict := "met"
		if worst > 50*time.Millisecond {
			verdict = "MISSED"
		}
		fmt.Printf("%-30s %10s %10s %8d  %s\n", c.name, times[len(times)/2].Round(10*time.Microsecond), worst.Round(10*time.Microsecond), rows, verdict)
	}
	plan, err := views.ExplainInvoices(ctx, pool, views.InvoiceFilter{Status: "open", After: middle})
	if err != nil {
		return err
	}
	fmt.Printf("\nEXPLAIN ANALYZE of the page query, status=open after %s:\n%s\n", middle, plan)
	return nil
}

// generateInvoices writes n finalized invoices, one per (account, period),
// in one statement per table.
func generateInvoices(ctx context.Context, pool *pgxpool.Pool, n int) error {
	accounts := max(1, n/10)
	_, err := pool.Exec(ctx, `
		INSERT INTO accounts (id, name, email, country, created_at)
		SELECT 'acc_' || lpad(a::text, 7, '0'), 'Account ' || a, 'a' || a || '@example.test', 'FR', '2025-01-01Z'
		FROM generate_series(1, $1::int) a`, accounts)
	if err != nil {
		return fmt.Errorf("accounts: %w", err)
	}
	if _, err := pool.Exec(ctx, `
		INSERT INTO billing_runs (period, requested_by)
		SELECT to_char(date '2025-10-01' + make_interval(months => p), 'YYYY-MM'), 'bench' FROM generate_series(0, 9) p`); err != nil {
		return fmt.Errorf("runs: %w", err)
	}
	// Invoice k: account k % accounts, period k / accounts; numbers per year
	// of issue (the month after the period), in issue order.
	_, err = pool.Exec(ctx, `
		WITH k AS (
			SELECT g - 1 AS k, (g - 1) % $2 AS a, (g - 1) / $2 AS p, (hashtext(g::text) & 1023) AS h
			FROM generate_series(1, $1::int) g
		), r AS (
			SELECT k.*, b.id AS run_id, b.period, b.period_start, b.period_end,
			       CASE WHEN h < 922 THEN 'paid' WHEN h < 983 THEN 'open' WHEN h < 1003 THEN 'processing' ELSE 'void' END AS status,
			       extract(year FROM b.period_end)::int AS year
			FROM k JOIN billing_runs b ON b.period = to_char(date '2025-10-01' + make_interval(months => k.p::int), 'YYYY-MM')
		)
		INSERT INTO invoices (number, account_id, period, period_start, period_end, run_id, status, subtotal, discount,
		                      tax_rate, vat_treatment, tax, total, credit_applied, amount_paid, issued_at,
		                      buyer_name, buyer_email, buyer_country, overdue_at)
		SELECT 'INV-' || year || '-' || lpad((row_number() OVER (PARTITION BY year ORDER BY k))::text, 6, '0'),
		       'acc_' || lpad((a + 1)::text, 7, '0'), period, period_start, period_end, run_id, status, 10.00, 0, 20, 'domestic', 2.00, 12.00,
		       0, CASE status WHEN 'paid' THEN 12.00 ELSE 0 END, period_end + interval '1 hour', 'Account', 'a@example.test', 'FR',
		       CASE WHEN status IN ('open', 'processing') AND h % 8 = 0 THEN period_end + interval '6 days' END
		FROM r`, n, accounts)
	if err != nil {
		return fmt.Errorf("invoices: %w", err)
	}
	for _, table := range []string{"invoices", "accounts"} {
		if _, err := pool.Exec(ctx, `VACUUM ANALYZE `+table); err != nil {
			return err
		}
	}
	return nil
}
