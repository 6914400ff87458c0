package jobs_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/billingengine/engine/billing"
	"github.com/billingengine/engine/internal/dbtest"
	"github.com/billingengine/engine/internal/ingest"
	"github.com/billingengine/engine/invoices"
	"github.com/billingengine/engine/jobs"
	"github.com/billingengine/engine/payments/sandbox"
)

type testBundle struct {
	db   *dbtest.DB
	pool *pgxpool.Pool
	cfg  jobs.Config
}

func setup(t *testing.T) *testBundle {
	t.Helper()
	db := dbtest.New(t)
	// The sandbox settles its SEPA debits even when a test wraps it as
	// Processor (with faults, a gate), as cmd wires it.
	sb := &sandbox.Processor{Pool: db.Pool}
	return &testBundle{db: db, pool: db.Pool, cfg: jobs.Config{
		ShardSize: 2, FinalizeChunk: 2, TestOnly: true, RetryMax: time.Second,
		Logger:    slog.New(slog.NewTextHandler(io.Discard, nil)),
		Processor: sb, Settler: sb,
	}}
}

func (tb *testBundle) load(t *testing.T, kind, ndjson string) {
	t.Helper()
	ctx := context.Background()
	o := ingest.Options{Name: kind, Report: func(p ingest.Problem) { t.Errorf("%s:%d: %s", kind, p.Line, p.Message) }}
	var err error
	r := strings.NewReader(ndjson)
	switch kind {
	case "catalog":
		_, err = ingest.ImportCatalog(ctx, tb.pool, r, o)
	case "accounts":
		_, err = ingest.ImportAccounts(ctx, tb.pool, r, ingest.AccountsOptions{Options: o})
	case "usage":
		_, err = ingest.ImportUsage(ctx, tb.pool, r, o)
	}
	require.NoError(t, err)
}

// startWorker starts a worker client on the bundle's database.
func (tb *testBundle) startWorker(t *testing.T) *jobs.Client {
	t.Helper()
	client, err := jobs.NewClient(tb.pool, tb.cfg)
	require.NoError(t, err)
	require.NoError(t, client.Start(context.Background()))
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = client.Stop(ctx)
	})
	return client
}

// run bills period (for accounts, or all) and waits for the run to finish.
func (tb *testBundle) run(t *testing.T, client *jobs.Client, period string, accounts ...string) *invoices.Run {
	t.Helper()
	ctx := context.Background()
	var ids []string
	if len(accounts) > 0 {
		ids = accounts
	}
	run, _, err := jobs.StartRun(ctx, tb.pool, client, invoices.RunParams{Period: billing.MustPeriod(period), AccountIDs: ids, RequestedBy: "test", Location: time.UTC})
	require.NoError(t, err)
	return tb.waitRun(t, run.ID)
}

func (tb *testBundle) waitRun(t *testing.T, id int64) *invoices.Run {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		r, err := invoices.GetRun(context.Background(), tb.pool, id)
		require.NoError(t, err)
		if r.State == invoices.RunCompleted {
			return r
		}
		failed, err := jobs.RunFailures(context.Background(), tb.pool, id)
		require.NoError(t, err)
		require.Empty(t, failed)
		require.True(t, time.Now().Before(deadline), "run %d still %s", id, r.State)
		time.Sleep(50 * time.Millisecond)
	}
}

func (tb *testBundle) invoices(t *testing.T, period string) map[string]*invoices.Invoice {
	t.Helper()
	list, err := invoices.List(context.Background(), tb.pool, invoices.ListParams{Period: period})
	require.NoError(t, err)
	out := map[string]*invoices.Invoice{}
	for _, i := range list {
		require.NotContains(t, out, i.AccountID, "two invoices for %s", i.AccountID)
		out[i.AccountID] = i
	}
	return out
}

// requireGapless checks that the year's numbers are 1..n without a hole.
func requireGapless(t *testing.T, pool *pgxpool.Pool) {
	t.Helper()
	rows, err := pool.Query(context.Background(), `SELECT number FROM invoices WHERE number IS NOT NULL ORDER BY number`)
	require.NoError(t, err)
	var numbers []string
	for rows.Next() {
		var n string
		require.NoError(t, rows.Scan(&n))
		numbers = append(numbers, n)
	}
	require.NoError(t, rows.Err())
	for i, n := range numbers {
		require.Equal(t, fmt.Sprintf("INV-2026-%06d", i+1), n)
	}
}

