// Package demo tells the engine's story on the bundled sample data, for
// `billing demo`. It lives apart from the commands so that it uses them only
// through what Config hands it (the worker configuration, the renderer, the
// credit and payment-method helpers), not through package main.
package demo

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/shopspring/decimal"

	"github.com/billingengine/engine/billing"
	"github.com/billingengine/engine/invoices"
	"github.com/billingengine/engine/jobs"
	"github.com/billingengine/engine/payments"
	"github.com/billingengine/engine/payments/paypal"

	"github.com/billingengine/engine/internal/audit"
	"github.com/billingengine/engine/internal/ingest"
	"github.com/billingengine/engine/internal/notify"
	"github.com/billingengine/engine/internal/platform/pgdb"
	"github.com/billingengine/engine/internal/sample"
)

// Config is what the demo takes from the command that runs it. The
// command has checked that no money can move: the processor and PayPal are
// the sandboxes, so the demo may buy credit, charge cards and move the
// clock.
type Config struct {
	Pool *pgxpool.Pool
	// Stdout tells the story; Stderr gets the in-process worker's warnings.
	Stdout, Stderr io.Writer
	// Worker is the process's worker configuration (BILLING_*, the
	// renderer, the processor), asked for once the data is imported. The
	// demo turns the monthly schedule off and logs only warnings.
	Worker func() (jobs.Config, error)
	// SEPADelaySet tells that SANDBOX_SEPA_DELAY was set: else the demo
	// settles SEPA debits after 2 s, long enough to see them processing.
	SEPADelaySet bool
	// Location is the billing time zone of the runs.
	Location *time.Location
	// Invoices configures the void that finance does.
	Invoices *invoices.Config
	// OutDir receives the PDFs (none when empty).
	OutDir string
	// MailDir is where BILLING_SMTP_URL=file://DIR writes the emails (""
	// when they go elsewhere or nowhere).
	MailDir string
	// AddCredit adds credit by hand, as `billing credit add` does.
	AddCredit func(ctx context.Context, client *jobs.Client, accountID string, kind payments.EntryKind, amount decimal.Decimal, ledgerRef, shownRef string) error
	// MethodsChanged does in tx what follows new payment methods, as
	// `billing accounts set-payment-method` does.
	MethodsChanged func(ctx context.Context, tx pgx.Tx, client *jobs.Client, accountIDs []string) error
	// WaitRun waits for a run to be done, as `billing run --wait` does.
	WaitRun func(ctx context.Context, runID int64) error
	// PrintInvoices lists invoices as `billing invoices list` does.
	PrintInvoices func(w io.Writer, invs []*invoices.Invoice) error
}

