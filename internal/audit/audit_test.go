package audit_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/billingengine/engine/billing"
	"github.com/billingengine/engine/internal/accounts"
	"github.com/billingengine/engine/internal/audit"
	"github.com/billingengine/engine/internal/dbtest"
	"github.com/billingengine/engine/internal/ingest"
	"github.com/billingengine/engine/internal/platform/pgdb"
	"github.com/billingengine/engine/invoices"
	"github.com/billingengine/engine/jobs"
	"github.com/billingengine/engine/payments/sandbox"
)

// books fills a database the way the engine does: two months billed, every
// way of paying, referral rewards applied and credited, an invoice voided
// and reissued, a reward taken back, a suspension.
func books(t *testing.T) *dbtest.DB {
	t.Helper()
	db := dbtest.New(t)
	ctx := context.Background()
	load := func(kind, ndjson string) {
		o := ingest.Options{Name: kind, Report: func(p ingest.Problem) { t.Errorf("%s:%d: %s", kind, p.Line, p.Message) }}
		var err error
		switch kind {
		case "catalog":
			_, err = ingest.ImportCatalog(ctx, db.Pool, strings.NewReader(ndjson), o)
		case "accounts":
			_, err = ingest.ImportAccounts(ctx, db.Pool, strings.NewReader(ndjson), ingest.AccountsOptions{Options: o})
		case "usage":
			_, err = ingest.ImportUsage(ctx, db.Pool, strings.NewReader(ndjson), o)
		}
		require.NoError(t, err)
	}
	load("catalog", `{"resource":"c","description":"C","price_per_hour":"1.00","effective_from":"2025-01-01T00:00:00Z"}`)
	load("accounts", `{"id":"boss","name":"B","email":"b@example.test","country":"FR","created_at":"2025-01-01T00:00:00Z","payment_method":{"type":"card","id":"pm_card_visa"}}
{"id":"ghost","name":"G","email":"g@example.test","country":"FR","created_at":"2025-01-01T00:00:00Z"}
{"id":"r1","name":"R1","email":"r1@example.test","country":"DE","created_at":"2026-09-01T00:00:00Z","referred_by":"boss","payment_method":{"type":"card","id":"pm_card_visa"}}
{"id":"r2","name":"R2","email":"r2@example.test","country":"FR","created_at":"2026-09-01T00:00:00Z","referred_by":"ghost","payment_method":{"type":"sepa_debit","id":"pm_sepa_debit_success"}}
{"id":"late","name":"L","email":"l@example.test","country":"US","created_at":"2026-01-01T00:00:00Z","payment_method":{"type":"card","id":"pm_card_chargeDeclined"}}
`)
	var usage strings.Builder
	for i, acc := range []string{"boss", "r1", "r2", "late"} {
		for _, month := range []string{"10", "11"} {
			fmt.Fprintf(&usage, `{"id":"u%d-%s","account_id":"%s","app":"a","resource":"c","quantity":1,"started_at":"2026-%s-01T00:00:00Z","ended_at":"2026-%s-02T%02d:00:00Z"}`+"\n",
				i, month, acc, month, month, 5*i)
		}
	}
	load("usage", usage.String())

	cfg := jobs.Config{Processor: &sandbox.Processor{Pool: db.Pool}, ShardSize: 2, FinalizeChunk: 2, TestOnly: true, RetryMax: time.Second, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
	client, err := jobs.NewClient(db.Pool, cfg)
	require.NoError(t, err)
	require.NoError(t, client.Start(ctx))
	t.Cleanup(func() {
		stop, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = client.Stop(stop)
	})
	idle := func() {
		wait, cancel := context.WithTimeout(ctx, time.Minute)
		defer cancel()
		require.NoError(t, jobs.WaitIdle(wait, db.Pool, time.Minute, 50*time.Millisecond))
	}
	run := func(period string, accounts ...string) {
		var ids []string
		if len(accounts) > 0 {
			ids = accounts
		}
		_, _, err := jobs.StartRun(ctx, db.Pool, client, invoices.RunParams{Period: billing.MustPeriod(period), AccountIDs: ids, RequestedBy: "test", Location: time.UTC})
		require.NoError(t, err)
		idle()
	}
	run("2026-10")
	icfg := &invoices.Config{Location: time.UTC, SellerCountry: "FR", VATRates: billing.DefaultVATRates()}
	var r1 string
	require.NoError(t, db.Pool.QueryRow(ctx, `SELECT number FROM invoices WHERE account_id = 'r1'`).Scan(&r1))
	_, err = jobs.VoidInvoice(ctx, db.Pool, client, icfg, invoices.VoidParams{Number: r1, Reason: "test"}, time.Now())
	require.NoError(t, err)
	run("2026-10", "r1")
	run("2026-11")
	// The dunning pass, five days on: late is suspended.
	_, err = jobs.RunDunningPass(ctx, db.Pool, client, time.Now().Add(6*24*time.Hour), true)
	require.NoError(t, err)
	idle()
	return db
}

func violations(t *testing.T, q pgdb.Executor, period string) map[string][]string {
	t.Helper()
	rep, err := audit.Run(context.Background(), q, period)
	require.NoError(t, err)
	out := map[string][]string{}
	for _, v := range rep.Violations {
		out[v.Invariant] = append(out[v.Invariant], v.Detail)
	}
	return out
}

// Every invariant holds on books the engine kept, and each is caught when
// broken on purpose (triggers and constraints that would stop the damage
// are lifted inside a transaction that is rolled back).
func TestAuditCatchesEveryBrokenInvariant(t *testing.T) {
	t.Parallel()
	db := books(t)
	ctx := context.Background()
	require.Empty(t, violations(t, db.Pool, ""))
	require.Empty(t, violations(t, db.Pool, "2026-10"))

	var suspended string
	require.NoError(t, db.Pool.QueryRow(ctx, `SELECT string_agg(id, ',') FROM accounts WHERE status = 'suspended'`).Scan(&suspended))
	require.Equal(t, "late", suspended, "the books include a suspension")

	breaks := []struct {
		invariant string
		sql       string
		want      string
	}{
		{"one_invoice_per_period", `
			DROP INDEX invoices_one_per_period;
			UPDATE invoices SET status = 'open' WHERE status = 'void'`, "r1 has 2 invoices for 2026-10"},
		{"gapless_invoice_numbers", `
			UPDATE invoices SET number = 'INV-2026-000099' WHERE number = 'INV-2026-000003'`, "INV-2026-000003 is missing"},
		{"gapless_invoice_numbers", `
			UPDATE number_counters SET last = last + 1 WHERE series = 'INV'`, "counter is at"},
		{"gapless_invoice_numbers", `
			UPDATE invoices SET issued_at = issued_at - interval '1 day' WHERE number = 'INV-2026-000006'`, "before the number preceding it"},
		{"gapless_credit_note_numbers", `
			UPDATE credit_notes SET number = 'CN-2026-000002'`, "CN-2026-000001 is missing"},
		{"lines_sum_to_subtotal_minus_discount", `
			UPDATE invoice_usage_lines SET amounts[1] = amounts[1] + 0.01 WHERE invoice_id = (SELECT min(id) FROM invoices WHERE number IS NOT NULL)`, "lines sum to"},
		{"lines_sum_to_subtotal_minus_discount", `
			UPDATE invoice_referral_lines SET amounts[1] = amounts[1] + 0.01 WHERE invoice_id = (SELECT min(invoice_id) FROM invoice_referral_lines)`, "lines sum to"},
		{"lines_sum_to_subtotal_minus_discount", `
			INSERT INTO invoice_usage_lines (invoice_id, apps, resources, hours, amounts, price_counts, prices_per_hour, price_hours)
			VALUES (999999, '{a}', '{c}', '{1}', '{1}', '{0}', '{}', '{}')`, "belong to invoice 999999"},
		{"total_is_subtotal_minus_discount_plus_tax", `
			UPDATE invoices SET tax = tax + 0.01, total = total + 0.01 WHERE account_id = 'late' AND period = '2026-10'`, "subtotal"},
		{"amount_paid_is_credit_plus_charges", `
			UPDATE payment_attempts SET amount = amount - 1 WHERE state = 'succeeded' AND id = (SELECT min(id) FROM payment_attempts WHERE state = 'succeeded')`, "successful charges"},
		{"amount_paid_is_credit_plus_charges", `
			UPDATE invoices SET status = 'paid', amount_paid = total WHERE account_id = 'late' AND period = '2026-11'`, "amount_paid"},
		{"one_charge_per_idempotency_key", `
			ALTER TABLE sandbox_charges DROP CONSTRAINT sandbox_charges_pkey;
			INSERT INTO sandbox_charges (idempotency_key, reference, payment_method_id, amount, outcome)
			SELECT idempotency_key, reference || '-again', payment_method_id, amount, outcome FROM sandbox_charges LIMIT 1`, "charged 2 times"},
		{"one_charge_per_idempotency_key", `
			UPDATE payment_attempts SET state = 'declined' WHERE id = (SELECT min(id) FROM payment_attempts WHERE state = 'succeeded')`, "the processor took"},
		{"credit_balance_is_ledger_sum", `
			UPDATE accounts SET credit_balance = credit_balance + 1 WHERE id = 'ghost'`, "ghost: credit_balance"},
		{"credit_balance_is_ledger_sum", `
			ALTER TABLE accounts DROP CONSTRAINT accounts_credit_balance_check;
			UPDATE accounts SET credit_balance = -1 WHERE id = 'r2';
			INSERT INTO credit_ledger (account_id, kind, amount, balance_after, reference) VALUES ('r2', 'referral_reversal', -1, 0, 'x')`, "running sum is -1.00"},
		{"suspended_only_when_overdue", `
			UPDATE accounts SET status = 'suspended' WHERE id = 'boss'`, "boss is suspended"},
		{"void_invoices_have_credit_notes", `
			DELETE FROM credit_notes`, "is void without a credit note"},
		{"void_invoices_have_credit_notes", `
			DELETE FROM credit_ledger WHERE kind = 'refund_to_credit'`, "refunded to prepaid credit"},
		{"referral_rewards_given_once", `
			DELETE FROM credit_ledger WHERE kind = 'referral_reward' AND reference LIKE 'referral_reward:%'`, "credited, but the ledger has nothing"},
		{"referral_rewards_given_once", `
			DELETE FROM referral_reversals`, "never taken back"},
		{"referral_rewards_given_once", `
			DELETE FROM invoice_referral_lines`, "which has no such referral line"},
		{"referral_rewards_given_once", `
			DELETE FROM invoice_referral_lines`, "which has no line for"},
		{"pending_rewards_have_a_referrer_draft", `
			UPDATE referral_rewards SET state = 'pending', referrer_invoice_id = NULL WHERE referrer_account_id = 'boss' AND state = 'applied'`,
			"pending, but boss has no draft for 2026-1"},
		{"open_invoices_use_available_credit", `
			UPDATE accounts SET credit_balance = 1000 WHERE id = 'late'`, "late holds 1000.00 of prepaid credit, and no payment is in flight"},
		{"pending_attempts_have_a_live_job", `
			UPDATE payment_attempts SET state = 'pending', code = '', decided_at = NULL, created_at = now() - interval '3 hours'
			WHERE id = (SELECT max(id) FROM payment_attempts WHERE state = 'declined')`, "pending since"},
		{"documents_have_their_parts", `
			INSERT INTO documents (number, version, sha256, pdf, parts, part_at, stamp)
			VALUES ('INV-2026-999999', 1, repeat('a', 64), 'rest', ARRAY[sha256('missing')], ARRAY[2], 'open')`,
			"INV-2026-999999 version 1 names part"},
	}
	caught := map[string]bool{}
	for _, b := range breaks {
		tx, err := db.Pool.Begin(ctx)
		require.NoError(t, err)
		_, err = tx.Exec(ctx, `SET LOCAL session_replication_role = replica`)
		require.NoError(t, err)
		_, err = tx.Exec(ctx, b.sql)
		require.NoError(t, err, b.sql)
		got := violations(t, tx, "")
		require.NoError(t, tx.Rollback(ctx))
		require.Contains(t, got, b.invariant, "after %s\naudit found %v", b.sql, got)
		require.Contains(t, strings.Join(got[b.invariant], "\n"), b.want)
		caught[b.invariant] = true
	}
	for _, c := range audit.Checks {
		require.True(t, caught[c.Name], "no test breaks %s", c.Name)
	}
	require.Empty(t, violations(t, db.Pool, ""), "every break was rolled back")
}

// --period limits the per-invoice checks to a period.
func TestAuditOfOnePeriod(t *testing.T) {
	t.Parallel()
	db := books(t)
	ctx := context.Background()
	require.NoError(t, pgx.BeginFunc(ctx, db.Pool, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `SET LOCAL session_replication_role = replica;
			UPDATE invoice_usage_lines SET amounts[1] = amounts[1] + 0.01 WHERE invoice_id IN (SELECT id FROM invoices WHERE period = '2026-11')`)
		return err
	}))
	require.Contains(t, violations(t, db.Pool, ""), "lines_sum_to_subtotal_minus_discount")
	require.Contains(t, violations(t, db.Pool, "2026-11"), "lines_sum_to_subtotal_minus_discount")
	require.Empty(t, violations(t, db.Pool, "2026-10"))
}