// The contract's worked example (three accounts, hand-computed to the cent).
const (
	smokeCatalog = `{"resource":"container:M","description":"M container","price_per_hour":"0.0278","effective_from":"2026-01-01T00:00:00Z"}
{"resource":"container:M","description":"M container","price_per_hour":"0.0300","effective_from":"2026-10-16T00:00:00Z"}
{"resource":"addon:redis","description":"Redis addon","price_per_hour":"0.0069","effective_from":"2026-01-01T00:00:00Z"}
`
	smokeAccounts = `{"id":"a1","name":"Zoë Dupont SARL","email":"a1@example.test","country":"FR","created_at":"2026-01-10T09:00:00Z","payment_method":{"type":"card","id":"pm_card_visa"}}
{"id":"a2","name":"Müller GmbH","email":"a2@example.test","country":"DE","vat_number":"DE811569869","created_at":"2026-06-15T12:00:00Z","referred_by":"a1"}
{"id":"a3","name":"Ωmega Inc","email":"a3@example.test","country":"US","created_at":"2026-02-01T00:00:00Z","payment_method":{"type":"sepa_debit","id":"pm_sepa_debit_success"}}
`
	smokeUsage = `{"id":"s1","account_id":"a1","app":"web","resource":"container:M","quantity":2,"started_at":"2026-10-14T00:00:00Z","ended_at":"2026-10-18T00:00:00Z"}
{"id":"s2","account_id":"a1","app":"web","resource":"addon:redis","quantity":1,"started_at":"2026-09-01T00:00:00Z","ended_at":null}
{"id":"s3","account_id":"a2","app":"api","resource":"container:M","quantity":1,"started_at":"2026-10-01T00:00:00Z","ended_at":"2026-11-05T00:00:00Z"}
{"id":"s4","account_id":"a3","app":"w","resource":"container:M","quantity":3,"started_at":"2026-10-31T23:00:00Z","ended_at":"2026-11-01T02:00:00Z"}
{"id":"s5","account_id":"a3","app":"w","resource":"container:M","quantity":1,"started_at":"2026-10-10T00:00:00Z","ended_at":"2026-10-10T00:00:10Z"}
`
)

func (tb *testBundle) loadSmoke(t *testing.T) {
	tb.load(t, "catalog", smokeCatalog)
	tb.load(t, "accounts", smokeAccounts)
	tb.load(t, "usage", smokeUsage)
}

func summary(i *invoices.Invoice) string {
	var lines []string
	for _, l := range i.Lines {
		lines = append(lines, fmt.Sprintf("%s:%s/%s%s=%s", l.Type, l.App, l.Resource, l.RefereeAccountID, l.Amount))
	}
	return fmt.Sprintf("sub=%s disc=%s rate=%s tax=%s total=%s [%s]", i.Subtotal, i.Discount, i.TaxRate, i.Tax, i.Total, strings.Join(lines, " "))
}

func TestRunContractExample(t *testing.T) {
	t.Parallel()
	tb := setup(t)
	tb.loadSmoke(t)
	client := tb.startWorker(t)
	run := tb.run(t, client, "2026-10")
	require.Equal(t, 3, run.InvoicesFinalized)

	got := tb.invoices(t, "2026-10")
	require.Equal(t, "sub=10.68 disc=4.31 rate=20 tax=1.27 total=7.64 [usage:web/addon:redis=5.13 usage:web/container:M=5.55 referral:/a2=-4.31]", summary(got["a1"]))
	require.Equal(t, "sub=21.53 disc=0.00 rate=0 tax=0.00 total=21.53 [usage:api/container:M=21.53]", summary(got["a2"]))
	require.Equal(t, "sub=0.09 disc=0.00 rate=0 tax=0.00 total=0.09 [usage:w/container:M=0.09]", summary(got["a3"]))
	require.Equal(t, "744.000000", got["a2"].Lines[0].Hours)
	require.Equal(t, "3.002778", got["a3"].Lines[0].Hours)
	// Collection runs on its own jobs: once they are done, a3's SEPA debit
	// (settled at once in the sandbox) has paid its total.
	tb.waitIdle(t)
	a3 := tb.invoices(t, "2026-10")["a3"]
	require.Equal(t, "0.00", a3.AmountDue)
	require.Equal(t, "0.09", a3.AmountPaid)
	requireGapless(t, tb.pool)

	var treatment, mention, buyer string
	require.NoError(t, tb.pool.QueryRow(context.Background(),
		`SELECT vat_treatment, vat_mention, buyer_name FROM invoices WHERE account_id = 'a2'`).Scan(&treatment, &mention, &buyer))
	require.Equal(t, "reverse_charge Reverse charge Müller GmbH", treatment+" "+mention+" "+buyer)
}

