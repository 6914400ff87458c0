package jobs_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/shopspring/decimal"
	"github.com/stretchr/testify/require"

	"github.com/billingengine/engine/billing"
	"github.com/billingengine/engine/internal/audit"
	"github.com/billingengine/engine/invoices"
	"github.com/billingengine/engine/jobs"
	"github.com/billingengine/engine/payments"
	"github.com/billingengine/engine/payments/sandbox"
)

// voidCfg numbers credit notes as of a fixed day of 2026.
var voidCfg = &invoices.Config{Location: time.UTC, SellerCountry: "FR", VATRates: billing.DefaultVATRates(), Now: func() time.Time { return time.Date(2026, 11, 20, 9, 0, 0, 0, time.UTC) }}

func (tb *testBundle) void(t *testing.T, client *jobs.Client, number, reason string) *payments.Voided {
	t.Helper()
	v, err := jobs.VoidInvoice(context.Background(), tb.pool, client, voidCfg, invoices.VoidParams{Number: number, Reason: reason, RequestedBy: "test"}, time.Now())
	require.NoError(t, err)
	return v
}

// current returns the account's non-void invoice of the period.
func (tb *testBundle) current(t *testing.T, account, period string) *invoices.Invoice {
	t.Helper()
	list, err := payments.ListInvoices(context.Background(), tb.pool, invoices.ListParams{Period: period, AccountID: account})
	require.NoError(t, err)
	var out *invoices.Invoice
	for _, i := range list {
		if i.Status != invoices.StatusVoid {
			require.Nil(t, out, "two non-void invoices for %s %s", account, period)
			out = i
		}
	}
	require.NotNil(t, out, "no invoice for %s %s", account, period)
	return out
}

func (tb *testBundle) balance(t *testing.T, account string) string {
	t.Helper()
	var b string
	require.NoError(t, tb.pool.QueryRow(context.Background(), `SELECT credit_balance::text FROM accounts WHERE id = $1`, account).Scan(&b))
	return b
}

// requireAudit runs every audit check.
func requireAudit(t *testing.T, tb *testBundle) {
	t.Helper()
	rep, err := audit.Run(context.Background(), tb.pool, "")
	require.NoError(t, err)
	require.Empty(t, rep.Violations)
}

// Voiding a paid invoice: the invoice stays, with its number and PDF; a
// credit note cancels it; what was paid is credit; the period is billed
// again under a new number, and that credit pays it.
func TestVoidAndReissue(t *testing.T) {
	t.Parallel()
	tb := setup(t)
	tb.loadPayers(t)
	client := tb.startWorker(t)
	tb.run(t, client, "2026-10")
	tb.waitIdle(t)
	ctx := context.Background()

	old := tb.current(t, "visa", "2026-10")
	require.Equal(t, invoices.StatusPaid, old.Status)
	pdfBefore, err := invoices.LatestPDF(ctx, tb.pool, old.Number)
	require.NoError(t, err)

	v := tb.void(t, client, old.Number, "Usage billed twice")
	require.False(t, v.AlreadyVoid)
	require.Equal(t, invoices.StatusVoid, v.Invoice.Status)
	require.Equal(t, old.Number, v.Invoice.Number)
	require.Equal(t, "CN-2026-000001", v.CreditNote.Number)
	require.Equal(t, v.CreditNote.Number, v.Invoice.CreditNote)
	require.Equal(t, "-12.00", v.CreditNote.Total)
	require.Equal(t, "-10.00", v.CreditNote.Subtotal)
	require.Equal(t, "-2.00", v.CreditNote.Tax)
	require.Equal(t, "12.00", v.RefundedToCredit)
	require.Equal(t, "-10.00", v.CreditNote.Lines[0].Amount)
	require.Equal(t, "12.00", tb.balance(t, "visa"))
	tb.waitIdle(t)

	// The invoice kept its PDF, byte for byte; the credit note has its own.
	pdfAfter, err := invoices.LatestPDF(ctx, tb.pool, old.Number)
	require.NoError(t, err)
	require.Equal(t, pdfBefore.SHA256, pdfAfter.SHA256)
	require.Equal(t, pdfBefore.Version, pdfAfter.Version)
	cnPDF, err := invoices.LatestPDF(ctx, tb.pool, "CN-2026-000001")
	require.NoError(t, err)
	require.NotEmpty(t, cnPDF.Bytes)

	// Voiding again changes nothing.
	again := tb.void(t, client, old.Number, "another reason")
	require.True(t, again.AlreadyVoid)
	require.Equal(t, "CN-2026-000001", again.CreditNote.Number)
	require.Equal(t, "Usage billed twice", again.CreditNote.Reason)
	require.Equal(t, "12.00", tb.balance(t, "visa"))

	// The replacement: a new number, paid by the credit the void gave back.
	tb.run(t, client, "2026-10", "visa")
	tb.waitIdle(t)
	replacement := tb.current(t, "visa", "2026-10")
	require.NotEqual(t, old.Number, replacement.Number)
	require.Equal(t, "INV-2026-000009", replacement.Number, "the next number of the year")
	require.Equal(t, invoices.StatusPaid, replacement.Status)
	require.Equal(t, "12.00", replacement.CreditApplied)
	require.Equal(t, "0.00", tb.balance(t, "visa"))

	// An unpaid invoice: nothing to refund, and a queued collection of it
	// charges nothing.
	declined := tb.current(t, "declined", "2026-10")
	attemptsBefore := len(declined.Attempts)
	v = tb.void(t, client, declined.Number, "Customer left before the month started")
	require.Equal(t, "0.00", v.RefundedToCredit)
	require.Equal(t, "CN-2026-000002", v.CreditNote.Number)
	_, err = client.Insert(ctx, jobs.CollectInvoiceArgs{InvoiceNumber: declined.Number}, nil)
	require.NoError(t, err)
	tb.waitIdle(t)
	inv, err := payments.GetInvoice(ctx, tb.pool, declined.Number)
	require.NoError(t, err)
	require.Len(t, inv.Attempts, attemptsBefore)
	require.Equal(t, invoices.StatusVoid, inv.Status)

	// An invoice paid with prepaid credit gives the credit back.
	before := tb.balance(t, "prepaid")
	v = tb.void(t, client, tb.current(t, "prepaid", "2026-10").Number, "Wrong price")
	require.Equal(t, "12.00", v.RefundedToCredit)
	require.Equal(t, decimal.RequireFromString(before).Add(decimal.RequireFromString("12.00")).StringFixed(2), tb.balance(t, "prepaid"))

	tb.waitIdle(t)
	requireAudit(t, tb)
	requireBooksBalance(t, tb)
}

