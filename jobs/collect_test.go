package jobs_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"
	"github.com/shopspring/decimal"
	"github.com/stretchr/testify/require"

	"github.com/billingengine/engine/internal/audit"
	"github.com/billingengine/engine/jobs"
	"github.com/billingengine/engine/payments"
	"github.com/billingengine/engine/payments/faulty"
	"github.com/billingengine/engine/payments/sandbox"
)

// payAccounts are one account per way of paying, each using 100 h of a
// 0.10/h resource in October (10.00, plus 20 % French VAT: 12.00).
const payAccounts = `{"id":"visa","name":"V","email":"v@example.test","country":"FR","created_at":"2026-01-01T00:00:00Z","payment_method":{"type":"card","id":"pm_card_visa"}}
{"id":"declined","name":"D","email":"d@example.test","country":"FR","created_at":"2026-01-01T00:00:00Z","payment_method":{"type":"card","id":"pm_card_chargeDeclined"}}
{"id":"broke","name":"B","email":"b@example.test","country":"FR","created_at":"2026-01-01T00:00:00Z","payment_method":{"type":"card","id":"pm_card_chargeDeclinedInsufficientFunds"}}
{"id":"sepa","name":"S","email":"s@example.test","country":"FR","created_at":"2026-01-01T00:00:00Z","payment_method":{"type":"sepa_debit","id":"pm_sepa_debit_success"}}
{"id":"sepafail","name":"SF","email":"sf@example.test","country":"FR","created_at":"2026-01-01T00:00:00Z","payment_method":{"type":"sepa_debit","id":"pm_sepa_debit_fail"}}
{"id":"nomethod","name":"N","email":"n@example.test","country":"FR","created_at":"2026-01-01T00:00:00Z"}
{"id":"prepaid","name":"P","email":"p@example.test","country":"FR","created_at":"2026-01-01T00:00:00Z"}
{"id":"partial","name":"PA","email":"pa@example.test","country":"FR","created_at":"2026-01-01T00:00:00Z","payment_method":{"type":"card","id":"pm_card_visa"}}
`

func (tb *testBundle) loadPayers(t *testing.T) {
	t.Helper()
	tb.load(t, "catalog", `{"resource":"c","description":"C","price_per_hour":"0.10","effective_from":"2026-01-01T00:00:00Z"}`)
	tb.load(t, "accounts", payAccounts)
	var usage strings.Builder
	for _, acc := range []string{"visa", "declined", "broke", "sepa", "sepafail", "nomethod", "prepaid", "partial"} {
		fmt.Fprintf(&usage, `{"id":"u-%s","account_id":"%s","app":"a","resource":"c","quantity":1,"started_at":"2026-10-01T00:00:00Z","ended_at":"2026-10-05T04:00:00Z"}`+"\n", acc, acc)
	}
	tb.load(t, "usage", usage.String())
	ctx := context.Background()
	require.NoError(t, pgx.BeginFunc(ctx, tb.pool, func(tx pgx.Tx) error {
		for acc, amount := range map[string]string{"prepaid": "50.00", "partial": "5.00"} {
			if _, _, err := payments.AddEntry(ctx, tx, payments.NewEntry{AccountID: acc, Kind: payments.EntryManualCredit,
				Amount: decimal.RequireFromString(amount), Reference: "test:" + acc}); err != nil {
				return err
			}
		}
		return nil
	}))
}

func (tb *testBundle) waitIdle(t *testing.T) {
	t.Helper()
	// A hang guard, not a speed bar: on a loaded 2-core machine a month
	// whose emails are retried while SMTP is down took longer than a minute.
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	require.NoError(t, jobs.WaitIdle(ctx, tb.pool, time.Minute, 50*time.Millisecond))
}

type collected struct {
	status, paid, credit string
	attempts             []string
}