func TestRerunBillsOnlyWhatIsNotBilled(t *testing.T) {
	t.Parallel()
	tb := setup(t)
	tb.loadSmoke(t)
	client := tb.startWorker(t)

	run := tb.run(t, client, "2026-10", "a3")
	require.Equal(t, 1, run.InvoicesFinalized)
	first := tb.invoices(t, "2026-10")
	require.Len(t, first, 1)

	run = tb.run(t, client, "2026-10")
	require.Equal(t, 2, run.AccountsTotal, "a3 is billed already")
	require.Equal(t, 2, run.InvoicesFinalized)
	all := tb.invoices(t, "2026-10")
	require.Len(t, all, 3)
	require.Equal(t, summary(first["a3"]), summary(all["a3"]), "a finalized invoice is never rewritten")
	require.Equal(t, first["a3"].Number, all["a3"].Number)

	run = tb.run(t, client, "2026-10")
	require.Equal(t, 0, run.AccountsTotal)
	require.Equal(t, 0, run.InvoicesFinalized)
	require.Len(t, tb.invoices(t, "2026-10"), 3)
	requireGapless(t, tb.pool)

	// September: only the running redis addon of a1 (720 h × 0.0069 = 4.968).
	run = tb.run(t, client, "2026-09")
	require.Equal(t, 1, run.InvoicesFinalized)
	require.Equal(t, "4.97", tb.invoices(t, "2026-09")["a1"].Subtotal)
	requireGapless(t, tb.pool)
}

func TestFinalizedInvoicesAreDocuments(t *testing.T) {
	t.Parallel()
	tb := setup(t)
	tb.loadSmoke(t)
	tb.run(t, tb.startWorker(t), "2026-10")
	ctx := context.Background()
	for _, stmt := range []string{
		`UPDATE invoices SET total = total + 1, tax = tax + 1 WHERE account_id = 'a1'`,
		`UPDATE invoices SET number = 'INV-2026-000099' WHERE account_id = 'a1'`,
		`UPDATE invoices SET status = 'draft', number = NULL WHERE account_id = 'a1'`,
		`DELETE FROM invoices WHERE account_id = 'a1'`,
		`INSERT INTO invoices (account_id, period, period_start, period_end, run_id, subtotal) SELECT 'a1', '2026-10', '2026-10-01Z', '2026-11-01Z', 1, 1`,
		`UPDATE credit_ledger SET amount = 1`,
	} {
		_, err := tb.pool.Exec(ctx, stmt)
		require.Error(t, err, stmt)
	}
}