// gatedProcessor charges the sandbox; its first charge then reports a lost
// answer, and the resend waits for the gate.
type gatedProcessor struct {
	payments.Processor
	mu      sync.Mutex
	calls   int
	charged chan struct{}
	gate    chan struct{}
}

func (p *gatedProcessor) Charge(ctx context.Context, req payments.ChargeRequest) (payments.ChargeResult, error) {
	p.mu.Lock()
	p.calls++
	n := p.calls
	p.mu.Unlock()
	if n > 1 {
		<-p.gate
	}
	res, err := p.Processor.Charge(ctx, req)
	if n == 1 && err == nil {
		close(p.charged)
		return payments.ChargeResult{}, &payments.TechnicalError{Op: "charge", Reached: true, Err: errors.New("answer lost")}
	}
	return res, err
}

// A charge whose answer was lost is resent even once its invoice is void:
// the money it took is found and goes to prepaid credit.
func TestVoidWhileAChargeIsInFlight(t *testing.T) {
	t.Parallel()
	tb := setup(t)
	tb.load(t, "catalog", `{"resource":"c","description":"C","price_per_hour":"0.10","effective_from":"2026-01-01T00:00:00Z"}`)
	tb.load(t, "accounts", `{"id":"visa","name":"V","email":"v@example.test","country":"FR","created_at":"2026-01-01T00:00:00Z","payment_method":{"type":"card","id":"pm_card_visa"}}`)
	tb.load(t, "usage", `{"id":"u","account_id":"visa","app":"a","resource":"c","quantity":1,"started_at":"2026-10-01T00:00:00Z","ended_at":"2026-10-05T04:00:00Z"}`)
	proc := &gatedProcessor{Processor: &sandbox.Processor{Pool: tb.pool}, charged: make(chan struct{}), gate: make(chan struct{})}
	tb.cfg.Processor = proc
	client := tb.startWorker(t)
	tb.run(t, client, "2026-10")
	select {
	case <-proc.charged:
	case <-time.After(30 * time.Second):
		t.Fatal("no charge")
	}
	number := tb.invoices(t, "2026-10")["visa"].Number
	v := tb.void(t, client, number, "Test")
	require.Equal(t, "0.00", v.RefundedToCredit, "nothing was known to be paid yet")
	close(proc.gate)
	tb.waitIdle(t)

	inv, err := payments.GetInvoice(context.Background(), tb.pool, number)
	require.NoError(t, err)
	require.Equal(t, invoices.StatusVoid, inv.Status)
	require.Equal(t, "12.00", inv.AmountPaid, "the charge the processor made is recorded")
	require.Len(t, inv.Attempts, 1)
	require.Equal(t, "succeeded", inv.Attempts[0].Outcome)
	require.Equal(t, "12.00", tb.balance(t, "visa"), "and refunded to prepaid credit")
	var charges int
	require.NoError(t, tb.pool.QueryRow(context.Background(), `SELECT count(*) FROM sandbox_charges`).Scan(&charges))
	require.Equal(t, 1, charges, "resent with its key: charged once")
	requireAudit(t, tb)
}