// Run tells the engine's story on the bundled sample data: it migrates
// the database, imports the sample files, bills each sample month through
// the job pipeline with an in-process worker and prints the invoices. It is
// safe to run twice: imports of identical lines change nothing and a rerun
// bills only what isn't billed.
func Run(ctx context.Context, c Config) error {
	pool, w := c.Pool, c.Stdout
	fmt.Fprintf(w, "== database %s\n", pgdb.Describe(pool))
	fmt.Fprintln(w, "== migrate")
	applied, err := pgdb.Migrate(ctx, pool)
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "   %d migrations applied\n", len(applied))

	fmt.Fprintln(w, "== import the sample data")
	for _, f := range sample.Files {
		r, err := sample.Open(f.Name)
		if err != nil {
			return err
		}
		o := ingest.Options{Name: f.Name, Report: func(p ingest.Problem) { fmt.Fprintln(w, p.String(f.Name)) }}
		var res *ingest.Result
		switch f.Kind {
		case "catalog":
			res, err = ingest.ImportCatalog(ctx, pool, r, o)
		case "accounts":
			res, err = ingest.ImportAccounts(ctx, pool, r, ingest.AccountsOptions{Options: o})
		case "usage":
			res, err = ingest.ImportUsage(ctx, pool, r, o)
		}
		_ = r.Close() // read only
		if err != nil {
			return err
		}
		printImport(w, res)
	}

	fmt.Fprintln(w, "== bill each month with an in-process worker")
	cfg, err := c.Worker()
	if err != nil {
		return err
	}
	cfg.Schedule = "" // the demo bills its own months
	cfg.Logger = slog.New(slog.NewTextHandler(c.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	if !c.SEPADelaySet {
		cfg.SandboxSEPADelay = 2 * time.Second // long enough to see SEPA debits processing
	}
	var hooks *demoReceiver
	if cfg.SuspensionWebhookURL == "" {
		// A receiver of our own shows the signed suspension webhooks.
		if hooks, err = startDemoReceiver(); err != nil {
			return err
		}
		defer hooks.close()
		cfg.SuspensionWebhookURL, cfg.SuspensionWebhookSecret = hooks.url, hooks.secret
	}
	client, err := jobs.NewClient(pool, cfg)
	if err != nil {
		return err
	}
	if err := client.Start(context.WithoutCancel(ctx)); err != nil {
		return err
	}
	defer func() {
		stopCtx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		_ = client.Stop(stopCtx)
	}()

	// Prepaid credit: bought by hand (finance) for one account, with PayPal
	// for another; both pay invoices before any card is charged.
	fmt.Fprintln(w, "   prepaid credit before billing: acc_prepaid 150.00 EUR (finance), acc_garage 40.00 EUR (PayPal)")
	if err := c.AddCredit(ctx, client, "acc_prepaid", payments.EntryManualCredit, decimal.NewFromInt(150), "manual:demo-prepaid", "demo-prepaid"); err != nil {
		return err
	}
	if err := buyDemoCredit(ctx, pool, client, "acc_garage", decimal.NewFromInt(40)); err != nil {
		return err
	}

	for _, period := range sample.Periods {
		p := billing.MustPeriod(period)
		run, _, err := jobs.StartRun(ctx, pool, client, invoices.RunParams{Period: p, RequestedBy: "demo", Location: c.Location})
		if err != nil {
			return err
		}
		if err := c.WaitRun(ctx, run.ID); err != nil {
			return err
		}
		// First collection attempts are done; SEPA debits are still processing.
		if err := jobs.WaitIdle(ctx, pool, 0, 100*time.Millisecond); err != nil {
			return err
		}
		run, err = invoices.GetRun(ctx, pool, run.ID)
		if err != nil {
			return err
		}
		fmt.Fprintf(w, "\n   %s: run %d issued %d invoices (%d accounts were not billed yet for the period)\n",
			period, run.ID, run.InvoicesFinalized, run.AccountsTotal)
		invs, err := payments.ListInvoices(ctx, pool, invoices.ListParams{Period: period})
		if err != nil {
			return err
		}
		if err := c.PrintInvoices(w, invs); err != nil {
			return err
		}
	}
	fmt.Fprintln(w, "\n== after the SEPA debits settle")
	if err := jobs.WaitIdle(ctx, pool, time.Minute, 100*time.Millisecond); err != nil {
		return err
	}
	if err := printCollection(ctx, w, pool); err != nil {
		return err
	}
	if err := printCredit(ctx, w, pool); err != nil {
		return err
	}
	// The processor is the sandbox (the command checked), whose clock is
	// the engine's: the dunning story can move it.
	if err := dunningStory(ctx, c, pool, client, hooks); err != nil {
		return err
	}
	if err := financeStory(ctx, c, pool, client); err != nil {
		return err
	}
	if err := writePDFs(ctx, w, pool, cfg.Renderer, c.OutDir); err != nil {
		return err
	}
	if err := printEmails(ctx, w, pool, c.MailDir); err != nil {
		return err
	}
	printNext(w, pool, c.OutDir)
	return nil
}

// printEmails waits for the story's emails to be sent and counts them by
// state: with BILLING_SMTP_URL=file://DIR (make demo) they are .eml files
// in DIR, one per (event, template).
func printEmails(ctx context.Context, w io.Writer, pool *pgxpool.Pool, dir string) error {
	if err := jobs.WaitIdle(ctx, pool, time.Minute, 100*time.Millisecond); err != nil {
		return err
	}
	ms, err := notify.Emails(ctx, pool, notify.EmailParams{})
	if err != nil {
		return err
	}
	byState := map[notify.EmailState]int{}
	for _, m := range ms {
		byState[m.State]++
	}
	fmt.Fprintf(w, "\n== %d customer emails: %d sent, %d pending, %d failed, %d unsent\n", len(ms), byState[notify.EmailSent],
		byState[notify.EmailPending], byState[notify.EmailFailed], byState[notify.EmailUnsent])
	switch {
	case dir != "":
		fmt.Fprintf(w, "   written to %s/ as .eml files (open them in a mail client); billing emails list shows them\n", dir)
	case byState[notify.EmailUnsent] > 0:
		fmt.Fprintln(w, "   recorded unsent: BILLING_SMTP_URL is not set (make demo sets file://out/mail)")
	}
	return nil
}

// financeStory fixes an invoice the way finance does: void it (a credit
// note cancels it, the payment becomes credit, the referral reward it earned
// is taken back), bill the account again, and audit the books.
func financeStory(ctx context.Context, c Config, pool *pgxpool.Pool, client *jobs.Client) error {
	w := c.Stdout
	const account, period = "acc_lisboa", "2026-09"
	var number string
	if err := pool.QueryRow(ctx, `SELECT number FROM invoices WHERE account_id = $1 AND period = $2 ORDER BY id LIMIT 1`, account, period).Scan(&number); err != nil {
		return err
	}
	fmt.Fprintf(w, "\n== finance voids %s (%s, %s; its referrer is acc_acme) and bills the month again\n", number, account, period)
	v, err := jobs.VoidInvoice(ctx, pool, client, c.Invoices, invoices.VoidParams{Number: number, Reason: "Usage of app shop imported twice", RequestedBy: "demo"}, time.Now())
	if err != nil {
		return err
	}
	if v.AlreadyVoid {
		fmt.Fprintf(w, "   %s was voided by an earlier demo (%s)\n", number, v.CreditNote.Number)
	} else {
		fmt.Fprintf(w, "   %s cancels it: total %s EUR; %s EUR paid on it is acc_lisboa's prepaid credit now\n", v.CreditNote.Number, v.CreditNote.Total, v.RefundedToCredit)
		for _, r := range v.Reversals {
			fmt.Fprintf(w, "   the %s EUR reward it earned %s is taken back: %s from credit, %s on its next invoice\n", r.Amount, r.ReferrerAccountID, r.FromCredit, r.NextInvoice)
		}
	}
	run, _, err := jobs.StartRun(ctx, pool, client, invoices.RunParams{Period: billing.MustPeriod(period), AccountIDs: []string{account}, RequestedBy: "demo", Location: c.Location})
	if err != nil {
		return err
	}
	if err := c.WaitRun(ctx, run.ID); err != nil {
		return err
	}
	if err := jobs.WaitIdle(ctx, pool, time.Minute, 100*time.Millisecond); err != nil {
		return err
	}
	invs, err := payments.ListInvoices(ctx, pool, invoices.ListParams{Period: period, AccountID: account})
	if err != nil {
		return err
	}
	if err := c.PrintInvoices(w, invs); err != nil {
		return err
	}
	rep, err := audit.Snapshot(ctx, pool, "")
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "\n== billing audit: %d invariants checked, %d violations\n", len(rep.Checks), len(rep.Violations))
	for _, v := range rep.Violations {
		fmt.Fprintln(w, "  ", v)
	}
	if len(rep.Violations) > 0 {
		return fmt.Errorf("the books don't balance")
	}
	return nil
}