func TestReferralRewards(t *testing.T) {
	t.Parallel()
	tb := setup(t)
	tb.load(t, "catalog", `{"resource":"c","description":"C","price_per_hour":"1.00","effective_from":"2025-01-01T00:00:00Z"}`)
	tb.load(t, "accounts", `{"id":"boss","name":"Boss","email":"b@example.test","country":"FR","created_at":"2025-01-01T00:00:00Z"}
{"id":"ghost","name":"Ghost","email":"g@example.test","country":"FR","created_at":"2025-01-02T00:00:00Z"}
{"id":"r12","name":"R12","email":"r12@example.test","country":"FR","created_at":"2025-11-20T00:00:00Z","referred_by":"boss"}
{"id":"r13","name":"R13","email":"r13@example.test","country":"FR","created_at":"2025-10-20T00:00:00Z","referred_by":"boss"}
{"id":"rbig","name":"Rbig","email":"rbig@example.test","country":"FR","created_at":"2026-10-05T00:00:00Z","referred_by":"boss"}
{"id":"rg","name":"RG","email":"rg@example.test","country":"DE","created_at":"2026-09-01T00:00:00Z","referred_by":"ghost"}
`)
	// Hours at 1.00: boss 10, r12 20, r13 30, rbig 100, rg 7 (ghost has none).
	tb.load(t, "usage", `{"id":"u1","account_id":"boss","app":"a","resource":"c","quantity":1,"started_at":"2026-10-01T00:00:00Z","ended_at":"2026-10-01T10:00:00Z"}
{"id":"u2","account_id":"r12","app":"a","resource":"c","quantity":1,"started_at":"2026-10-01T00:00:00Z","ended_at":"2026-10-01T20:00:00Z"}
{"id":"u3","account_id":"r13","app":"a","resource":"c","quantity":1,"started_at":"2026-10-01T00:00:00Z","ended_at":"2026-10-02T06:00:00Z"}
{"id":"u4","account_id":"rbig","app":"a","resource":"c","quantity":1,"started_at":"2026-10-06T00:00:00Z","ended_at":"2026-10-10T04:00:00Z"}
{"id":"u5","account_id":"rg","app":"a","resource":"c","quantity":1,"started_at":"2026-10-01T00:00:00Z","ended_at":"2026-10-01T07:00:00Z"}
`)
	tb.run(t, tb.startWorker(t), "2026-10")
	got := tb.invoices(t, "2026-10")
	require.Len(t, got, 5, "ghost has no usage, hence no invoice")

	// boss: r12 is in its 12th referral period (20.00 × 20 % = 4.00), r13
	// in its 13th (nothing), rbig in its 1st (20.00): 24.00 against a
	// subtotal of 10.00, so 10.00 discount and 14.00 carried to credit.
	require.Equal(t, "sub=10.00 disc=10.00 rate=20 tax=0.00 total=0.00 [usage:a/c=10.00 referral:/r12=-4.00 referral:/rbig=-20.00 referral_carryover:/=14.00]", summary(got["boss"]))
	require.Equal(t, "sub=7.00 disc=0.00 rate=19 tax=1.33 total=8.33 [usage:a/c=7.00]", summary(got["rg"]), "OSS: German rate without a VAT number")

	ctx := context.Background()
	var balance string
	require.NoError(t, tb.pool.QueryRow(ctx, `SELECT credit_balance::text FROM accounts WHERE id = 'boss'`).Scan(&balance))
	require.Equal(t, "14.00", balance)
	// ghost earned 7.00 × 20 % = 1.40 but has no invoice: all of it is credit.
	require.NoError(t, tb.pool.QueryRow(ctx, `SELECT credit_balance::text FROM accounts WHERE id = 'ghost'`).Scan(&balance))
	require.Equal(t, "1.40", balance)
	var kinds string
	require.NoError(t, tb.pool.QueryRow(ctx, `SELECT string_agg(account_id || ':' || reference, ' ' ORDER BY id) FROM credit_ledger`).Scan(&kinds))
	require.Contains(t, kinds, "boss:referral_carryover:"+got["boss"].Number)
	require.Contains(t, kinds, "ghost:referral_reward:")

	var states string
	require.NoError(t, tb.pool.QueryRow(ctx, `SELECT string_agg(referee_account_id || '=' || state, ' ' ORDER BY referee_account_id) FROM referral_rewards`).Scan(&states))
	require.Equal(t, "r12=applied rbig=applied rg=credited", states)
}

func TestReferrerBilledInALaterRun(t *testing.T) {
	t.Parallel()
	tb := setup(t)
	tb.loadSmoke(t)
	client := tb.startWorker(t)
	// The referee first: its referrer a1 has no draft, so the reward goes
	// straight to a1's credit; a1's own invoice later gets no discount.
	tb.run(t, client, "2026-10", "a2")
	tb.run(t, client, "2026-10", "a1")
	got := tb.invoices(t, "2026-10")
	require.Equal(t, "sub=10.68 disc=0.00 rate=20 tax=2.14 total=12.82 [usage:web/addon:redis=5.13 usage:web/container:M=5.55]", summary(got["a1"]))
	tb.waitIdle(t)
	var reward, applied string
	require.NoError(t, tb.pool.QueryRow(context.Background(), `
		SELECT (SELECT amount::text FROM credit_ledger WHERE account_id = 'a1' AND kind = 'referral_reward'),
		       (SELECT credit_applied::text FROM invoices WHERE account_id = 'a1')`).Scan(&reward, &applied))
	require.Equal(t, "4.31", reward, "the reward went to credit")
	require.Equal(t, "4.31", applied, "and the credit paid a1's invoice first")
}