func (tb *testBundle) collected(t *testing.T) map[string]collected {
	t.Helper()
	rows, err := tb.pool.Query(context.Background(), `
		SELECT i.account_id, i.status, i.amount_paid::text, i.credit_applied::text,
		       coalesce(array_agg(pa.state || ':' || pa.code || ':' || pa.amount ORDER BY pa.attempt) FILTER (WHERE pa.id IS NOT NULL), '{}')
		FROM invoices i LEFT JOIN payment_attempts pa ON pa.invoice_id = i.id
		GROUP BY i.id`)
	require.NoError(t, err)
	out := map[string]collected{}
	for rows.Next() {
		var acc string
		var c collected
		require.NoError(t, rows.Scan(&acc, &c.status, &c.paid, &c.credit, &c.attempts))
		out[acc] = c
	}
	require.NoError(t, rows.Err())
	return out
}

// requireBooksBalance checks what audit checks of payments: amount paid is
// credit applied plus succeeded charges, the sandbox took one charge per
// attempt sent, and the ledger sums to the balances.
func requireBooksBalance(t *testing.T, tb *testBundle) {
	t.Helper()
	ctx := context.Background()
	var bad int
	require.NoError(t, tb.pool.QueryRow(ctx, `
		SELECT count(*) FROM invoices i
		WHERE i.amount_paid <> i.credit_applied + coalesce((SELECT sum(amount) FROM payment_attempts pa
		                                                    WHERE pa.invoice_id = i.id AND pa.state = 'succeeded'), 0)`).Scan(&bad))
	require.Zero(t, bad, "amount_paid != credit applied + succeeded charges")
	require.NoError(t, tb.pool.QueryRow(ctx, `
		SELECT count(*) FROM payment_attempts pa LEFT JOIN sandbox_charges c ON c.idempotency_key = pa.idempotency_key
		WHERE pa.state <> 'pending' AND (c.idempotency_key IS NULL OR c.amount <> pa.amount)`).Scan(&bad))
	require.Zero(t, bad, "decided attempts without their one sandbox charge")
	require.NoError(t, tb.pool.QueryRow(ctx, `
		SELECT count(*) FROM accounts a
		WHERE a.credit_balance <> coalesce((SELECT sum(amount) FROM credit_ledger l WHERE l.account_id = a.id), 0)`).Scan(&bad))
	require.Zero(t, bad, "credit balance != Σ ledger")
}

func TestCollectionOutcomes(t *testing.T) {
	t.Parallel()
	tb := setup(t)
	tb.loadPayers(t)
	client := tb.startWorker(t)
	tb.run(t, client, "2026-10")
	tb.waitIdle(t)

	got := tb.collected(t)
	require.Equal(t, collected{"paid", "12.00", "0.00", []string{"succeeded::12.00"}}, got["visa"])
	require.Equal(t, collected{"open", "0.00", "0.00", []string{"declined:generic_decline:12.00"}}, got["declined"])
	require.Equal(t, collected{"open", "0.00", "0.00", []string{"declined:insufficient_funds:12.00"}}, got["broke"])
	require.Equal(t, collected{"paid", "12.00", "0.00", []string{"succeeded::12.00"}}, got["sepa"], "settled after processing")
	require.Equal(t, collected{"open", "0.00", "0.00", []string{"failed:debit_failed:12.00"}}, got["sepafail"])
	require.Equal(t, collected{"open", "0.00", "0.00", []string{}}, got["nomethod"])
	require.Equal(t, collected{"paid", "12.00", "12.00", []string{}}, got["prepaid"])
	require.Equal(t, collected{"paid", "12.00", "5.00", []string{"succeeded::7.00"}}, got["partial"])
	requireBooksBalance(t, tb)

	var balance string
	require.NoError(t, tb.pool.QueryRow(context.Background(), `SELECT credit_balance::text FROM accounts WHERE id = 'prepaid'`).Scan(&balance))
	require.Equal(t, "38.00", balance)

	// The invoice JSON shows the attempts, and credit as credit_applied.
	list, err := payments.ListInvoices(context.Background(), tb.pool, invoicesOf("2026-10"))
	require.NoError(t, err)
	for _, inv := range list {
		switch inv.AccountID {
		case "partial":
			require.Equal(t, "5.00 12.00 0.00", inv.CreditApplied+" "+inv.AmountPaid+" "+inv.AmountDue)
			require.Len(t, inv.Attempts, 1)
			require.Equal(t, "card 7.00 succeeded", inv.Attempts[0].Method+" "+inv.Attempts[0].Amount+" "+inv.Attempts[0].Outcome)
		case "broke":
			require.Equal(t, "insufficient_funds", inv.Attempts[0].Code)
			require.Equal(t, "12.00", inv.AmountDue)
		}
	}

	// Every outcome is on the account's timeline.
	var kinds string
	require.NoError(t, tb.pool.QueryRow(context.Background(),
		`SELECT string_agg(kind, ',' ORDER BY id) FROM account_events WHERE account_id = 'sepa'`).Scan(&kinds))
	require.Equal(t, "invoice_issued,payment_processing,payment_succeeded", kinds)
}

