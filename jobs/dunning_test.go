package jobs_test

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/shopspring/decimal"
	"github.com/stretchr/testify/require"

	"github.com/billingengine/engine/internal/audit"
	"github.com/billingengine/engine/internal/notify"
	"github.com/billingengine/engine/jobs"
	"github.com/billingengine/engine/payments"
	"github.com/billingengine/engine/payments/sandbox"
)

// receiver is a suspension webhook receiver that fails its first answers.
type receiver struct {
	mu      sync.Mutex
	failing int
	calls   int
	events  []jobs.AccountWebhookArgs
	badSigs int
}

const hookSecret = "hook-secret"

func (r *receiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	body, _ := io.ReadAll(req.Body)
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls++
	if !validSignature(req.Header.Get(notify.SuspensionSignatureHeader), body) {
		r.badSigs++
	}
	if r.failing > 0 {
		r.failing--
		http.Error(w, "busy", http.StatusServiceUnavailable)
		return
	}
	var ev jobs.AccountWebhookArgs
	_ = json.Unmarshal(body, &ev)
	r.events = append(r.events, ev)
}

// validSignature verifies X-Billing-Signature the way a receiver does.
func validSignature(header string, body []byte) bool {
	parts := map[string]string{}
	for _, kv := range strings.Split(header, ",") {
		k, v, _ := strings.Cut(kv, "=")
		parts[k] = v
	}
	mac := hmac.New(sha256.New, []byte(hookSecret))
	mac.Write([]byte(parts["t"] + "."))
	mac.Write(body)
	return hmac.Equal([]byte(parts["v1"]), []byte(hex.EncodeToString(mac.Sum(nil))))
}

type dunningBundle struct {
	*testBundle
	client *jobs.Client
	t0     time.Time
	hook   *receiver
}

// setupDunning bills the payers of collect_test.go for October and returns
// the time the invoices were issued (t0).
func setupDunning(t *testing.T, sepaDelay time.Duration) *dunningBundle {
	t.Helper()
	tb := setup(t)
	hook := &receiver{failing: 2}
	srv := httptest.NewServer(hook)
	t.Cleanup(srv.Close)
	tb.cfg.SuspensionWebhookURL, tb.cfg.SuspensionWebhookSecret = srv.URL, hookSecret
	tb.cfg.SandboxSEPADelay = sepaDelay
	tb.loadPayers(t)
	client := tb.startWorker(t)
	tb.run(t, client, "2026-10")
	tb.waitIdle(t)
	b := &dunningBundle{testBundle: tb, client: client, hook: hook}
	// The last invoice issued: every invoice of the run is at least d days old on day d.
	require.NoError(t, tb.pool.QueryRow(context.Background(), `SELECT max(issued_at) FROM invoices`).Scan(&b.t0))
	return b
}

// day runs the dunning pass at t0 + d days (simulated), then lets the
// retries it enqueued run at that time.
func (b *dunningBundle) day(t *testing.T, d float64) *jobs.DunningReport {
	t.Helper()
	now := b.t0.Add(time.Duration(d * float64(24*time.Hour)))
	b.settleDue(t, now)
	rep, err := jobs.RunDunningPass(context.Background(), b.pool, b.client, now, true)
	require.NoError(t, err)
	b.waitIdle(t)
	return rep
}

// settleDue runs the sandbox SEPA settlements whose simulated time has
// come by now (in real time they are scheduled SANDBOX_SEPA_DELAY ahead).
func (b *dunningBundle) settleDue(t *testing.T, now time.Time) {
	t.Helper()
	ctx := context.Background()
	rows, err := b.pool.Query(ctx, `SELECT id FROM river_job WHERE kind = 'sandbox_settle_sepa' AND state = 'scheduled'
		AND coalesce((args->>'now')::timestamptz, scheduled_at) <= $1`, now)
	require.NoError(t, err)
	ids, err := pgx.CollectRows(rows, pgx.RowTo[int64])
	require.NoError(t, err)
	for _, id := range ids {
		_, err := b.client.JobRetry(ctx, id)
		require.NoError(t, err)
	}
	b.waitIdle(t)
}

