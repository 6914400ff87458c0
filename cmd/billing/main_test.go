package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/mail"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/billingengine/engine/internal/audit"
	"github.com/billingengine/engine/internal/dbtest"
)

// cli runs the command in-process against one database.
type cli struct {
	t   *testing.T
	url string
	env map[string]string
}

func newCLI(t *testing.T) *cli {
	t.Helper()
	// Test mode is explicit (SPEC §4); tests that check its absence unset it.
	// The schedules are off: a leader starting in the first days of a month
	// bills the previous one by design, which would mix the wall clock's
	// month into the tests' own.
	return &cli{t: t, url: dbtest.New(t).URL, env: map[string]string{"BILLING_PROCESSOR": "sandbox", "BILLING_PAYPAL": "sandbox",
		"BILLING_SCHEDULE": "off", "BILLING_DUNNING_SCHEDULE": "off"}}
}

func (c *cli) run(args ...string) (code int, stdout, stderr string) {
	c.t.Helper()
	var out, errb bytes.Buffer
	lookup := func(k string) (string, bool) {
		if v, ok := c.env[k]; ok {
			return v, true
		}
		if k == "DATABASE_URL" {
			return c.url, true
		}
		return "", false
	}
	code = Main(context.Background(), args, strings.NewReader(""), &out, &errb, lookup)
	return code, out.String(), errb.String()
}

func (c *cli) ok(args ...string) string {
	c.t.Helper()
	code, out, errs := c.run(args...)
	require.Equal(c.t, 0, code, "billing %v: %s", args, errs)
	return out
}

func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	require.NoError(t, os.WriteFile(p, []byte(content), 0o600))
	return p
}

const testCatalog = `{"resource":"container:M","description":"M container","price_per_hour":"0.0278","effective_from":"2026-01-01T00:00:00Z"}` + "\n"
const testAccounts = `{"id":"acc_1","name":"Acme SAS","email":"billing@acme.test","country":"FR","vat_number":"FR40303265045","created_at":"2026-03-04T10:00:00Z","payment_method":{"type":"card","id":"pm_card_visa"}}` + "\n"

func TestImportCommands(t *testing.T) {
	t.Parallel()
	c := newCLI(t)
	c.ok("catalog", "import", writeFile(t, "catalog.ndjson", testCatalog))
	out := c.ok("accounts", "import", writeFile(t, "accounts.ndjson", testAccounts))
	var res map[string]any
	require.NoError(t, json.Unmarshal([]byte(out), &res))
	require.Equal(t, float64(1), res["inserted"])

	bad := writeFile(t, "usage.ndjson",
		`{"id":"s1","account_id":"acc_1","app":"web","resource":"container:M","quantity":2,"started_at":"2026-10-03T12:00:00Z","ended_at":"2026-10-05T12:00:00Z"}`+"\n"+
			`{"id":"s2","account_id":"acc_9","app":"web","resource":"container:M","quantity":0,"started_at":"2026-10-03T12:00:00Z","ended_at":null}`+"\n"+
			`not json`+"\n")
	code, stdout, stderr := c.run("usage", "import", bad)
	require.Equal(t, 1, code)
	require.Empty(t, stdout)
	lines := strings.Split(strings.TrimSpace(stderr), "\n")
	require.Equal(t, []string{
		bad + ":2: quantity: must be an integer from 1 to 1000000, got 0",
		bad + ":3: malformed JSON: a line must be one JSON object",
		"billing: " + bad + ": 2 invalid lines, nothing imported",
	}, lines)

	code, stdout, stderr = c.run("usage", "import", "--skip-invalid", bad)
	require.Equal(t, 0, code, stderr)
	require.NoError(t, json.Unmarshal([]byte(stdout), &res))
	require.Equal(t, float64(1), res["inserted"])
	require.Equal(t, float64(2), res["invalid"])

	out = c.ok("accounts", "show", "acc_1", "--json")
	var acc map[string]any
	require.NoError(t, json.Unmarshal([]byte(out), &acc))
	require.Equal(t, map[string]any{
		"id": "acc_1", "name": "Acme SAS", "email": "billing@acme.test", "country": "FR",
		"vat_number": "FR40303265045", "status": "active", "created_at": "2026-03-04T10:00:00Z",
		"referred_by": nil, "credit_balance": "0.00",
		"payment_method": map[string]any{"type": "card", "id": "pm_card_visa"},
		"address":        nil, "siren": nil, "language": "fr",
	}, acc)

	out = c.ok("accounts", "set-payment-method", "acc_1", "--type", "sepa_debit", "--id", "pm_sepa_debit_success")
	require.Contains(t, out, `"changed": true`)
	out = c.ok("accounts", "set-payment-method", "acc_1", "--type", "sepa_debit", "--id", "pm_sepa_debit_success")
	require.Contains(t, out, `"changed": false`)
}