func TestProcessingStaysUntilSettled(t *testing.T) {
	t.Parallel()
	tb := setup(t)
	tb.cfg.SandboxSEPADelay = time.Hour
	tb.loadPayers(t)
	tb.run(t, tb.startWorker(t), "2026-10")
	tb.waitIdle(t)
	got := tb.collected(t)
	require.Equal(t, collected{"processing", "0.00", "0.00", []string{"processing::12.00"}}, got["sepa"])
	require.Equal(t, collected{"processing", "0.00", "0.00", []string{"processing::12.00"}}, got["sepafail"])
}

// Faults before and after the processor acts (a 500, a timeout that loses
// the answer) never charge twice and never lose a payment.
func TestCollectionSurvivesProcessorFaults(t *testing.T) {
	t.Parallel()
	tb := setup(t)
	tb.cfg.Processor = faulty.New(&sandbox.Processor{Pool: tb.pool}, faulty.Config{Before: 0.3, After: 0.3, Seed: 7})
	tb.loadPayers(t)
	tb.run(t, tb.startWorker(t), "2026-10")
	deadline := time.Now().Add(90 * time.Second)
	for {
		var pending int
		require.NoError(t, tb.pool.QueryRow(context.Background(),
			`SELECT count(*) FROM payment_attempts WHERE state IN ('pending', 'processing')`).Scan(&pending))
		if pending == 0 {
			break
		}
		require.True(t, time.Now().Before(deadline), "%d attempts still unresolved", pending)
		time.Sleep(100 * time.Millisecond)
	}
	got := tb.collected(t)
	require.Equal(t, "paid", got["visa"].status)
	require.Equal(t, []string{"succeeded::12.00"}, got["visa"].attempts, "one attempt, however many retries")
	require.Equal(t, []string{"declined:generic_decline:12.00"}, got["declined"].attempts)
	require.Equal(t, "paid", got["sepa"].status)
	require.Equal(t, "paid", got["partial"].status)
	requireBooksBalance(t, tb)
	var charges, attempts int
	require.NoError(t, tb.pool.QueryRow(context.Background(), `SELECT (SELECT count(*) FROM sandbox_charges), (SELECT count(*) FROM payment_attempts)`).Scan(&charges, &attempts))
	require.Equal(t, attempts, charges)
}

// Many collections of one invoice at once charge it once.
func TestConcurrentCollectionsChargeOnce(t *testing.T) {
	t.Parallel()
	tb := setup(t)
	tb.cfg.Processor = &slowProcessor{Processor: &sandbox.Processor{Pool: tb.pool}, delay: 200 * time.Millisecond}
	tb.loadPayers(t)
	client := tb.startWorker(t)
	tb.startWorker(t)
	tb.run(t, client, "2026-10")
	ctx := context.Background()
	var number string
	require.NoError(t, tb.pool.QueryRow(ctx, `SELECT number FROM invoices WHERE account_id = 'declined'`).Scan(&number))
	tb.waitIdle(t)
	// The declined card's invoice is open: ten collections race for it.
	var wg sync.WaitGroup
	for range 10 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := client.Insert(ctx, jobs.CollectInvoiceArgs{InvoiceNumber: number}, nil)
			require.NoError(t, err)
		}()
	}
	wg.Wait()
	tb.waitIdle(t)
	var attempts, charges int
	require.NoError(t, tb.pool.QueryRow(ctx, `SELECT count(*) FROM payment_attempts pa JOIN invoices i ON i.id = pa.invoice_id WHERE i.number = $1`, number).Scan(&attempts))
	require.NoError(t, tb.pool.QueryRow(ctx, `SELECT count(*) FROM sandbox_charges WHERE idempotency_key LIKE $1`, number+"-%").Scan(&charges))
	require.Equal(t, attempts, charges, "one charge per attempt")
	require.LessOrEqual(t, attempts, 11, "each collection makes at most one new attempt")
	requireBooksBalance(t, tb)
}