// printNext says what to try on the demo's database once it is done.
func printNext(w io.Writer, pool *pgxpool.Pool, outDir string) {
	fmt.Fprintf(w, "\n== what to try next, on this database (%s):\n", pgdb.Describe(pool))
	fmt.Fprintln(w, "   export DATABASE_URL=$(scripts/pg-url --db "+pool.Config().ConnConfig.Database+") BILLING_PROCESSOR=sandbox BILLING_PAYPAL=sandbox")
	for _, l := range []string{
		"bin/billing invoices list --status open            # the unpaid invoices (JSON when piped)",
		"bin/billing accounts list --status suspended",
		"bin/billing receivables                            # what customers owe, by age",
		"bin/billing reports vat --period $(date +%Y-%m)     # the VAT of this month's invoices",
		"bin/billing reports journal --period $(date +%Y-%m) -o FEC.txt",
		"bin/billing accounts timeline acc_lisboa           # one account's story",
		"bin/billing audit",
		"bin/billing tokens create --name me --scope finance  # then: bin/billing worker --http 8080",
	} {
		fmt.Fprintln(w, "   "+l)
	}
	if outDir != "" {
		fmt.Fprintf(w, "   open %s/ to read the PDFs\n", outDir)
	}
}

// writePDFs writes every invoice's PDF, as stored (or drawn by r), into
// dir.
func writePDFs(ctx context.Context, w io.Writer, pool *pgxpool.Pool, r *invoices.Renderer, dir string) error {
	if dir == "" {
		return nil
	}
	if err := jobs.WaitIdle(ctx, pool, time.Minute, 100*time.Millisecond); err != nil {
		return err
	}
	invs, err := invoices.List(ctx, pool, invoices.ListParams{})
	if err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	numbers := make([]string, 0, len(invs))
	for _, inv := range invs {
		numbers = append(numbers, inv.Number)
		if inv.CreditNote != "" {
			numbers = append(numbers, inv.CreditNote)
		}
	}
	for _, n := range numbers {
		p, err := r.EnsurePDF(ctx, pool, n)
		if err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(dir, n+".pdf"), p.Bytes, 0o644); err != nil {
			return err
		}
	}
	fmt.Fprintf(w, "\n== %d invoice and %d credit note PDFs written to %s/\n", len(invs), len(numbers)-len(invs), dir)
	return nil
}