func (b *dunningBundle) account(t *testing.T, id string) (status string, attempts []string) {
	t.Helper()
	ctx := context.Background()
	require.NoError(t, b.pool.QueryRow(ctx, `SELECT status FROM accounts WHERE id = $1`, id).Scan(&status))
	rows, err := b.pool.Query(ctx, `SELECT pa.state FROM payment_attempts pa JOIN invoices i ON i.id = pa.invoice_id
		WHERE i.account_id = $1 ORDER BY pa.attempt`, id)
	require.NoError(t, err)
	attempts, err = pgx.CollectRows(rows, pgx.RowTo[string])
	require.NoError(t, err)
	return status, attempts
}

func TestDunningDecliningCard(t *testing.T) {
	t.Parallel()
	b := setupDunning(t, 0)
	status, attempts := b.account(t, "declined")
	require.Equal(t, "active", status)
	require.Len(t, attempts, 1, "the first attempt, at issue")

	for d := 1; d <= 4; d++ {
		b.day(t, float64(d))
		b.day(t, float64(d)+0.5) // a second pass the same day does nothing new
		status, attempts = b.account(t, "declined")
		require.Equal(t, "active", status, "day %d", d)
		require.Len(t, attempts, 1+d, "day %d", d)
	}
	rep := b.day(t, 5)
	require.Contains(t, rep.Retries, b.number(t, "declined")+"#5")
	status, attempts = b.account(t, "declined")
	require.Equal(t, []string{"declined", "declined", "declined", "declined", "declined", "declined"}, attempts, "exactly 6 attempts")
	require.Equal(t, "suspended", status, "suspended once the 6th failed")

	for d := 6; d <= 8; d++ {
		rep = b.day(t, float64(d))
		require.NotContains(t, strings.Join(rep.Retries, " "), b.number(t, "declined"))
	}
	_, attempts = b.account(t, "declined")
	require.Len(t, attempts, 6, "no attempt after the last retry")

	// Adding credit pays the overdue invoice at once and reactivates.
	ctx := context.Background()
	require.NoError(t, pgx.BeginFunc(ctx, b.pool, func(tx pgx.Tx) error {
		if _, _, err := payments.AddEntry(ctx, tx, payments.NewEntry{AccountID: "declined", Kind: payments.EntryManualCredit,
			Amount: decimal.NewFromInt(20), Reference: "rescue"}); err != nil {
			return err
		}
		_, err := jobs.CollectOpenInvoices(ctx, tx, b.client, []string{"declined"})
		return err
	}))
	b.waitIdle(t)
	status, _ = b.account(t, "declined")
	require.Equal(t, "active", status)
	var kinds string
	require.NoError(t, b.pool.QueryRow(ctx, `SELECT string_agg(kind, ',' ORDER BY id) FROM account_events
		WHERE account_id = 'declined' AND kind IN ('suspended', 'reactivated', 'credit_applied')`).Scan(&kinds))
	require.Equal(t, "suspended,credit_applied,reactivated", kinds)

	// Both changes reached the receiver, signed, although it failed its
	// first two answers.
	require.Eventually(t, func() bool {
		b.hook.mu.Lock()
		defer b.hook.mu.Unlock()
		return len(b.hook.events) >= 2
	}, 30*time.Second, 100*time.Millisecond)
	b.hook.mu.Lock()
	defer b.hook.mu.Unlock()
	require.Zero(t, b.hook.badSigs)
	var got []string
	for _, ev := range b.hook.events {
		got = append(got, ev.Event+":"+ev.AccountID)
	}
	require.Contains(t, got, "account.suspended:declined")
	require.Contains(t, got, "account.reactivated:declined")
	require.GreaterOrEqual(t, b.hook.calls, len(b.hook.events)+2, "the failed deliveries were retried")
}

func TestDunningWithoutPaymentMethod(t *testing.T) {
	t.Parallel()
	b := setupDunning(t, 0)
	for _, d := range []float64{1, 2, 3, 4, 4.99} {
		b.day(t, d)
		status, attempts := b.account(t, "nomethod")
		require.Equal(t, "active", status, "day %v", d)
		require.Empty(t, attempts)
	}
	rep := b.day(t, 5)
	require.Contains(t, rep.Suspended, "nomethod", "%+v", rep)
	status, _ := b.account(t, "nomethod")
	require.Equal(t, "suspended", status, "suspended at t0 + 5 days")
	rep = b.day(t, 5.5)
	require.NotContains(t, rep.Suspended, "nomethod", "once")
}