type slowProcessor struct {
	payments.Processor
	delay time.Duration
}

func (p *slowProcessor) Charge(ctx context.Context, req payments.ChargeRequest) (payments.ChargeResult, error) {
	time.Sleep(p.delay)
	return p.Processor.Charge(ctx, req)
}

// Concurrent collections of an account's invoices never overdraw its
// credit: the account row serialises them and a constraint backs it.
func TestConcurrentCreditNeverOverdraws(t *testing.T) {
	t.Parallel()
	tb := setup(t)
	ctx := context.Background()
	tb.load(t, "accounts", `{"id":"acc","name":"A","email":"a@example.test","country":"FR","created_at":"2026-01-01T00:00:00Z"}`)
	require.NoError(t, pgx.BeginFunc(ctx, tb.pool, func(tx pgx.Tx) error {
		_, _, err := payments.AddEntry(ctx, tx, payments.NewEntry{AccountID: "acc", Kind: payments.EntryManualCredit, Amount: decimal.NewFromInt(100), Reference: "seed"})
		return err
	}))
	var wg sync.WaitGroup
	var mu sync.Mutex
	ok, refused := 0, 0
	for i := range 30 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := pgx.BeginFunc(ctx, tb.pool, func(tx pgx.Tx) error {
				_, _, err := payments.AddEntry(ctx, tx, payments.NewEntry{AccountID: "acc", Kind: payments.EntryInvoicePayment,
					Amount: decimal.NewFromInt(7), Reference: fmt.Sprintf("debit-%d", i)})
				return err
			})
			mu.Lock()
			defer mu.Unlock()
			if err == nil {
				ok++
			} else {
				require.ErrorIs(t, err, payments.ErrInsufficientCredit)
				refused++
			}
		}()
	}
	wg.Wait()
	require.Equal(t, 14, ok, "14 × 7 = 98 fit in 100")
	require.Equal(t, 16, refused)
	var balance, sum string
	require.NoError(t, tb.pool.QueryRow(ctx, `SELECT credit_balance::text, (SELECT sum(amount)::text FROM credit_ledger) FROM accounts`).Scan(&balance, &sum))
	require.Equal(t, "2.00", balance)
	require.Equal(t, "2.00", sum)
	// Even a statement that bypasses the ledger can't make it negative.
	_, err := tb.pool.Exec(ctx, `UPDATE accounts SET credit_balance = -1`)
	require.Error(t, err)
}

func TestManualCreditIsIdempotent(t *testing.T) {
	t.Parallel()
	tb := setup(t)
	ctx := context.Background()
	tb.load(t, "accounts", `{"id":"acc","name":"A","email":"a@example.test","country":"FR","created_at":"2026-01-01T00:00:00Z"}`)
	add := func(amount int64) (bool, error) {
		var created bool
		err := pgx.BeginFunc(ctx, tb.pool, func(tx pgx.Tx) error {
			var err error
			_, created, err = payments.AddEntry(ctx, tx, payments.NewEntry{AccountID: "acc", Kind: payments.EntryManualCredit, Amount: decimal.NewFromInt(amount), Reference: "REF-1"})
			return err
		})
		return created, err
	}
	created, err := add(10)
	require.NoError(t, err)
	require.True(t, created)
	created, err = add(10)
	require.NoError(t, err)
	require.False(t, created)
	_, err = add(11)
	require.ErrorContains(t, err, "already exists")
	var balance string
	require.NoError(t, tb.pool.QueryRow(ctx, `SELECT credit_balance::text FROM accounts`).Scan(&balance))
	require.Equal(t, "10.00", balance)
}