func TestExitStatuses(t *testing.T) {
	t.Parallel()
	c := newCLI(t)
	for _, tc := range []struct {
		args []string
		code int
		msg  string
	}{
		{[]string{"nonsense"}, 2, `unknown command "nonsense"`},
		{[]string{"accounts"}, 2, "needs a subcommand"},
		{[]string{"accounts", "show"}, 2, "billing accounts show: missing argument ID"},
		{[]string{"usage", "import", "a", "b"}, 2, `billing usage import: unexpected argument "b"`},
		{[]string{"usage", "import", "--bogus", "x"}, 2, "unknown flag: --bogus"},
		{[]string{"usage", "import", "--format", "xml", "x"}, 2, "--format must be ndjson or csv"},
		{[]string{"accounts", "set-payment-method", "acc_1", "--type", "cash", "--id", "x"}, 2, "--type must be card or sepa_debit"},
		{[]string{"accounts", "show", "ghost"}, 1, "account not found: ghost"},
		{[]string{"usage", "import", "/nonexistent/file.ndjson"}, 1, "no such file"},
	} {
		code, _, stderr := c.run(tc.args...)
		require.Equal(t, tc.code, code, "billing %v: %s", tc.args, stderr)
		require.Contains(t, stderr, tc.msg, "billing %v", tc.args)
	}

	c.env["BILLING_TIMEZONE"] = "Mars/Olympus"
	code, _, stderr := c.run("migrate")
	require.Equal(t, exitUsage, code, "a misconfiguration is the caller's to fix")
	require.Contains(t, stderr, `BILLING_TIMEZONE: unknown time zone "Mars/Olympus"`)
}

func TestDemoIsRepeatable(t *testing.T) {
	t.Parallel()
	c := newCLI(t)
	out := t.TempDir()
	mailDir := filepath.Join(out, "mail")
	c.env["BILLING_SMTP_URL"] = "file://" + mailDir
	code, first, errs := c.run("demo", "--out", out)
	require.Equal(t, 0, code, errs)
	require.Contains(t, first, "36 lines: 36 inserted")
	require.Contains(t, first, "2026-10: run 2 issued 34 invoices (36 accounts were not billed yet for the period)")
	pdfs, err := filepath.Glob(filepath.Join(out, "INV-2026-*.pdf"))
	require.NoError(t, err)
	require.Len(t, pdfs, 66, "65 issued by the runs, one replacing the invoice finance voids")
	cns, err := filepath.Glob(filepath.Join(out, "CN-2026-*.pdf"))
	require.NoError(t, err)
	require.Len(t, cns, 1)
	require.Contains(t, first, fmt.Sprintf("billing audit: %d invariants checked, 0 violations", len(audit.Checks)))
	// Its emails are .eml files, one per outbox row, each with its Message-ID.
	emls, err := filepath.Glob(filepath.Join(mailDir, "*.eml"))
	require.NoError(t, err)
	require.NotEmpty(t, emls)
	require.Contains(t, first, fmt.Sprintf("== %d customer emails: %d sent, 0 pending, 0 failed, 0 unsent", len(emls), len(emls)))
	for _, f := range emls {
		b, err := os.ReadFile(f)
		require.NoError(t, err)
		m, err := mail.ReadMessage(bytes.NewReader(b))
		require.NoError(t, err, f)
		require.Contains(t, m.Header.Get("Message-Id"), "@seller.invalid>", f)
	}
	delete(c.env, "BILLING_SMTP_URL")
	code, second, errs := c.run("demo", "--out", "")
	require.Equal(t, 0, code, errs)
	require.Contains(t, second, "36 lines: 0 inserted, 0 updated, 36 unchanged")
	require.Contains(t, second, "2026-10: run 5 issued 0 invoices", "a rerun bills nothing twice")
	require.Contains(t, second, "was voided by an earlier demo")
}

