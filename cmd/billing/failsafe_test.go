package main

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/billingengine/engine/billing"
)

// Without a processor mode every command that would charge refuses to
// start, exit 2, saying how to fix it; commands that only read or import
// keep working.
func TestChargingCommandsRefuseWithoutProcessor(t *testing.T) {
	t.Parallel()
	c := newCLI(t)
	delete(c.env, "BILLING_PROCESSOR")
	delete(c.env, "BILLING_PAYPAL")
	c.ok("migrate")
	c.ok("catalog", "import", writeFile(t, "catalog.ndjson", testCatalog))
	c.ok("accounts", "import", writeFile(t, "accounts.ndjson", testAccounts))
	for _, args := range [][]string{
		{"worker", "--until-idle"},
		{"run", "--period", "2026-10"},
		{"dunning", "run"},
		{"demo", "--out", ""},
		{"accounts", "set-payment-method", "acc_1", "--type", "card", "--id", "pm_card_visa"},
	} {
		code, _, stderr := c.run(args...)
		require.Equal(t, exitUsage, code, "billing %v: %s", args, stderr)
		require.Contains(t, stderr, "no payment processor configured: set STRIPE_SECRET_KEY, or BILLING_PROCESSOR=sandbox for tests and demos", "billing %v", args)
	}
	code, _, stderr := c.run("credit", "buy", "--account", "acc_1", "--amount", "25.00")
	require.Equal(t, exitUsage, code, stderr)
	require.Contains(t, stderr, "no PayPal configured: set PAYPAL_CLIENT_ID and PAYPAL_SECRET")
	// A dry run writes nothing and charges nothing.
	c.ok("run", "--period", "2026-10", "--dry-run")
	var runs, jobs int
	c.query(`SELECT (SELECT count(*) FROM billing_runs), (SELECT count(*) FROM river_job)`, &runs, &jobs)
	require.Zero(t, runs)
	require.Zero(t, jobs)
}

// With Stripe configured and PayPal not, credit cannot be bought: the
// PayPal sandbox never stands in for a real purchaser.
func TestNoSandboxPayPalBesideStripe(t *testing.T) {
	t.Parallel()
	c := newCLI(t)
	c.env["BILLING_PROCESSOR"] = "stripe"
	c.env["STRIPE_SECRET_KEY"] = "sk_test_123"
	delete(c.env, "BILLING_PAYPAL")
	for k, v := range map[string]string{"NAME": "Cloud SAS", "LEGAL": "SAS", "CAPITAL": "10000.00", "RCS": "Paris", "ADDRESS": "1 rue A|75001 Paris",
		"VAT_NUMBER": "FR40303265045", "SIREN": "303265045", "IBAN": "FR7630006000011234567890189", "BIC": "AGRIFRPP", "EMAIL": "b@cloud.test"} {
		c.env["BILLING_SELLER_"+k] = v
	}
	c.env["BILLING_SEPA_CREDITOR_ID"] = "FR72ZZZ123456"
	c.ok("migrate")
	c.ok("accounts", "import", writeFile(t, "accounts.ndjson", testAccounts))
	code, _, stderr := c.run("credit", "buy", "--account", "acc_1", "--amount", "50000.00")
	require.Equal(t, exitUsage, code, stderr)
	require.Contains(t, stderr, "no PayPal configured")
	code, _, stderr = c.run("worker", "--http", "127.0.0.1:0", "--until-idle")
	require.Equal(t, exitUsage, code, stderr)
	require.Contains(t, stderr, "no PayPal configured")

	c.env["STRIPE_SECRET_KEY"] = "sk_live_123"
	c.env["BILLING_PAYPAL"] = "sandbox"
	code, _, stderr = c.run("credit", "buy", "--account", "acc_1", "--amount", "25.00")
	require.Equal(t, exitUsage, code, stderr)
	require.Contains(t, stderr, "sandbox credit would pay real invoices")

	c.env["BILLING_PAYPAL"] = "off"
	code, _, stderr = c.run("credit", "buy", "--account", "acc_1", "--amount", "25.00")
	require.Equal(t, exitUsage, code, stderr)
	require.Contains(t, stderr, "credit purchases are switched off")
	var credited int
	c.query(`SELECT count(*) FROM credit_ledger`, &credited)
	require.Zero(t, credited)
}

