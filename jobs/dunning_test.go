package jobs_test

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/shopspring/decimal"
	"github.com/stretchr/testify/require"

	"github.com/billingengine/engine/jobs"
	"github.com/billingengine/engine/payments"
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
	if !validSignature(req.Header.Get(jobs.SignatureHeader), body) {
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