// Every invoice gets its PDF at finalization, and a new version when its
// payment status changes; rendering again stores nothing new.
func TestInvoicePDFs(t *testing.T) {
	t.Parallel()
	tb := setup(t)
	tb.cfg.SandboxSEPADelay = time.Hour
	tb.loadPayers(t)
	client := tb.startWorker(t)
	tb.run(t, client, "2026-10")
	tb.waitIdle(t)
	ctx := context.Background()
	var invoices, documents int
	require.NoError(t, tb.pool.QueryRow(ctx, `SELECT (SELECT count(*) FROM invoices), (SELECT count(DISTINCT number) FROM documents)`).Scan(&invoices, &documents))
	require.Equal(t, invoices, documents)

	stamp := func(account string) (string, int) {
		var s string
		var v int
		require.NoError(t, tb.pool.QueryRow(ctx, `SELECT d.stamp, d.version FROM documents d JOIN invoices i ON i.number = d.number
			WHERE i.account_id = $1 ORDER BY d.version DESC LIMIT 1`, account).Scan(&s, &v))
		return s, v
	}
	s, _ := stamp("visa")
	require.Equal(t, "paid|12.00|0.00|0.00", s)
	s, _ = stamp("sepa")
	require.Equal(t, "processing|0.00|0.00|12.00", s, "the SEPA debit is still processing")

	// Settle it now: the PDF follows.
	var id int64
	require.NoError(t, tb.pool.QueryRow(ctx, `SELECT id FROM river_job WHERE kind = 'sandbox_settle_sepa' AND args->'references' ?
		(SELECT processor_ref FROM payment_attempts pa JOIN invoices i ON i.id = pa.invoice_id WHERE i.account_id = 'sepa')`).Scan(&id))
	_, err := client.JobRetry(ctx, id)
	require.NoError(t, err)
	tb.waitIdle(t)
	s, v := stamp("sepa")
	require.Equal(t, "paid|12.00|0.00|0.00", s)
	require.GreaterOrEqual(t, v, 2, "a version per state it went through")

	_, err = client.Insert(ctx, jobs.RenderInvoicePDFArgs{InvoiceNumber: tb.number(t, "sepa")}, nil)
	require.NoError(t, err)
	tb.waitIdle(t)
	_, v2 := stamp("sepa")
	require.Equal(t, v, v2, "the same state renders to the same bytes: no new version")
}

func (tb *testBundle) number(t *testing.T, account string) string {
	t.Helper()
	var n string
	require.NoError(t, tb.pool.QueryRow(context.Background(), `SELECT number FROM invoices WHERE account_id = $1 ORDER BY number LIMIT 1`, account).Scan(&n))
	return n
}

// auditOf returns what the audit finds broken of the invariants named.
func auditOf(t *testing.T, pool *pgxpool.Pool, invariants ...string) []string {
	t.Helper()
	rep, err := audit.Run(context.Background(), pool, "")
	require.NoError(t, err)
	var out []string
	for _, v := range rep.Violations {
		if slices.Contains(invariants, v.Invariant) {
			out = append(out, v.String())
		}
	}
	return out
}

// addCredit adds credit by hand as `billing credit add` does: the entry
// and the collection of the open invoices in one transaction.
func addCredit(t *testing.T, pool *pgxpool.Pool, client *jobs.Client, account, amount, ref string) int {
	t.Helper()
	ctx := context.Background()
	var n int
	require.NoError(t, pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		if _, _, err := payments.AddEntry(ctx, tx, payments.NewEntry{AccountID: account, Kind: payments.EntryManualCredit,
			Amount: decimal.RequireFromString(amount), Reference: ref}); err != nil {
			return err
		}
		var err error
		n, err = jobs.CollectOpenInvoices(ctx, tx, client, []string{account})
		return err
	}))
	return n
}