func TestDunningCardThatSucceedsOnDay3(t *testing.T) {
	t.Parallel()
	b := setupDunning(t, 0)
	b.day(t, 1)
	b.day(t, 2)
	ctx := context.Background()
	// The customer updates the card: it is used at once for the invoice.
	require.NoError(t, pgx.BeginFunc(ctx, b.pool, func(tx pgx.Tx) error {
		changed, err := payments.SetMethods(ctx, tx, []payments.MethodChange{{AccountID: "broke",
			Method: payments.Method{Type: payments.MethodCard, ID: "pm_card_visa"}}})
		if err != nil {
			return err
		}
		_, err = jobs.CollectOpenInvoices(ctx, tx, b.client, changed)
		return err
	}))
	b.waitIdle(t)
	for d := 3; d <= 9; d++ {
		b.day(t, float64(d))
	}
	status, attempts := b.account(t, "broke")
	require.Equal(t, "active", status, "never suspended")
	require.Equal(t, []string{"declined", "declined", "declined", "succeeded"}, attempts, "retries stop once paid")
}

func TestDunningSEPA(t *testing.T) {
	t.Parallel()
	// SEPA debits settle 20 hours after they are made.
	b := setupDunning(t, 20*time.Hour)
	for d := 1; d <= 4; d++ {
		b.day(t, float64(d))
	}
	_, attempts := b.account(t, "sepafail")
	require.Equal(t, []string{"failed", "failed", "failed", "failed", "processing"}, attempts)
	b.day(t, 5)
	status, attempts := b.account(t, "sepafail")
	require.Equal(t, []string{"failed", "failed", "failed", "failed", "failed", "processing"}, attempts)
	require.Equal(t, "active", status, "a pending SEPA debit on day 5 doesn't suspend")
	b.day(t, 6)
	status, attempts = b.account(t, "sepafail")
	require.Equal(t, "failed", attempts[5])
	require.Equal(t, "suspended", status, "its failure does")

	status, attempts = b.account(t, "sepa")
	require.Equal(t, "active", status)
	require.Equal(t, []string{"succeeded"}, attempts, "a settled debit is never retried")
}

// An account with two overdue invoices is reactivated once both are paid,
// although their collections run side by side.
func TestReactivationAfterConcurrentPayments(t *testing.T) {
	t.Parallel()
	tb := setup(t)
	tb.loadPayers(t)
	tb.load(t, "usage", `{"id":"sep-declined","account_id":"declined","app":"a","resource":"c","quantity":1,"started_at":"2026-09-01T00:00:00Z","ended_at":"2026-09-02T00:00:00Z"}`)
	client := tb.startWorker(t)
	tb.run(t, client, "2026-09")
	tb.run(t, client, "2026-10")
	tb.waitIdle(t)
	b := &dunningBundle{testBundle: tb, client: client}
	require.NoError(t, tb.pool.QueryRow(context.Background(), `SELECT max(issued_at) FROM invoices`).Scan(&b.t0))
	for d := 1; d <= 5; d++ {
		b.day(t, float64(d))
	}
	ctx := context.Background()
	var status string
	var overdue int
	require.NoError(t, tb.pool.QueryRow(ctx, `SELECT status, (SELECT count(*) FROM invoices WHERE account_id = 'declined' AND overdue_at IS NOT NULL)
		FROM accounts WHERE id = 'declined'`).Scan(&status, &overdue))
	require.Equal(t, "suspended", status)
	require.Equal(t, 2, overdue)

	require.NoError(t, pgx.BeginFunc(ctx, tb.pool, func(tx pgx.Tx) error {
		changed, err := payments.SetMethods(ctx, tx, []payments.MethodChange{{AccountID: "declined",
			Method: payments.Method{Type: payments.MethodCard, ID: "pm_card_visa"}}})
		if err != nil {
			return err
		}
		n, err := jobs.CollectOpenInvoices(ctx, tx, client, changed)
		require.Equal(t, 2, n)
		return err
	}))
	tb.waitIdle(t)
	require.NoError(t, tb.pool.QueryRow(ctx, `SELECT status FROM accounts WHERE id = 'declined'`).Scan(&status))
	require.Equal(t, "active", status)
}

