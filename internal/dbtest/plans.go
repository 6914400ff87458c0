package dbtest

import (
	"context"
	"strings"
	"testing"
)

// FirstMonth writes what a first month's run leaves the planner with:
// accounts invoices for 2026-10, the first drafted ones of them, analyzed
// as drafts (every number NULL, every status 'draft'), then finalized
// (open, numbered INV-2026-<id>) when finalize is true, without another
// ANALYZE, as the run finalizes and collects faster than the statistics
// follow. Accounts are acc_000001…; drafts are written for those below
// draftsBelow.
func (d *DB) FirstMonth(tb testing.TB, accounts int, draftsBelow string, finalize bool) {
	tb.Helper()
	type step struct {
		sql  string
		args []any
	}
	steps := []step{
		{`INSERT INTO accounts (id, name, email, country, created_at)
		  SELECT 'acc_' || lpad(a::text, 6, '0'), 'Account ' || a, 'a' || a || '@example.test', 'FR', '2025-01-01Z'
		  FROM generate_series(1, $1::int) a`, []any{accounts}},
		{`INSERT INTO billing_runs (period, requested_by) VALUES ('2026-10', 'test')`, nil},
		{`ANALYZE accounts, invoices`, nil},
		{`INSERT INTO invoices (account_id, period, period_start, period_end, run_id, subtotal)
		  SELECT id, '2026-10', '2026-10-01Z', '2026-11-01Z', (SELECT id FROM billing_runs), 10.00 FROM accounts WHERE id < $1`,
			[]any{draftsBelow}},
	}
	if finalize {
		steps = append(steps, step{`ANALYZE invoices`, nil}, step{`UPDATE invoices SET number = 'INV-2026-' || lpad(id::text, 6, '0'), status = 'open', discount = 0, tax_rate = 20,
		         tax = 2.00, total = 12.00, issued_at = '2026-11-01Z', vat_treatment = 'domestic', buyer_name = 'B', buyer_country = 'FR'`, nil})
	}
	for _, st := range steps {
		if _, err := d.Pool.Exec(context.Background(), st.sql, st.args...); err != nil {
			tb.Fatalf("first month: %v\n%s", err, st.sql)
		}
	}
}

// Explain is the plan Postgres would take for sql with args, one line a
// node, as EXPLAIN prints it.
func (d *DB) Explain(tb testing.TB, sql string, args ...any) string {
	tb.Helper()
	rows, err := d.Pool.Query(context.Background(), "EXPLAIN "+sql, args...)
	if err != nil {
		tb.Fatalf("EXPLAIN: %v\n%s", err, sql)
	}
	defer rows.Close()
	var lines []string
	for rows.Next() {
		var line string
		if err := rows.Scan(&line); err != nil {
			tb.Fatal(err)
		}
		lines = append(lines, line)
	}
	if err := rows.Err(); err != nil {
		tb.Fatal(err)
	}
	return strings.Join(lines, "\n")
}