// Credit added while a SEPA debit is processing can't be used then (the
// debit may still settle). When the debit fails, the credit pays the
// invoice at once: the account is never suspended while holding it.
func TestCreditAddedDuringSEPADebitPaysWhenTheDebitFails(t *testing.T) {
	t.Parallel()
	b := setupDunning(t, time.Hour)
	require.Equal(t, collected{"processing", "0.00", "0.00", []string{"processing::12.00"}}, b.collected(t)["sepafail"])

	require.Zero(t, addCredit(t, b.pool, b.client, "sepafail", "50.00", "topup"), "a processing invoice is not collected again")
	b.waitIdle(t)
	b.settleDue(t, time.Now().Add(2*time.Hour)) // the debit fails

	require.Equal(t, collected{"paid", "12.00", "12.00", []string{"failed:debit_failed:12.00"}}, b.collected(t)["sepafail"],
		"the credit paid what the failed debit did not")
	for d := 1; d <= 6; d++ {
		b.day(t, float64(d))
	}
	status, attempts := b.account(t, "sepafail")
	require.Equal(t, "active", status)
	require.Equal(t, []string{"failed"}, attempts, "nothing left to retry")
	var balance, kinds string
	require.NoError(t, b.pool.QueryRow(context.Background(), `SELECT credit_balance::text,
		(SELECT string_agg(kind, ',' ORDER BY id) FROM account_events WHERE account_id = 'sepafail') FROM accounts WHERE id = 'sepafail'`).Scan(&balance, &kinds))
	require.Equal(t, "38.00", balance)
	require.Equal(t, "invoice_issued,payment_processing,payment_failed,credit_applied,payment_succeeded", kinds)
	requireBooksBalance(t, b.testBundle)
	require.Empty(t, auditOf(t, b.pool, "open_invoices_use_available_credit", "amount_paid_is_credit_plus_charges", "credit_balance_is_ledger_sum"))
}

// gate holds the charges of one account until released.
type gate struct {
	payments.Processor
	account string
	started chan struct{}
	release chan struct{}
	once    sync.Once
}

func (g *gate) Charge(ctx context.Context, req payments.ChargeRequest) (payments.ChargeResult, error) {
	if req.AccountID == g.account {
		g.once.Do(func() { close(g.started) })
		select {
		case <-g.release:
		case <-ctx.Done():
			return payments.ChargeResult{}, &payments.TechnicalError{Op: "charge", Err: ctx.Err()}
		}
	}
	return g.Processor.Charge(ctx, req)
}

// Credit added while a card charge is in flight (sent, not answered yet):
// the collection it triggers finds that attempt and resends it, with its
// key, rather than use the credit. When the card is declined, the credit
// pays the invoice.
func TestCreditAddedDuringCardChargePaysWhenItIsDeclined(t *testing.T) {
	t.Parallel()
	tb := setup(t)
	g := &gate{Processor: &sandbox.Processor{Pool: tb.pool}, account: "declined", started: make(chan struct{}), release: make(chan struct{})}
	tb.cfg.Processor = g
	tb.loadPayers(t)
	client := tb.startWorker(t)
	tb.run(t, client, "2026-10")
	select {
	case <-g.started:
	case <-time.After(30 * time.Second):
		t.Fatal("the declined card's charge was never sent")
	}
	require.Equal(t, 1, addCredit(t, tb.pool, client, "declined", "20.00", "topup"), "the open invoice is collected again")
	time.Sleep(300 * time.Millisecond) // the second collection resends the pending attempt: held too
	close(g.release)
	tb.waitIdle(t)

	require.Equal(t, collected{"paid", "12.00", "12.00", []string{"declined:generic_decline:12.00"}}, tb.collected(t)["declined"])
	var balance string
	require.NoError(t, tb.pool.QueryRow(context.Background(), `SELECT credit_balance::text FROM accounts WHERE id = 'declined'`).Scan(&balance))
	require.Equal(t, "8.00", balance)
	requireBooksBalance(t, tb)
	require.Empty(t, auditOf(t, tb.pool, "open_invoices_use_available_credit", "amount_paid_is_credit_plus_charges", "credit_balance_is_ledger_sum"))
}

// outage is the sandbox with one account's answers lost while down: the
// sandbox takes the charge, and the answer times out; looking it up fails.
type outage struct {
	next    *sandbox.Processor
	account string
	down    atomic.Bool
}