// A credit purchase is between 5.00 and BILLING_CREDIT_PURCHASE_MAX.
func TestCreditPurchaseBounds(t *testing.T) {
	t.Parallel()
	c := newCLI(t)
	c.ok("migrate")
	c.ok("accounts", "import", writeFile(t, "accounts.ndjson", testAccounts))
	for _, amount := range []string{"4.99", "10000.01", "999999999"} {
		code, _, stderr := c.run("credit", "buy", "--account", "acc_1", "--amount", amount)
		require.Equal(t, exitFail, code, "%s: %s", amount, stderr)
		require.Contains(t, stderr, "a credit purchase is between 5.00 and 10000.00 EUR", amount)
	}
	c.ok("credit", "buy", "--account", "acc_1", "--amount", "5.00")
	c.env["BILLING_CREDIT_PURCHASE_MAX"] = "100.00"
	code, _, stderr := c.run("credit", "buy", "--account", "acc_1", "--amount", "100.01")
	require.Equal(t, exitFail, code, stderr)
	require.Contains(t, stderr, "between 5.00 and 100.00 EUR")
	var balance string
	c.query(`SELECT coalesce(sum(amount), 0)::text FROM credit_ledger WHERE account_id = 'acc_1'`, &balance)
	require.Equal(t, "5.00", balance)
}

// Outside sandbox mode the seller must be configured: the worker and a run
// refuse to start, naming every missing variable; no invoice goes out under
// a made-up seller.
func TestSellerRequiredOutsideSandbox(t *testing.T) {
	t.Parallel()
	c := newCLI(t)
	c.env["BILLING_PROCESSOR"] = "stripe"
	c.env["STRIPE_SECRET_KEY"] = "sk_test_123"
	c.env["BILLING_SELLER_NAME"] = "Cloud SAS"
	c.ok("migrate")
	for _, args := range [][]string{{"worker", "--until-idle"}, {"run", "--period", "2026-10"}} {
		code, _, stderr := c.run(args...)
		require.Equal(t, exitUsage, code, "billing %v: %s", args, stderr)
		require.Contains(t, stderr, "the seller's identity is not configured", args)
		for _, v := range []string{"BILLING_SELLER_LEGAL", "BILLING_SELLER_CAPITAL", "BILLING_SELLER_RCS", "BILLING_SELLER_ADDRESS",
			"BILLING_SELLER_VAT_NUMBER", "BILLING_SELLER_SIREN", "BILLING_SELLER_IBAN", "BILLING_SELLER_BIC", "BILLING_SELLER_EMAIL",
			"BILLING_SEPA_CREDITOR_ID"} {
			require.Contains(t, stderr, v, args)
		}
		require.NotContains(t, stderr, "BILLING_SELLER_NAME,", args)
	}
	// Every variable set, one of them wrong: still refused, naming it.
	for k, v := range map[string]string{"LEGAL": "SAS", "CAPITAL": "10000.00", "RCS": "Paris", "ADDRESS": "1 rue A|75001 Paris",
		"VAT_NUMBER": "FR41303265045", "SIREN": "303265045", "IBAN": "FR7630006000011234567890189", "BIC": "AGRIFRPP", "EMAIL": "b@cloud.test"} {
		c.env["BILLING_SELLER_"+k] = v
	}
	c.env["BILLING_SEPA_CREDITOR_ID"] = "FR72ZZZ123456"
	for _, args := range [][]string{{"worker", "--until-idle"}, {"run", "--period", "2026-10"}} {
		code, _, stderr := c.run(args...)
		require.Equal(t, exitUsage, code, "billing %v: %s", args, stderr)
		require.Contains(t, stderr, `BILLING_SELLER_VAT_NUMBER: "FR41303265045": the key 41 does not match the SIREN 303265045`, args)
		require.NotContains(t, stderr, "set BILLING_", args)
	}
}

// In sandbox mode the worker says so at start.
func TestSandboxWarnsAtStart(t *testing.T) {
	t.Parallel()
	c := newCLI(t)
	c.ok("migrate")
	code, _, stderr := c.run("worker", "--until-idle", "--idle-horizon", "1s")
	require.Equal(t, exitOK, code, stderr)
	require.Contains(t, stderr, "level=WARN")
	require.Contains(t, stderr, "TEST MODE: BILLING_PROCESSOR=sandbox")
	require.Contains(t, stderr, "documents name a demo seller")
}