// A run shared by two worker processes gives the invoices one worker gives.
func TestTwoWorkersShareARun(t *testing.T) {
	t.Parallel()
	var catalog, accounts, usage strings.Builder
	catalog.WriteString(smokeCatalog)
	for i := range 60 {
		ref := ""
		if i%5 == 4 {
			ref = fmt.Sprintf(`,"referred_by":"acc%02d"`, i-1)
		}
		country := []string{"FR", "DE", "US", "BE"}[i%4]
		fmt.Fprintf(&accounts, `{"id":"acc%02d","name":"Account %d","email":"a%d@example.test","country":"%s","created_at":"%s"%s}`+"\n",
			i, i, i, country, time.Date(2026, 1, 1+i, 0, 0, 0, 0, time.UTC).Format(time.RFC3339), ref)
		for j := range 4 {
			start := time.Date(2026, 9, 20+j, i%24, 0, 0, 0, time.UTC)
			fmt.Fprintf(&usage, `{"id":"s%d-%d","account_id":"acc%02d","app":"app%d","resource":"container:M","quantity":%d,"started_at":"%s","ended_at":"%s"}`+"\n",
				i, j, i, j%2, 1+j, start.Format(time.RFC3339), start.Add(time.Duration(24*(i+j+1))*time.Hour).Format(time.RFC3339))
		}
	}
	results := make([]map[string]string, 2)
	for k, workers := range []int{1, 2} {
		tb := setup(t)
		tb.cfg.ShardSize = 7
		tb.cfg.FinalizeChunk = 9
		tb.load(t, "catalog", catalog.String())
		tb.load(t, "accounts", accounts.String())
		tb.load(t, "usage", usage.String())
		var client *jobs.Client
		for range workers {
			client = tb.startWorker(t)
		}
		tb.run(t, client, "2026-10")
		results[k] = map[string]string{}
		for acc, inv := range tb.invoices(t, "2026-10") {
			results[k][acc] = summary(inv)
		}
		requireGapless(t, tb.pool)
	}
	require.Len(t, results[0], 56, "acc00 to acc03 stop using their apps in September")
	require.Equal(t, results[0], results[1])
}

func TestScheduledRunIsUniquePerPeriod(t *testing.T) {
	t.Parallel()
	tb := setup(t)
	tb.loadSmoke(t)
	client := tb.startWorker(t)
	ctx := context.Background()
	// Two leaders fire the schedule for the same month.
	for range 2 {
		_, err := client.Insert(ctx, jobs.BillingRunArgs{Period: "2026-10", Scheduled: true}, nil)
		require.NoError(t, err)
	}
	require.NoError(t, jobs.WaitIdle(ctx, tb.pool, time.Minute, 50*time.Millisecond))
	var runs, keyed int
	require.NoError(t, tb.pool.QueryRow(ctx, `SELECT count(*), count(schedule_key) FROM billing_runs`).Scan(&runs, &keyed))
	require.Equal(t, 1, runs)
	require.Equal(t, 1, keyed)
	require.Len(t, tb.invoices(t, "2026-10"), 3)
}