// raceAccounts inserts n accounts without a payment method, each with one
// open invoice of 12.00 issued at t0 that nothing paid: at t0 + 5 days the
// dunning pass finds it overdue and suspends the account. The invoices are
// written directly (one statement, not a billing run per iteration) so that
// fifty rounds of the race stay fast; they carry what collection and the
// dunning pass read.
func raceAccounts(t *testing.T, pool *pgxpool.Pool, runID int64, round, n int, t0 time.Time) (ids, numbers []string) {
	t.Helper()
	ctx := context.Background()
	rows, err := pool.Query(ctx, `
		WITH a AS (
		    INSERT INTO accounts (id, name, email, country, created_at)
		    SELECT format('race%s-%s', lpad($1::int::text, 2, '0'), lpad(k::text, 2, '0')), 'Racer', 'racer@example.test', 'FR', '2026-01-01T00:00:00Z'
		    FROM generate_series(1, $2::int) k
		    RETURNING id)
		INSERT INTO invoices (number, account_id, period, period_start, period_end, run_id, status,
		                      subtotal, discount, tax_rate, vat_treatment, tax, total, issued_at, buyer_name, buyer_email, buyer_country)
		SELECT format('INV-2026-%s', lpad((1000 + $1::int * 100 + row_number() OVER (ORDER BY a.id))::text, 6, '0')), a.id,
		       '2026-10', '2026-10-01T00:00:00Z', '2026-11-01T00:00:00Z', $3, 'open',
		       10.00, 0, 20, 'domestic', 2.00, 12.00, $4, 'Racer', 'racer@example.test', 'FR'
		FROM a
		RETURNING account_id, number`, round, n, runID, t0)
	require.NoError(t, err)
	for rows.Next() {
		var id, number string
		require.NoError(t, rows.Scan(&id, &number))
		ids, numbers = append(ids, id), append(numbers, number)
	}
	require.NoError(t, rows.Err())
	require.Len(t, ids, n)
	return ids, numbers
}