// Only ended periods are billed: the current and future periods exit 1
// with the period's end; the current period's dry run is a partial
// preview, a future period's is refused.
func TestRunRefusesUnendedPeriod(t *testing.T) {
	t.Parallel()
	c := newCLI(t)
	c.ok("migrate")
	c.ok("catalog", "import", writeFile(t, "catalog.ndjson", testCatalog))
	c.ok("accounts", "import", writeFile(t, "accounts.ndjson", testAccounts))
	now := time.Now().UTC()
	current := billing.PeriodOf(now, time.UTC)
	start, end := current.Bounds(time.UTC)
	c.ok("usage", "import", writeFile(t, "usage.ndjson", fmt.Sprintf(
		`{"id":"s1","account_id":"acc_1","app":"web","resource":"container:M","quantity":1,"started_at":%q,"ended_at":null}`+"\n", start.Format(time.RFC3339))))
	for _, p := range []billing.Period{current, current.Add(1), current.Add(40)} {
		_, pend := p.Bounds(time.UTC)
		code, stdout, stderr := c.run("run", "--period", p.String())
		require.Equal(t, exitFail, code, stderr)
		require.Empty(t, stdout)
		require.Contains(t, stderr, fmt.Sprintf("period %s has not ended (it ends %s)", p, pend.Format(time.RFC3339)))
	}
	out := c.ok("run", "--period", current.String(), "--dry-run")
	var preview struct {
		Partial bool      `json:"partial"`
		AsOf    time.Time `json:"as_of"`
		Totals  struct {
			Invoices int `json:"invoices"`
		} `json:"totals"`
	}
	require.NoError(t, json.Unmarshal([]byte(out), &preview))
	require.True(t, preview.Partial)
	require.False(t, preview.AsOf.Before(now.Truncate(time.Second)))
	require.True(t, preview.AsOf.Before(end))
	code, _, stderr := c.run("run", "--period", current.Add(1).String(), "--dry-run")
	require.Equal(t, exitFail, code, stderr)
	require.Contains(t, stderr, "has not started")
	var runs int
	c.query(`SELECT count(*) FROM billing_runs`, &runs)
	require.Zero(t, runs)
	// The month's usage is still open to imports: nothing invoiced it.
	c.ok("usage", "import", writeFile(t, "more.ndjson", fmt.Sprintf(
		`{"id":"s2","account_id":"acc_1","app":"api","resource":"container:M","quantity":1,"started_at":%q,"ended_at":%q}`+"\n",
		start.Format(time.RFC3339), start.Add(time.Minute).Format(time.RFC3339))))
	require.True(t, strings.HasPrefix(out, "{"))
}

// query reads one row of the CLI's database.
func (c *cli) query(sql string, dst ...any) {
	c.t.Helper()
	pool, err := pgxpool.New(context.Background(), c.url)
	require.NoError(c.t, err)
	defer pool.Close()
	require.NoError(c.t, pool.QueryRow(context.Background(), sql).Scan(dst...))
}

// With Stripe, the worker serving the billing pages (--http) refuses to
// start without the publishable key their card form gives Stripe.js,
// naming the variable; without --http it is not needed.
func TestStripePagesNeedPublishableKey(t *testing.T) {
	t.Parallel()
	c := newCLI(t)
	c.env["BILLING_PROCESSOR"] = "stripe"
	c.env["STRIPE_SECRET_KEY"] = "sk_test_123"
	c.env["BILLING_PAYPAL"] = "off"
	for k, v := range map[string]string{"NAME": "Cloud SAS", "LEGAL": "SAS", "CAPITAL": "10000.00", "RCS": "Paris", "ADDRESS": "1 rue A|75001 Paris",
		"VAT_NUMBER": "FR40303265045", "SIREN": "303265045", "IBAN": "FR7630006000011234567890189", "BIC": "AGRIFRPP", "EMAIL": "b@cloud.test"} {
		c.env["BILLING_SELLER_"+k] = v
	}
	c.env["BILLING_SEPA_CREDITOR_ID"] = "FR72ZZZ123456"
	c.ok("migrate")
	code, _, stderr := c.run("worker", "--http", "127.0.0.1:0", "--until-idle")
	require.Equal(t, exitUsage, code, stderr)
	require.Contains(t, stderr, "BILLING_STRIPE_PUBLISHABLE_KEY is not set")
	c.ok("worker", "--until-idle")
	c.env["BILLING_STRIPE_PUBLISHABLE_KEY"] = "pk_test_123"
	c.ok("worker", "--http", "127.0.0.1:0", "--until-idle")
}