// A SEPA debit in flight when its invoice is voided: if it settles, the
// money goes to credit; if it fails, nothing moves.
func TestVoidWhileADebitIsProcessing(t *testing.T) {
	t.Parallel()
	tb := setup(t)
	tb.loadPayers(t)
	tb.cfg.SandboxSEPADelay = 2 * time.Second
	client := tb.startWorker(t)
	tb.run(t, client, "2026-10")
	require.Eventually(t, func() bool {
		return tb.collected(t)["sepa"].status == "processing" && tb.collected(t)["sepafail"].status == "processing"
	}, 30*time.Second, 20*time.Millisecond)
	tb.void(t, client, tb.invoices(t, "2026-10")["sepa"].Number, "Test")
	tb.void(t, client, tb.invoices(t, "2026-10")["sepafail"].Number, "Test")
	tb.waitIdle(t)
	got := tb.collected(t)
	require.Equal(t, "void", got["sepa"].status)
	require.Equal(t, "12.00", got["sepa"].paid)
	require.Equal(t, "12.00", tb.balance(t, "sepa"))
	require.Equal(t, "void", got["sepafail"].status)
	require.Equal(t, "0.00", got["sepafail"].paid)
	require.Equal(t, "0.00", tb.balance(t, "sepafail"))
	requireAudit(t, tb)
}

const referralAccounts = `{"id":"boss","name":"Boss","email":"b@example.test","country":"FR","created_at":"2025-01-01T00:00:00Z","payment_method":{"type":"card","id":"pm_card_visa"}}
{"id":"r1","name":"R1","email":"r1@example.test","country":"FR","created_at":"2026-09-01T00:00:00Z","referred_by":"boss","payment_method":{"type":"card","id":"pm_card_visa"}}
{"id":"r2","name":"R2","email":"r2@example.test","country":"FR","created_at":"2026-09-01T00:00:00Z","referred_by":"boss","payment_method":{"type":"card","id":"pm_card_visa"}}
`

func hours(id, account string, start string, h int) string {
	s, err := time.Parse(time.RFC3339, start)
	if err != nil {
		panic(err)
	}
	return fmt.Sprintf(`{"id":%q,"account_id":%q,"app":"a","resource":"c","quantity":1,"started_at":%q,"ended_at":%q}`+"\n",
		id, account, start, s.Add(time.Duration(h)*time.Hour).Format(time.RFC3339))
}