var errLost = &payments.TechnicalError{Op: "charge", Reached: true, Err: errors.New("timeout: the answer was lost")}

func (o *outage) Name() string { return o.next.Name() }

func (o *outage) Charge(ctx context.Context, req payments.ChargeRequest) (payments.ChargeResult, error) {
	res, err := o.next.Charge(ctx, req)
	if req.AccountID == o.account && o.down.Load() {
		return payments.ChargeResult{}, errLost
	}
	return res, err
}

func (o *outage) Lookup(ctx context.Context, req payments.ChargeRequest) (payments.ChargeResult, bool, error) {
	if req.AccountID == o.account && o.down.Load() {
		return payments.ChargeResult{}, false, errLost
	}
	return o.next.Lookup(ctx, req)
}

// reconciliations lists the live reconciliation jobs of an attempt key.
func reconciliations(t *testing.T, pool *pgxpool.Pool, key string) []string {
	t.Helper()
	rows, err := pool.Query(context.Background(), `SELECT state::text FROM river_job
		WHERE kind = 'collect_invoices' AND (args->>'reconcile')::bool AND args->'keys' ? $1
		  AND state NOT IN ('completed', 'cancelled', 'discarded') ORDER BY id`, key)
	require.NoError(t, err)
	states, err := pgx.CollectRows(rows, pgx.RowTo[string])
	require.NoError(t, err)
	return states
}

// auditAged runs the audit of pending attempts as it would be with the
// attempt key three hours old (backdated in a transaction rolled back).
func auditAged(t *testing.T, pool *pgxpool.Pool, key string) []string {
	t.Helper()
	ctx := context.Background()
	tx, err := pool.Begin(ctx)
	require.NoError(t, err)
	defer tx.Rollback(ctx) //nolint:errcheck // read only
	_, err = tx.Exec(ctx, `SET LOCAL session_replication_role = replica;
		UPDATE payment_attempts SET created_at = now() - interval '3 hours' WHERE idempotency_key = '`+key+`'`)
	require.NoError(t, err)
	rep, err := audit.Run(ctx, tx, "")
	require.NoError(t, err)
	var out []string
	for _, v := range rep.Violations {
		if v.Invariant == "pending_attempts_have_a_live_job" {
			out = append(out, v.Detail)
		}
	}
	return out
}