// A suspended account whose overdue invoices' SEPA debits are processing
// (the customer added a SEPA method after the suspension) is no violation:
// a processing debit isn't unpaid until it fails (SPEC §5), and the
// account is reactivated when no overdue invoice remains, which the engine
// decides once the debit settles (internal/accounts). The audit and the
// reactivation rule agree on that state; the check as it was flagged it.
func TestAuditSuspendedWhileOverdueSEPADebitProcesses(t *testing.T) {
	t.Parallel()
	db := books(t)
	ctx := context.Background()
	tx, err := db.Pool.Begin(ctx)
	require.NoError(t, err)
	defer tx.Rollback(ctx) //nolint:errcheck // the state is only looked at
	// What a new SEPA method and the collection it triggers leave before
	// the debit settles: the method, a processing attempt the sandbox
	// accepted, the invoice processing, still overdue.
	_, err = tx.Exec(ctx, `
		UPDATE payment_methods SET replaced_at = now() WHERE account_id = 'late' AND replaced_at IS NULL;
		INSERT INTO payment_methods (account_id, type, external_id, mandate_id) VALUES ('late', 'sepa_debit', 'pm_sepa_debit_success', 'mandate_late');
		WITH a AS (
		    INSERT INTO payment_attempts (invoice_id, attempt, idempotency_key, processor, method, payment_method_id, amount, state, processor_ref, created_at, decided_at)
		    SELECT i.id, n.next, i.number || '-attempt-' || n.next, 'sandbox', 'sepa_debit', 'pm_sepa_debit_success', i.total - i.amount_paid,
		           'processing', 'ref_late_' || i.number, now(), now()
		    FROM invoices i CROSS JOIN LATERAL (SELECT max(attempt) + 1 AS next FROM payment_attempts WHERE invoice_id = i.id) n
		    WHERE i.account_id = 'late' AND i.overdue_at IS NOT NULL
		    RETURNING idempotency_key, processor_ref, amount)
		INSERT INTO sandbox_charges (idempotency_key, reference, payment_method_id, amount, outcome)
		SELECT idempotency_key, processor_ref, 'pm_sepa_debit_success', amount, 'processing' FROM a;
		UPDATE invoices SET status = 'processing' WHERE account_id = 'late' AND overdue_at IS NOT NULL`)
	require.NoError(t, err)
	var status string
	var processing int
	require.NoError(t, tx.QueryRow(ctx, `SELECT a.status, (SELECT count(*) FROM invoices i WHERE i.account_id = a.id AND i.status = 'processing' AND i.overdue_at IS NOT NULL)
		FROM accounts a WHERE a.id = 'late'`).Scan(&status, &processing))
	require.Equal(t, "suspended", status)
	require.Positive(t, processing)

	got := violations(t, tx, "")
	require.NotContains(t, got, "suspended_only_when_overdue", "%v", got)
	back, err := accounts.ReactivateIfClear(ctx, tx, "late", time.Now())
	require.NoError(t, err)
	require.False(t, back, "reactivation waits for the debit to settle, as the audit does")

	// The check as it was counted only open invoices.
	rows, err := tx.Query(ctx, `
		SELECT format('%s is suspended with no overdue open invoice', a.id)
		FROM accounts a WHERE a.status = 'suspended'
		  AND NOT EXISTS (SELECT 1 FROM invoices i WHERE i.account_id = a.id AND i.status = 'open' AND i.overdue_at IS NOT NULL)`)
	require.NoError(t, err)
	old, err := pgx.CollectRows(rows, pgx.RowTo[string])
	require.NoError(t, err)
	require.Equal(t, []string{"late is suspended with no overdue open invoice"}, old)

	// Once the debits settle, nothing overdue remains: suspended is then a
	// violation, until the reactivation that settling brings.
	_, err = tx.Exec(ctx, `UPDATE invoices SET status = 'paid', amount_paid = total WHERE account_id = 'late' AND overdue_at IS NOT NULL;
		UPDATE payment_attempts SET state = 'succeeded', settled_at = now() WHERE state = 'processing' AND processor_ref LIKE 'ref_late_%'`)
	require.NoError(t, err)
	require.Contains(t, strings.Join(violations(t, tx, "")["suspended_only_when_overdue"], "\n"), "late is suspended")
	back, err = accounts.ReactivateIfClear(ctx, tx, "late", time.Now())
	require.NoError(t, err)
	require.True(t, back)
	require.NotContains(t, violations(t, tx, ""), "suspended_only_when_overdue")
}