// Voiding a referee's invoice takes back the reward it earned its
// referrer: from the referrer's credit as far as it goes, the rest on the
// referrer's next invoice. Voiding that invoice in turn moves the charge to
// the next one, and gives back the discount the invoice had given. Nothing
// is earned twice and nothing is lost.
func TestVoidTakesBackReferralRewards(t *testing.T) {
	t.Parallel()
	tb := setup(t)
	ctx := context.Background()
	tb.load(t, "catalog", `{"resource":"c","description":"C","price_per_hour":"1.00","effective_from":"2025-01-01T00:00:00Z"}`)
	tb.load(t, "accounts", referralAccounts)
	// October: boss 20.00, r1 20.00 (reward 4.00), r2 30.00 (reward 6.00).
	tb.load(t, "usage", hours("b-oct", "boss", "2026-10-01T00:00:00Z", 20)+hours("r1-oct", "r1", "2026-10-01T00:00:00Z", 20)+
		hours("r2-oct", "r2", "2026-10-01T00:00:00Z", 30))
	client := tb.startWorker(t)
	tb.run(t, client, "2026-10")
	tb.waitIdle(t)
	require.Equal(t, "sub=20.00 disc=10.00 rate=20 tax=2.00 total=12.00 [usage:a/c=20.00 referral:/r1=-4.00 referral:/r2=-6.00]",
		summary(tb.current(t, "boss", "2026-10")))
	require.NoError(t, pgx.BeginFunc(ctx, tb.pool, func(tx pgx.Tx) error {
		_, _, err := payments.AddEntry(ctx, tx, payments.NewEntry{AccountID: "boss", Kind: payments.EntryManualCredit,
			Amount: decimal.RequireFromString("1.50"), Reference: "goodwill"})
		return err
	}))

	// r1's October is voided: 1.50 comes out of boss's credit, 2.50 is
	// charged on its next invoice.
	v := tb.void(t, client, tb.current(t, "r1", "2026-10").Number, "Test account")
	require.Equal(t, []payments.Reversal{{ReferrerAccountID: "boss", RefereeAccountID: "r1", Amount: "4.00", FromCredit: "1.50", NextInvoice: "2.50"}}, v.Reversals)
	require.Equal(t, "24.00", v.RefundedToCredit)
	require.Equal(t, "0.00", tb.balance(t, "boss"))

	// A dry run of November shows the charge, as the run then bills it.
	tb.load(t, "usage", hours("b-nov", "boss", "2026-11-01T00:00:00Z", 5)+hours("r2-nov", "r2", "2026-11-01T00:00:00Z", 10))
	preview, err := invoices.DryRun(ctx, tb.pool, voidCfg, invoices.RunParams{Period: billing.MustPeriod("2026-11")})
	require.NoError(t, err)
	tb.run(t, client, "2026-11")
	tb.waitIdle(t)
	// boss: 5.00 of usage + 2.50 taken back = 7.50; r2's reward 2.00
	// (its usage only) discounts it; VAT 20 % of 5.50.
	nov := tb.current(t, "boss", "2026-11")
	require.Equal(t, "sub=7.50 disc=2.00 rate=20 tax=1.10 total=6.60 [usage:a/c=5.00 referral_reversal:/r1=2.50 referral:/r2=-2.00]", summary(nov))
	require.Equal(t, "sub=10.00 disc=0.00 rate=20 tax=2.00 total=12.00 [usage:a/c=10.00]", summary(tb.current(t, "r2", "2026-11")))
	requirePreviewMatches(t, tb, preview, "2026-11")

	// boss's November is voided: the discount r2 gave becomes credit, the
	// 2.50 is outstanding again, and the replacement charges it.
	v = tb.void(t, client, nov.Number, "Wrong usage")
	require.Equal(t, "2.00", v.DiscountCredited)
	require.Equal(t, "6.60", v.RefundedToCredit)
	require.Empty(t, v.Reversals)
	tb.run(t, client, "2026-11", "boss")
	tb.waitIdle(t)
	replacement := tb.current(t, "boss", "2026-11")
	require.Equal(t, "sub=7.50 disc=0.00 rate=20 tax=1.50 total=9.00 [usage:a/c=5.00 referral_reversal:/r1=2.50]", summary(replacement))
	require.Equal(t, "8.60", replacement.CreditApplied, "6.60 refunded + 2.00 discount, as credit")
	require.Equal(t, invoices.StatusPaid, replacement.Status)

	// r1's October billed again earns its reward again: boss is invoiced
	// for October already, so it is credit.
	tb.run(t, client, "2026-10", "r1")
	tb.waitIdle(t)
	require.Equal(t, "4.00", tb.balance(t, "boss"))

	// Over it all, boss was given r2's 6.00 (October discount) + 2.00
	// (November, as credit after the void) + r1's 4.00 (the replacement),
	// and r1's first 4.00 was taken back in full (1.50 credit + 2.50 line).
	var rewards, reversed, charged string
	require.NoError(t, tb.pool.QueryRow(ctx, `
		SELECT (SELECT sum(amount)::text FROM referral_rewards WHERE referrer_account_id = 'boss' AND state IN ('applied', 'credited')),
		       (SELECT sum(amount)::text FROM referral_reversals WHERE referrer_account_id = 'boss'),
		       (SELECT sum(l.amount)::text FROM invoice_referral_lines r JOIN invoices i ON i.id = r.invoice_id,
		            unnest(r.types, r.amounts) AS l(type, amount)
		        WHERE l.type = 'referral_reversal' AND i.status <> 'void')`).Scan(&rewards, &reversed, &charged))
	require.Equal(t, "16.00", rewards, "4.00 + 6.00 in October, 2.00 in November, 4.00 for r1's replacement")
	require.Equal(t, "4.00", reversed)
	require.Equal(t, "2.50", charged, "charged once on a live invoice")
	requireAudit(t, tb)
	requireBooksBalance(t, tb)
}