// A collection whose every try loses the processor's answer (the card was
// charged) runs out of tries. Before, River discarded it and the attempt
// stayed pending forever: the invoice open although paid, dunning waiting
// for it. Now the reconciliation inserted with the attempt looks the charge
// up by its key, and records it once the processor answers.
func TestCollectionOutOfTriesHandsOverToReconciliation(t *testing.T) {
	t.Parallel()
	tb := setup(t)
	o := &outage{next: &sandbox.Processor{Pool: tb.pool}, account: "declined"}
	tb.cfg.Processor = o
	tb.loadPayers(t)
	client := tb.startWorker(t)
	tb.run(t, client, "2026-10")
	tb.waitIdle(t)
	ctx := context.Background()
	number := tb.number(t, "declined")
	require.NoError(t, pgx.BeginFunc(ctx, tb.pool, func(tx pgx.Tx) error {
		_, err := payments.SetMethods(ctx, tx, []payments.MethodChange{{AccountID: "declined", Method: payments.Method{Type: payments.MethodCard, ID: sandbox.CardVisa}}})
		return err
	}))

	o.down.Store(true)
	res, err := client.Insert(ctx, jobs.CollectInvoiceArgs{InvoiceNumber: number}, &river.InsertOpts{MaxAttempts: 3})
	require.NoError(t, err)
	require.Eventually(t, func() bool {
		var state string
		require.NoError(t, tb.pool.QueryRow(ctx, `SELECT state::text FROM river_job WHERE id = $1`, res.Job.ID).Scan(&state))
		return state == "completed" || state == "discarded"
	}, 30*time.Second, 50*time.Millisecond)
	var state string
	require.NoError(t, tb.pool.QueryRow(ctx, `SELECT state::text FROM river_job WHERE id = $1`, res.Job.ID).Scan(&state))
	require.Equal(t, "completed", state, "out of tries, the job hands over rather than fail")

	key := payments.AttemptKey(number, 2)
	require.Equal(t, collected{"open", "0.00", "0.00", []string{"declined:generic_decline:12.00", "pending::12.00"}}, tb.collected(t)["declined"])
	var taken string
	require.NoError(t, tb.pool.QueryRow(ctx, `SELECT outcome FROM sandbox_charges WHERE idempotency_key = $1`, key).Scan(&taken))
	require.Equal(t, "succeeded", taken, "the processor took the money")
	require.Equal(t, []string{"scheduled"}, reconciliations(t, tb.pool, key))
	require.Empty(t, auditAged(t, tb.pool, key), "a reconciliation will learn the outcome")

	// The reconciliation, due once the collection's retries would be
	// over, is run now: the processor still doesn't answer.
	var rec int64
	require.NoError(t, tb.pool.QueryRow(ctx, `SELECT id FROM river_job WHERE kind = 'collect_invoices' AND args->'keys' ? $1`, key).Scan(&rec))
	_, err = client.JobRetry(ctx, rec)
	require.NoError(t, err)
	require.Eventually(t, func() bool {
		var errs int
		require.NoError(t, tb.pool.QueryRow(ctx, `SELECT coalesce(array_length(errors, 1), 0) FROM river_job WHERE id = $1`, rec).Scan(&errs))
		return errs > 0
	}, 30*time.Second, 50*time.Millisecond)
	require.Equal(t, "pending", tb.collected(t)["declined"].attempts[1][:7])

	// It answers again: the charge found by its key is recorded, once.
	o.down.Store(false)
	_, err = client.JobRetry(ctx, rec)
	require.NoError(t, err)
	tb.waitIdle(t)
	require.Equal(t, collected{"paid", "12.00", "0.00", []string{"declined:generic_decline:12.00", "succeeded::12.00"}}, tb.collected(t)["declined"])
	require.Empty(t, reconciliations(t, tb.pool, key))
	requireBooksBalance(t, tb)
	require.Empty(t, auditOf(t, tb.pool, "pending_attempts_have_a_live_job", "one_charge_per_idempotency_key", "amount_paid_is_credit_plus_charges"))
}

// While a charge is in flight its attempt already has its reconciliation,
// committed with it before the processor is called (a worker killed there
// leaves it behind to resolve the attempt); once every answer is recorded,
// it is deleted.
func TestInFlightAttemptHasItsReconciliation(t *testing.T) {
	t.Parallel()
	tb := setup(t)
	g := &gate{Processor: &sandbox.Processor{Pool: tb.pool}, account: "visa", started: make(chan struct{}), release: make(chan struct{})}
	tb.cfg.Processor = g
	tb.loadPayers(t)
	client := tb.startWorker(t)
	tb.run(t, client, "2026-10")
	select {
	case <-g.started:
	case <-time.After(30 * time.Second):
		t.Fatal("the card's charge was never sent")
	}
	key := payments.AttemptKey(tb.number(t, "visa"), 1)
	require.Equal(t, []string{"scheduled"}, reconciliations(t, tb.pool, key))
	var due time.Duration
	require.NoError(t, tb.pool.QueryRow(context.Background(), `SELECT extract(epoch FROM scheduled_at - now())::int * interval '1 second' FROM river_job
		WHERE kind = 'collect_invoices' AND args->'keys' ? $1`, key).Scan(&due))
	require.Greater(t, due, 5*time.Minute, "due once the collection's own retries are over")
	require.Empty(t, auditAged(t, tb.pool, key))

	close(g.release)
	tb.waitIdle(t)
	require.Equal(t, "paid", tb.collected(t)["visa"].status)
	require.Empty(t, reconciliations(t, tb.pool, key), "every answer recorded: the reconciliation is gone")
	var left int
	require.NoError(t, tb.pool.QueryRow(context.Background(), `SELECT count(*) FROM river_job WHERE kind = 'collect_invoices' AND (args->>'reconcile')::bool`).Scan(&left))
	require.Zero(t, left, "nothing left scheduled")
}
