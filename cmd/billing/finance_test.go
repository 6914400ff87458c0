package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"
)

const financeAccounts = `{"id":"acc_1","name":"Acme SAS","email":"billing@acme.test","country":"FR","created_at":"2026-03-04T10:00:00Z","payment_method":{"type":"card","id":"pm_card_visa"}}
{"id":"acc_2","name":"Beta","email":"beta@example.test","country":"FR","created_at":"2026-03-04T10:00:00Z"}
`

const financeUsage = `{"id":"s1","account_id":"acc_1","app":"web","resource":"container:M","quantity":2,"started_at":"2026-10-01T00:00:00Z","ended_at":"2026-10-11T00:00:00Z"}
{"id":"s2","account_id":"acc_2","app":"web","resource":"container:M","quantity":1,"started_at":"2026-10-01T00:00:00Z","ended_at":"2026-10-11T00:00:00Z"}
`

func (c *cli) json(v any, args ...string) {
	c.t.Helper()
	out := c.ok(args...)
	require.NoError(c.t, json.Unmarshal([]byte(out), v), "billing %v printed %s", args, out)
}

// The finance runbook, command by command: preview a run, run it, see it,
// void and reissue an invoice, check the books, control jobs.
func TestFinanceCommands(t *testing.T) {
	t.Parallel()
	c := newCLI(t)
	c.ok("catalog", "import", writeFile(t, "catalog.ndjson", testCatalog))
	c.ok("accounts", "import", writeFile(t, "accounts.ndjson", financeAccounts))
	c.ok("usage", "import", writeFile(t, "usage.ndjson", financeUsage))

	// A dry run writes nothing.
	var preview struct {
		Accounts int `json:"accounts"`
		Totals   struct {
			Invoices int    `json:"invoices"`
			Total    string `json:"total"`
		} `json:"totals"`
	}
	c.json(&preview, "run", "--period", "2026-10", "--dry-run")
	require.Equal(t, 2, preview.Accounts)
	require.Equal(t, 2, preview.Totals.Invoices)
	// 480 h × 0.0278 = 13.344 -> 13.34 + 20 % = 16.01; 240 h -> 6.672 -> 6.67 + 1.33 = 8.00
	require.Equal(t, "24.01", preview.Totals.Total)
	require.Equal(t, "[]\n", c.ok("runs", "list"), "nothing was written")
	code, _, stderr := c.run("run", "--period", "2026-10", "--dry-run", "--wait")
	require.Equal(t, 2, code, stderr)

	// A run in flight refuses another of the same scope, politely.
	var started struct {
		RunID int64 `json:"run_id"`
	}
	c.json(&started, "run", "--period", "2026-10")
	code, _, stderr = c.run("run", "--period", "2026-10", "--account", "acc_1")
	require.Equal(t, 1, code)
	require.Contains(t, stderr, fmt.Sprintf("run %d for 2026-10 (all accounts) is still pending", started.RunID))
	c.ok("worker", "--until-idle")

	var runs []struct {
		ID    int64  `json:"id"`
		State string `json:"state"`
	}
	c.json(&runs, "runs", "list")
	require.Len(t, runs, 1)
	require.Equal(t, "completed", runs[0].State)
	var report struct {
		InvoicesByStatus map[string]int            `json:"invoices_by_status"`
		Jobs             map[string]map[string]int `json:"jobs"`
		Failures         []any                     `json:"failures"`
		Billed           string                    `json:"billed"`
	}
	c.json(&report, "runs", "show", fmt.Sprint(started.RunID), "--json")
	require.Equal(t, 1, report.InvoicesByStatus["paid"])
	require.Equal(t, 1, report.InvoicesByStatus["open"], "acc_2 has no way to pay")
	require.Equal(t, 1, report.Jobs["billing_finalize"]["completed"])
	require.Empty(t, report.Failures)
	require.Equal(t, "24.01", report.Billed)
	require.Contains(t, c.ok("runs", "show", fmt.Sprint(started.RunID)), "invoices: 1 open, 0 processing, 1 paid")

	// Void and reissue.
	var list []struct {
		Number    string `json:"number"`
		AccountID string `json:"account_id"`
		Status    string `json:"status"`
	}
	c.json(&list, "invoices", "list", "--period", "2026-10", "--json")
	require.Len(t, list, 2)
	paid := list[0].Number
	require.Equal(t, "acc_1", list[0].AccountID)
	code, _, stderr = c.run("invoices", "void", paid)
	require.Equal(t, 2, code, "--reason is required: %s", stderr)
	var voided struct {
		Invoice struct {
			Status     string `json:"status"`
			CreditNote string `json:"credit_note"`
		} `json:"invoice"`
		CreditNote       struct{ Number, Total, Refunded string } `json:"credit_note"`
		RefundedToCredit string                                   `json:"refunded_to_credit"`
	}
	c.json(&voided, "invoices", "void", paid, "--reason", "Usage imported twice")
	require.Equal(t, "void", voided.Invoice.Status)
	require.Regexp(t, regexp.MustCompile(`^CN-20\d\d-000001$`), voided.CreditNote.Number)
	require.Equal(t, voided.CreditNote.Number, voided.Invoice.CreditNote)
	require.Equal(t, "-16.01", voided.CreditNote.Total)
	require.Equal(t, "16.01", voided.RefundedToCredit)
	var cn map[string]any
	c.json(&cn, "invoices", "show", voided.CreditNote.Number, "--json")
	require.Equal(t, paid, cn["invoice_number"])
	require.Equal(t, "Usage imported twice", cn["reason"])
	pdf := writeFile(t, "cn.pdf", "")
	c.ok("invoices", "pdf", voided.CreditNote.Number, "-o", pdf)
	b, err := os.ReadFile(pdf)
	require.NoError(t, err)
	require.True(t, strings.HasPrefix(string(b), "%PDF-"))

	c.json(&preview, "run", "--period", "2026-10", "--account", "acc_1", "--dry-run")
	require.Equal(t, 1, preview.Totals.Invoices)
	c.ok("run", "--period", "2026-10", "--account", "acc_1")
	c.ok("worker", "--until-idle")
	c.json(&list, "invoices", "list", "--period", "2026-10", "--json")
	require.Len(t, list, 3, "the void invoice stays, with its number")
	require.Equal(t, "void", list[0].Status)
	require.Equal(t, "paid", list[2].Status, "the replacement, paid by the refunded credit")

	var events []struct{ Kind string }
	c.json(&events, "accounts", "timeline", "acc_1", "--json")
	var kinds []string
	for _, e := range events {
		kinds = append(kinds, e.Kind)
	}
	require.Equal(t, []string{"payment_method_changed", "invoice_issued", "payment_succeeded", "invoice_voided", "refunded_to_credit", "invoice_issued", "credit_applied", "payment_succeeded"}, kinds)

	// The books balance; break them and audit says where.
	_, stderr = c.okStderr("audit")
	require.Contains(t, stderr, "0 violations")
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, c.url)
	require.NoError(t, err)
	defer conn.Close(ctx)
	_, err = conn.Exec(ctx, `UPDATE accounts SET status = 'suspended' WHERE id = 'acc_1'`)
	require.NoError(t, err)
	code, stdout, stderr := c.run("audit")
	require.Equal(t, 1, code, stderr)
	require.Equal(t, "suspended_only_when_overdue: acc_1 is suspended with no overdue invoice open or processing\n", stdout)
	_, err = conn.Exec(ctx, `UPDATE accounts SET status = 'active' WHERE id = 'acc_1'`)
	require.NoError(t, err)

	// Jobs: a collection of an unknown invoice is cancelled by its worker;
	// finance lists it, retries it, cancels it again.
	_, err = conn.Exec(ctx, `INSERT INTO river_job (kind, args, queue, max_attempts, state) VALUES ('collect_invoice', '{"invoice_number":"INV-2026-999999"}', 'payments', 20, 'available')`)
	require.NoError(t, err)
	c.ok("worker", "--until-idle")
	var jobsList []struct {
		ID        int64  `json:"id"`
		Kind      string `json:"kind"`
		State     string `json:"state"`
		LastError string `json:"last_error"`
	}
	c.json(&jobsList, "jobs", "list", "--state", "cancelled", "--kind", "collect_invoice")
	require.Len(t, jobsList, 1)
	require.Contains(t, jobsList[0].LastError, "invoice not found")
	id := fmt.Sprint(jobsList[0].ID)
	c.json(&jobsList, "jobs", "retry", id)
	require.Equal(t, "available", jobsList[0].State)
	c.json(&jobsList, "jobs", "cancel", id)
	require.Equal(t, "cancelled", jobsList[0].State)
	code, _, stderr = c.run("jobs", "retry", "999999")
	require.Equal(t, 1, code)
	require.Contains(t, stderr, "job 999999: job not found")
	code, _, _ = c.run("jobs", "list", "--state", "lost")
	require.Equal(t, 2, code)
}

func (c *cli) okStderr(args ...string) (stdout, stderr string) {
	c.t.Helper()
	code, out, errs := c.run(args...)
	require.Equal(c.t, 0, code, "billing %v: %s", args, errs)
	return out, errs
}