// A reward still pending (the referee is finalized, the referrer's draft
// not yet) is cancelled by voiding the referee: the referrer never gets it.
func TestVoidCancelsAPendingReward(t *testing.T) {
	t.Parallel()
	tb := setup(t)
	ctx := context.Background()
	tb.load(t, "catalog", `{"resource":"c","description":"C","price_per_hour":"1.00","effective_from":"2025-01-01T00:00:00Z"}`)
	// "a-ref" sorts before "z-boss": finalized first.
	tb.load(t, "accounts", `{"id":"z-boss","name":"Boss","email":"b@example.test","country":"FR","created_at":"2025-01-01T00:00:00Z"}
{"id":"a-ref","name":"R","email":"r@example.test","country":"FR","created_at":"2026-09-01T00:00:00Z","referred_by":"z-boss"}
`)
	tb.load(t, "usage", hours("b", "z-boss", "2026-10-01T00:00:00Z", 20)+hours("r", "a-ref", "2026-10-01T00:00:00Z", 20))
	cfg := voidCfg
	var runID int64
	require.NoError(t, pgx.BeginFunc(ctx, tb.pool, func(tx pgx.Tx) error {
		run, _, err := invoices.CreateRun(ctx, tx, invoices.RunParams{Period: billing.MustPeriod("2026-10"), RequestedBy: "test", Location: time.UTC})
		if err != nil {
			return err
		}
		runID = run.ID
		if _, err := invoices.PlanRun(ctx, tx, run.ID, 10); err != nil {
			return err
		}
		_, err = invoices.DraftShard(ctx, tx, cfg, run.ID, 0)
		return err
	}))
	finalizeOne := func() {
		require.NoError(t, pgx.BeginFunc(ctx, tb.pool, func(tx pgx.Tx) error {
			_, err := invoices.FinalizeChunk(ctx, tx, cfg, runID, 1)
			return err
		}))
	}
	finalizeOne()
	var state string
	require.NoError(t, tb.pool.QueryRow(ctx, `SELECT state FROM referral_rewards`).Scan(&state))
	require.Equal(t, "pending", state)
	require.NoError(t, pgx.BeginFunc(ctx, tb.pool, func(tx pgx.Tx) error {
		v, err := payments.Void(ctx, tx, cfg, invoices.VoidParams{Number: "INV-2026-000001", Reason: "test"}, time.Now())
		if err == nil {
			require.Empty(t, v.Reversals, "nothing was given, nothing is taken back")
		}
		return err
	}))
	finalizeOne()
	require.NoError(t, tb.pool.QueryRow(ctx, `SELECT state FROM referral_rewards`).Scan(&state))
	require.Equal(t, "void", state)
	boss, err := invoices.Get(ctx, tb.pool, "INV-2026-000002")
	require.NoError(t, err)
	require.Equal(t, "z-boss", boss.AccountID)
	require.Equal(t, "0.00", boss.Discount, "the cancelled reward discounts nothing")
	requireAudit(t, tb)
}

// requirePreviewMatches checks that a dry run foretold the period's
// invoices and referral credits exactly.
func requirePreviewMatches(t *testing.T, tb *testBundle, preview *invoices.Preview, period string) {
	t.Helper()
	ctx := context.Background()
	rows, err := tb.pool.Query(ctx, `SELECT id FROM billing_runs WHERE period = $1 ORDER BY id DESC LIMIT 1`, period)
	require.NoError(t, err)
	runIDs, err := pgx.CollectRows(rows, pgx.RowTo[int64])
	require.NoError(t, err)
	list, err := invoices.List(ctx, tb.pool, invoices.ListParams{Period: period})
	require.NoError(t, err)
	got := map[string]string{}
	for _, i := range list {
		if i.RunID == runIDs[0] {
			got[i.AccountID] = summary(i)
		}
	}
	want := map[string]string{}
	for _, p := range preview.Invoices {
		want[p.AccountID] = summary(&invoices.Invoice{Subtotal: p.Subtotal, Discount: p.Discount, TaxRate: p.TaxRate, Tax: p.Tax, Total: p.Total, Lines: p.Lines})
	}
	require.Equal(t, want, got)

	var credits []string
	rows, err = tb.pool.Query(ctx, `
		SELECT l.account_id || ' ' || l.amount FROM credit_ledger l JOIN billing_runs r ON r.id = $1
		WHERE l.kind = 'referral_reward' AND l.created_at >= r.created_at ORDER BY 1`, runIDs[0])
	require.NoError(t, err)
	credits, err = pgx.CollectRows(rows, pgx.RowTo[string])
	require.NoError(t, err)
	var predicted []string
	for _, c := range preview.Credits {
		predicted = append(predicted, c.AccountID+" "+c.Amount)
	}
	require.ElementsMatch(t, predicted, credits)
}