// dunningStory follows one account whose card always declines through the
// simulated days after its October invoice: a retry a day, suspension
// after the fifth, then a new card that pays at once and reactivates it.
func dunningStory(ctx context.Context, c Config, pool *pgxpool.Pool, client *jobs.Client, hooks *demoReceiver) error {
	w := c.Stdout
	const account = "acc_bistro"
	var number string
	var t0 time.Time
	if err := pool.QueryRow(ctx, `SELECT number, issued_at FROM invoices WHERE account_id = $1 AND period = '2026-10'`, account).Scan(&number, &t0); err != nil {
		return err
	}
	fmt.Fprintf(w, "\n== dunning: %s, whose card always declines (invoice %s, issued %s)\n", account, number, t0.Format(time.RFC3339))
	state := func() (string, string, error) {
		var status, last string
		err := pool.QueryRow(ctx, `
			SELECT a.status, coalesce((SELECT pa.state || ' (' || pa.code || '), attempt ' || pa.attempt FROM payment_attempts pa
			                           JOIN invoices i ON i.id = pa.invoice_id WHERE i.number = $2 ORDER BY pa.attempt DESC LIMIT 1), '-')
			FROM accounts a WHERE a.id = $1`, account, number).Scan(&status, &last)
		return status, last, err
	}
	status, last, err := state()
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "   day 0  first attempt at issue: %-38s account %s\n", last, status)
	for d := 1; d <= 6; d++ {
		now := t0.Add(time.Duration(d) * 24 * time.Hour)
		if _, err := jobs.RunDunningPass(ctx, pool, client, now, true); err != nil {
			return err
		}
		if err := jobs.WaitIdle(ctx, pool, time.Minute, 100*time.Millisecond); err != nil {
			return err
		}
		status, last, err = state()
		if err != nil {
			return err
		}
		fmt.Fprintf(w, "   day %d  billing dunning run --now %s: %-22s account %s\n", d, now.Format("2006-01-02T15:04Z"), last, status)
	}
	fmt.Fprintf(w, "   the customer adds a new card: billing accounts set-payment-method %s --type card --id pm_card_visa\n", account)
	err = pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		changed, err := payments.SetMethods(ctx, tx, []payments.MethodChange{{AccountID: account, Method: payments.Method{Type: payments.MethodCard, ID: "pm_card_visa"}}})
		if err != nil {
			return err
		}
		return c.MethodsChanged(ctx, tx, client, changed)
	})
	if err != nil {
		return err
	}
	if err := jobs.WaitIdle(ctx, pool, time.Minute, 100*time.Millisecond); err != nil {
		return err
	}
	status, last, err = state()
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "   at once: %s; account %s\n", last, status)
	if hooks != nil {
		for _, h := range hooks.received() {
			fmt.Fprintf(w, "   webhook received (signature %s): %s\n", h.verdict, h.body)
		}
	}
	return nil
}