func TestCreditCommands(t *testing.T) {
	t.Parallel()
	c := newCLI(t)
	c.ok("accounts", "import", writeFile(t, "accounts.ndjson", testAccounts))
	var res map[string]any
	require.NoError(t, json.Unmarshal([]byte(c.ok("credit", "add", "--account", "acc_1", "--amount", "25.50", "--reference", "GIFT-1")), &res))
	require.Equal(t, true, res["created"])
	require.Equal(t, "25.50", res["credit_balance"])
	require.NoError(t, json.Unmarshal([]byte(c.ok("credit", "add", "--account", "acc_1", "--amount", "25.50", "--reference", "GIFT-1")), &res))
	require.Equal(t, false, res["created"], "idempotent by reference")
	require.Equal(t, "25.50", res["credit_balance"])

	require.NoError(t, json.Unmarshal([]byte(c.ok("credit", "buy", "--account", "acc_1", "--amount", "10")), &res))
	require.Equal(t, "COMPLETED", res["status"], "the PayPal sandbox approves and captures at once")
	require.Contains(t, res["approval_link"], "token="+res["order_id"].(string))

	var acc map[string]any
	require.NoError(t, json.Unmarshal([]byte(c.ok("accounts", "show", "acc_1", "--json")), &acc))
	require.Equal(t, "35.50", acc["credit_balance"])

	for _, args := range [][]string{
		{"credit", "add", "--account", "acc_1", "--amount", "-5", "--reference", "x"},
		{"credit", "add", "--account", "acc_1", "--amount", "1.234", "--reference", "x"},
		{"credit", "add", "--account", "acc_1", "--amount", "1e3", "--reference", "x"},
		{"credit", "add", "--account", "acc_1", "--amount", "0", "--reference", "x"},
		{"credit", "add", "--account", "acc_1", "--amount", "5"},
	} {
		code, _, stderr := c.run(args...)
		require.Equal(t, 2, code, "%v: %s", args, stderr)
	}
	code, _, stderr := c.run("credit", "add", "--account", "ghost", "--amount", "5", "--reference", "x")
	require.Equal(t, 1, code)
	require.Contains(t, stderr, "account not found: ghost")
}

// Postgres unreachable at start: a command fails at once and says which
// server it could not reach; the worker waits for it, trying again with
// growing pauses, until stopped.
func TestPostgresUnreachableAtStart(t *testing.T) {
	t.Parallel()
	c := &cli{t: t, url: "postgres://billing@127.0.0.1:1/books?connect_timeout=1", env: map[string]string{"BILLING_LOG_LEVEL": "info", "BILLING_PROCESSOR": "sandbox"}}
	code, _, errs := c.run("invoices", "list", "--period", "2026-10")
	require.Equal(t, exitFail, code)
	require.Contains(t, errs, "billing: cannot reach Postgres at postgres://billing@127.0.0.1:1/books")

	ctx, cancel := context.WithTimeout(context.Background(), 2500*time.Millisecond)
	defer cancel()
	var out, errb bytes.Buffer
	code = Main(ctx, []string{"worker"}, strings.NewReader(""), &out, &errb, func(k string) (string, bool) {
		if k == "DATABASE_URL" {
			return c.url, true
		}
		v, ok := c.env[k]
		return v, ok
	})
	require.Equal(t, exitFail, code, errb.String())
	require.GreaterOrEqual(t, strings.Count(errb.String(), "Postgres unreachable: trying again"), 2, errb.String())
	require.Contains(t, errb.String(), "in=500ms")
	require.Contains(t, errb.String(), "in=1s")
	require.Contains(t, errb.String(), "gave up: context deadline exceeded")
}