// The daily pass and payments race over the same accounts, fifty rounds of
// twelve: in every round the pass is started at the moment each account's
// overdue invoice is being paid. Whichever commits first, no account ends
// paid and suspended, and no suspension (timeline event or webhook) lists
// no invoice: a payment that comes first means no suspension, one that
// comes second reactivates. Half the payments go through the whole real
// path (credit added with the collection of the open invoices, then the
// collect job a worker runs, whenever it picks it up); the other half are
// the collect job's own transaction (credit applied, then reactivation if
// suspended) held open a few milliseconds, so that pass and payments
// overlap in every round. Before the fix every run failed in round 0.
func TestDunningConcurrentPaymentNeverSuspendsPaidAccount(t *testing.T) {
	t.Parallel()
	const rounds, perRound = 50, 12
	tb := setup(t)
	tb.cfg.Queues = []string{jobs.QueuePayments} // collections; PDFs and webhooks stay queued, their rows inspected below
	client := tb.startWorker(t)
	ctx := context.Background()
	var runID int64
	require.NoError(t, tb.pool.QueryRow(ctx, `INSERT INTO billing_runs (period, requested_by, state, finished_at)
		VALUES ('2026-10', 'test', 'completed', now()) RETURNING id`).Scan(&runID))
	t0 := time.Date(2026, 11, 1, 6, 0, 0, 0, time.UTC)
	now := t0.Add(5*24*time.Hour + time.Hour)
	idle := func() {
		wait, cancel := context.WithTimeout(ctx, time.Minute)
		defer cancel()
		require.NoError(t, jobs.WaitIdle(wait, tb.pool, time.Minute, 20*time.Millisecond, jobs.QueuePayments))
	}
	credit := func(tx pgx.Tx, acc string) error {
		_, _, err := payments.AddEntry(ctx, tx, payments.NewEntry{AccountID: acc, Kind: payments.EntryManualCredit,
			Amount: decimal.NewFromInt(12), Reference: "race:" + acc})
		return err
	}
	start := time.Now()
	for round := range rounds {
		ids, numbers := raceAccounts(t, tb.pool, runID, round, perRound, t0)
		// The direct payers' credit is there before the race: what races is
		// the collection that spends it.
		require.NoError(t, pgx.BeginFunc(ctx, tb.pool, func(tx pgx.Tx) error {
			for k := 1; k < perRound; k += 2 {
				if err := credit(tx, ids[k]); err != nil {
					return err
				}
			}
			return nil
		}))

		var wg sync.WaitGroup
		errs := make(chan error, perRound+1)
		gate := make(chan struct{})
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-gate
			time.Sleep(time.Duration(rand.IntN(3000)) * time.Microsecond)
			_, err := jobs.RunDunningPass(ctx, tb.pool, client, now, true)
			errs <- err
		}()
		for k := range perRound {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-gate
				time.Sleep(time.Duration(rand.IntN(6000)) * time.Microsecond)
				errs <- pgx.BeginFunc(ctx, tb.pool, func(tx pgx.Tx) error {
					if k%2 == 0 {
						// `billing credit add`: credit, and the collection of the open invoices.
						if err := credit(tx, ids[k]); err != nil {
							return err
						}
						_, err := jobs.CollectOpenInvoices(ctx, tx, client, []string{ids[k]})
						return err
					}
					plan, err := payments.PrepareCollection(ctx, tx, numbers[k], sandbox.Name, now, 0)
					if err != nil {
						return err
					}
					if plan.Reason != payments.ReasonPaidByCredit {
						return fmt.Errorf("%s: %s, not paid by credit", numbers[k], plan.Reason)
					}
					if err := jobs.AfterPayment(ctx, tx, client, ids[k], now); err != nil {
						return err
					}
					time.Sleep(time.Duration(rand.IntN(3000)) * time.Microsecond)
					return nil
				})
			}()
		}
		close(gate)
		wg.Wait()
		close(errs)
		for err := range errs {
			require.NoError(t, err, "round %d", round)
		}
	}
	// The collections the worker runs may still be racing with the last
	// passes: the books are read once they are done.
	idle()
	elapsed := time.Since(start)

	var unpaid int
	require.NoError(t, tb.pool.QueryRow(ctx, `SELECT count(*) FROM invoices WHERE status <> 'paid'`).Scan(&unpaid))
	require.Zero(t, unpaid, "every invoice is paid")
	rows, err := tb.pool.Query(ctx, `SELECT id FROM accounts WHERE status = 'suspended' ORDER BY id`)
	require.NoError(t, err)
	paidAndSuspended, err := pgx.CollectRows(rows, pgx.RowTo[string])
	require.NoError(t, err)
	require.Empty(t, paidAndSuspended, "paid and suspended (raceRR-AA: round RR, account AA)")

	// No suspension lists no invoice, on the timeline or in a webhook.
	var emptyEvents, emptyHooks int
	require.NoError(t, tb.pool.QueryRow(ctx, `SELECT count(*) FROM account_events WHERE kind = 'suspended'
		AND coalesce(jsonb_array_length(CASE WHEN jsonb_typeof(data->'overdue_invoices') = 'array' THEN data->'overdue_invoices' END), 0) = 0`).Scan(&emptyEvents))
	require.Zero(t, emptyEvents, "suspended timeline events listing no invoice")
	require.NoError(t, tb.pool.QueryRow(ctx, `SELECT count(*) FROM river_job WHERE kind = 'account_webhook' AND args->>'event' = 'account.suspended'
		AND coalesce(jsonb_array_length(CASE WHEN jsonb_typeof(args->'overdue_invoices') = 'array' THEN args->'overdue_invoices' END), 0) = 0`).Scan(&emptyHooks))
	require.Zero(t, emptyHooks, "account.suspended webhooks listing no invoice")

	// Every suspension was undone by its payment, with its event and webhook.
	var suspended, reactivated, hooksOut, hooksBack, never int
	require.NoError(t, tb.pool.QueryRow(ctx, `SELECT
		    (SELECT count(*) FROM account_events WHERE kind = 'suspended'),
		    (SELECT count(*) FROM account_events WHERE kind = 'reactivated'),
		    (SELECT count(*) FROM river_job WHERE kind = 'account_webhook' AND args->>'event' = 'account.suspended'),
		    (SELECT count(*) FROM river_job WHERE kind = 'account_webhook' AND args->>'event' = 'account.reactivated'),
		    (SELECT count(*) FROM accounts a WHERE NOT EXISTS (SELECT 1 FROM account_events e WHERE e.account_id = a.id AND e.kind = 'suspended'))`).
		Scan(&suspended, &reactivated, &hooksOut, &hooksBack, &never))
	require.Equal(t, suspended, reactivated, "each suspension is followed by its reactivation")
	require.Equal(t, suspended, hooksOut)
	require.Equal(t, reactivated, hooksBack)
	// Both orders happened: the race was run, not one side always first.
	require.Positive(t, suspended, "no pass came before a payment")
	require.Positive(t, never, "no payment came before the pass")
	t.Logf("%d rounds of %d accounts in %s: %d suspended then reactivated, %d never suspended", rounds, perRound, elapsed, suspended, never)

	rep, err := audit.Run(ctx, tb.pool, "")
	require.NoError(t, err)
	for _, v := range rep.Violations {
		require.NotEqual(t, "suspended_only_when_overdue", v.Invariant, v.Detail)
	}
}