// buyDemoCredit buys credit with the PayPal sandbox, captured at once.
func buyDemoCredit(ctx context.Context, pool *pgxpool.Pool, client *jobs.Client, account string, amount decimal.Decimal) error {
	purchase, err := paypal.Buy(ctx, pool, paypal.Sandbox{}, account, amount, billing.DefaultCreditPurchaseMax)
	if err != nil {
		return err
	}
	c, err := paypal.CaptureOrder(ctx, paypal.Sandbox{}, purchase.OrderID)
	if err != nil {
		return err
	}
	return pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		captured, err := paypal.RecordCapture(ctx, tx, c, time.Now())
		if err == nil {
			_, err = jobs.Enqueue(ctx, tx, client, captured.Effects)
		}
		return err
	})
}

// printCollection summarises how the invoices were paid.
func printCollection(ctx context.Context, w io.Writer, pool *pgxpool.Pool) error {
	rows, err := pool.Query(ctx, `
		SELECT i.status,
		       CASE WHEN i.credit_applied = i.total AND i.total > 0 THEN 'prepaid credit'
		            WHEN i.total = 0 THEN 'nothing to pay'
		            ELSE coalesce((SELECT pa.method || ' ' || pa.state || CASE WHEN pa.code <> '' THEN ' (' || pa.code || ')' ELSE '' END
		                           FROM payment_attempts pa WHERE pa.invoice_id = i.id ORDER BY pa.attempt DESC LIMIT 1),
		                          'no payment method') END AS how,
		       count(*), string_agg(i.account_id, ' ' ORDER BY i.account_id)
		FROM invoices i WHERE i.status <> 'draft'
		GROUP BY 1, 2 ORDER BY 1, 2`)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var status, how, accounts string
		var n int
		if err := rows.Scan(&status, &how, &n, &accounts); err != nil {
			return err
		}
		if len(accounts) > 60 {
			accounts = accounts[:57] + "..."
		}
		fmt.Fprintf(w, "   %-7s %-40s %3d  %s\n", status, how, n, accounts)
	}
	return rows.Err()
}

// printCredit shows the prepaid credit left: referral rewards, purchases.
func printCredit(ctx context.Context, w io.Writer, pool *pgxpool.Pool) error {
	rows, err := pool.Query(ctx, `SELECT id, credit_balance FROM accounts WHERE credit_balance > 0 ORDER BY id`)
	if err != nil {
		return err
	}
	defer rows.Close()
	fmt.Fprintln(w, "\n== prepaid credit")
	for rows.Next() {
		var id string
		var bal decimal.Decimal
		if err := rows.Scan(&id, &bal); err != nil {
			return err
		}
		fmt.Fprintf(w, "   %-16s %10s EUR\n", id, billing.FormatMoney(bal))
	}
	return rows.Err()
}

func printImport(w io.Writer, r *ingest.Result) {
	fmt.Fprintf(w, "   %-22s %-8s %4d lines: %d inserted, %d updated, %d unchanged\n",
		r.File, r.Kind, r.Lines, r.Inserted, r.Updated, r.Unchanged)
}

// demoReceiver is a webhook receiver for the demo: it checks signatures
// the way a customer's service would.
type demoReceiver struct {
	url, secret string
	srv         *http.Server
	mu          sync.Mutex
	hooks       []receivedHook
}

type receivedHook struct{ verdict, body string }

func startDemoReceiver() (*demoReceiver, error) {
	ln, err := new(net.ListenConfig).Listen(context.Background(), "tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	r := &demoReceiver{url: "http://" + ln.Addr().String() + "/hooks", secret: "demo-webhook-secret"}
	r.srv = &http.Server{ReadHeaderTimeout: 5 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		sig := req.Header.Get(notify.SuspensionSignatureHeader)
		ts, _, _ := strings.Cut(strings.TrimPrefix(sig, "t="), ",")
		verdict := "INVALID"
		if sec, err := strconv.ParseInt(ts, 10, 64); err == nil && notify.SignSuspension(r.secret, body, time.Unix(sec, 0)) == sig {
			verdict = "valid"
		}
		r.mu.Lock()
		r.hooks = append(r.hooks, receivedHook{verdict, strings.TrimSpace(string(body))})
		r.mu.Unlock()
	})}
	go func() { _ = r.srv.Serve(ln) }()
	return r, nil
}

func (r *demoReceiver) received() []receivedHook {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]receivedHook(nil), r.hooks...)
}

func (r *demoReceiver) close() { _ = r.srv.Close() }