func TestUsageIntoInvoicedPeriodIsRefused(t *testing.T) {
	t.Parallel()
	tb := setup(t)
	tb.loadSmoke(t)
	tb.run(t, tb.startWorker(t), "2026-10", "a1", "a2")
	ctx := context.Background()
	imp := func(kind, line string) []string {
		var problems []string
		o := ingest.Options{Name: kind, Report: func(p ingest.Problem) { problems = append(problems, p.Message) }}
		var err error
		if kind == "usage" {
			_, err = ingest.ImportUsage(ctx, tb.pool, strings.NewReader(line), o)
		} else {
			_, err = ingest.ImportCatalog(ctx, tb.pool, strings.NewReader(line), o)
		}
		if len(problems) == 0 {
			require.NoError(t, err)
		}
		return problems
	}
	number := tb.invoices(t, "2026-10")["a1"].Number

	p := imp("usage", `{"id":"n1","account_id":"a1","app":"web","resource":"container:M","quantity":1,"started_at":"2026-10-30T00:00:00Z","ended_at":"2026-11-02T00:00:00Z"}`)
	require.Equal(t, []string{"usage inside a period already invoiced for a1: 2026-10 (" + number + ")"}, p)
	// a3 isn't invoiced yet: its October is open.
	require.Empty(t, imp("usage", `{"id":"n2","account_id":"a3","app":"web","resource":"container:M","quantity":1,"started_at":"2026-10-30T00:00:00Z","ended_at":"2026-11-02T00:00:00Z"}`))
	// November isn't invoiced for a1.
	require.Empty(t, imp("usage", `{"id":"n3","account_id":"a1","app":"web","resource":"container:M","quantity":1,"started_at":"2026-11-01T00:00:00Z","ended_at":null}`))
	// Re-importing what was invoiced is a no-op, not a problem.
	require.Empty(t, imp("usage", strings.Split(smokeUsage, "\n")[0]))
	// s2 (a1's redis, running since September) may end in November, not in October.
	require.Empty(t, imp("usage", `{"id":"s2","account_id":"a1","app":"web","resource":"addon:redis","quantity":1,"started_at":"2026-09-01T00:00:00Z","ended_at":"2026-11-03T00:00:00Z"}`))
	p = imp("usage", `{"id":"s2","account_id":"a1","app":"web","resource":"addon:redis","quantity":1,"started_at":"2026-09-01T00:00:00Z","ended_at":"2026-10-20T00:00:00Z"}`)
	require.Equal(t, []string{"ended_at: moving it from 2026-11-03T00:00:00Z to 2026-10-20T00:00:00Z changes usage in period 2026-10, already invoiced for a1 (" + number + ")"}, p)
	// A price of a resource in use can't change inside invoiced time…
	p = imp("catalog", `{"resource":"container:M","description":"M","price_per_hour":"0.05","effective_from":"2026-10-20T00:00:00Z"}`)
	require.Equal(t, []string{"effective_from: 2026-10-20T00:00:00Z is before the end of the last invoiced period (2026-11-01T00:00:00Z): a price can only change after it"}, p)
	// … but it can after, and a new resource may start whenever.
	require.Empty(t, imp("catalog", `{"resource":"container:M","description":"M","price_per_hour":"0.05","effective_from":"2026-11-15T00:00:00Z"}`))
	require.Empty(t, imp("catalog", `{"resource":"gpu","description":"GPU","price_per_hour":"1.50","effective_from":"2026-01-01T00:00:00Z"}`))
}

func TestScheduleFiresForThePreviousMonth(t *testing.T) {
	t.Parallel()
	paris, err := time.LoadLocation("Europe/Paris")
	require.NoError(t, err)
	for _, tc := range []struct {
		at     string
		loc    *time.Location
		period string
	}{
		{"2026-11-01T00:30:00Z", time.UTC, "2026-10"},
		{"2026-10-31T23:30:00Z", paris, "2026-10"}, // 00:30 on 1 November in Paris
		{"2027-01-01T00:30:00Z", time.UTC, "2026-12"},
		{"2026-11-07T23:59:00Z", time.UTC, "2026-10"}, // a late leader still catches up
		{"2026-11-08T00:00:00Z", time.UTC, ""},        // too late: a human decides
	} {
		at, _ := time.Parse(time.RFC3339, tc.at)
		args, ok := jobs.ScheduledRun(at, tc.loc)
		if tc.period == "" {
			require.False(t, ok, tc.at)
			continue
		}
		require.True(t, ok, tc.at)
		require.Equal(t, jobs.BillingRunArgs{Period: tc.period, Scheduled: true}, args, tc.at)
	}
	next := jobs.NextScheduled(jobs.DefaultSchedule, paris, time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC))
	require.Equal(t, "2026-11-30T23:30:00Z", next.UTC().Format(time.RFC3339))
}

func invoicesOf(period string) invoices.ListParams { return invoices.ListParams{Period: period} }