// An account suspended with nothing overdue (as the pass used to leave an
// account paid meanwhile) is reactivated by the next pass, with its
// timeline event and webhook; one with an overdue invoice stays suspended,
// also while a SEPA debit of that invoice is processing (as the audit
// expects: see internal/accounts); and an active account with an overdue
// open invoice is suspended.
func TestDunningReactivatesAccountSuspendedWithNothingOverdue(t *testing.T) {
	t.Parallel()
	b := setupDunning(t, 0)
	ctx := context.Background()
	exec := func(sql string) {
		t.Helper()
		_, err := b.pool.Exec(ctx, sql)
		require.NoError(t, err)
	}
	status := func(id string) string {
		t.Helper()
		s, _ := b.account(t, id)
		return s
	}
	events := func(id string) string {
		t.Helper()
		var kinds string
		require.NoError(t, b.pool.QueryRow(ctx, `SELECT coalesce(string_agg(kind || coalesce(':' || (data->'overdue_invoices')::text, ''), ',' ORDER BY id), '')
			FROM account_events WHERE account_id = $1 AND kind IN ('suspended', 'reactivated')`, id).Scan(&kinds))
		return kinds
	}
	hooks := func(id string) string {
		t.Helper()
		var got string
		require.NoError(t, b.pool.QueryRow(ctx, `SELECT coalesce(string_agg(args->>'event', ',' ORDER BY id), '')
			FROM river_job WHERE kind = 'account_webhook' AND args->>'account_id' = $1`, id).Scan(&got))
		return got
	}

	b.day(t, 1)
	// visa's invoice is paid, nomethod's is open but not overdue yet.
	exec(`UPDATE accounts SET status = 'suspended' WHERE id IN ('visa', 'nomethod')`)
	rep := b.day(t, 1.5)
	require.Equal(t, []string{"nomethod", "visa"}, rep.Reactivated)
	require.Empty(t, rep.Suspended)
	for _, id := range []string{"visa", "nomethod"} {
		require.Equal(t, "active", status(id), id)
		require.Equal(t, "reactivated", events(id), id)
		require.Equal(t, "account.reactivated", hooks(id), id)
	}
	rep = b.day(t, 1.6)
	require.Empty(t, rep.Reactivated, "once")

	// Five days on, nomethod is suspended for its invoice, and stays so.
	number := b.number(t, "nomethod")
	rep = b.day(t, 5)
	require.Equal(t, []string{"nomethod"}, rep.Suspended)
	require.Equal(t, `reactivated,suspended:["`+number+`"]`, events("nomethod"))
	rep = b.day(t, 5.5)
	require.Empty(t, rep.Reactivated)
	require.Equal(t, "suspended", status("nomethod"))

	// A SEPA debit of the overdue invoice is processing: the invoice still
	// remains until it settles.
	exec(`UPDATE invoices SET status = 'processing' WHERE account_id = 'nomethod'`)
	rep = b.day(t, 6)
	require.Empty(t, rep.Reactivated)
	require.Equal(t, "suspended", status("nomethod"))

	// An active account with an overdue open invoice is suspended again.
	exec(`UPDATE invoices SET status = 'open' WHERE account_id = 'nomethod'`)
	exec(`UPDATE accounts SET status = 'active' WHERE id = 'nomethod'`)
	rep = b.day(t, 7)
	require.Equal(t, []string{"nomethod"}, rep.Suspended)
	require.Equal(t, "suspended", status("nomethod"))
	require.Equal(t, `reactivated,suspended:["`+number+`"],suspended:["`+number+`"]`, events("nomethod"))
	require.Equal(t, "account.reactivated,account.suspended,account.suspended", hooks("nomethod"))

	// The receiver got visa's reactivation, signed.
	require.Eventually(t, func() bool {
		b.hook.mu.Lock()
		defer b.hook.mu.Unlock()
		for _, ev := range b.hook.events {
			if ev.Event == "account.reactivated" && ev.AccountID == "visa" {
				return true
			}
		}
		return false
	}, 30*time.Second, 100*time.Millisecond)
	b.hook.mu.Lock()
	defer b.hook.mu.Unlock()
	require.Zero(t, b.hook.badSigs)
}
