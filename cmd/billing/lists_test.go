package main

import (
	"context"
	"encoding/json"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/billingengine/engine/internal/dbtest"
	"github.com/billingengine/engine/internal/testfactory"
)

func (c *cli) jsonOf(v any, args ...string) {
	c.t.Helper()
	require.NoError(c.t, json.Unmarshal([]byte(c.ok(args...)), v), "billing %v", args)
}

// The finance listings and the receivables: filters, JSON when piped, and
// a malformed flag named in a usage error (exit 2).
func TestFinanceListingsCLI(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := dbtest.New(t)
	c := newCLI(t)
	c.url = db.URL
	testfactory.Account(ctx, t, db.Pool, &testfactory.AccountOpts{ID: testfactory.Ptr("acme"), Name: testfactory.Ptr("Acme SAS")})
	testfactory.Account(ctx, t, db.Pool, &testfactory.AccountOpts{ID: testfactory.Ptr("globex"), Status: testfactory.Ptr("suspended")})
	testfactory.Invoice(ctx, t, db.Pool, &testfactory.InvoiceOpts{AccountID: testfactory.Ptr("acme"), Period: testfactory.Ptr("2026-09"),
		Subtotal: testfactory.Ptr("10.00"), IssuedAt: testfactory.Ptr(time.Date(2026, 10, 1, 1, 0, 0, 0, time.UTC))})
	testfactory.Invoice(ctx, t, db.Pool, &testfactory.InvoiceOpts{AccountID: testfactory.Ptr("acme"), Period: testfactory.Ptr("2026-10"),
		Subtotal: testfactory.Ptr("3.00"), Status: testfactory.Ptr("paid")})
	testfactory.Invoice(ctx, t, db.Pool, &testfactory.InvoiceOpts{AccountID: testfactory.Ptr("globex"), Period: testfactory.Ptr("2026-10"),
		Subtotal: testfactory.Ptr("20.00"), IssuedAt: testfactory.Ptr(time.Date(2026, 11, 1, 1, 0, 0, 0, time.UTC))})

	// Numbers in any case.
	var shown struct{ Number string }
	c.jsonOf(&shown, "invoices", "show", "inv-2026-000001", "--json")
	require.Equal(t, "INV-2026-000001", shown.Number)

	var accs []struct{ ID, Status string }
	c.jsonOf(&accs, "accounts", "list") // piped: JSON without --json
	require.Len(t, accs, 2)
	c.jsonOf(&accs, "accounts", "list", "--status", "suspended", "--json")
	require.Equal(t, "globex", accs[0].ID)
	c.jsonOf(&accs, "accounts", "list", "--search", "acme sas")
	require.Len(t, accs, 1)

	var invs []struct {
		Number, Status string
		VATRegime      string `json:"vat_regime"`
	}
	c.jsonOf(&invs, "invoices", "list")
	require.Len(t, invs, 3)
	require.Equal(t, "outside_scope", invs[0].VATRegime)
	c.jsonOf(&invs, "invoices", "list", "--status", "open", "--account", "acme")
	require.Len(t, invs, 1)
	c.jsonOf(&invs, "invoices", "list", "--period", "2026-10", "--status", "paid")
	require.Len(t, invs, 1)

	var r struct {
		AsOf     string `json:"as_of"`
		Accounts []struct {
			AccountID string            `json:"account_id"`
			Buckets   map[string]string `json:"buckets"`
			Total     string            `json:"total"`
		} `json:"accounts"`
		Total string `json:"total"`
	}
	c.jsonOf(&r, "receivables", "--as-of", "2026-11-30")
	require.Equal(t, "2026-11-30", r.AsOf)
	require.Len(t, r.Accounts, 2)
	require.Equal(t, "10.00", r.Accounts[0].Buckets["31_60"], "issued 2026-10-01: 60 days past due on 2026-11-30")
	require.Equal(t, "20.00", r.Accounts[1].Buckets["1_30"], "issued 2026-11-01: 29 days")
	require.Equal(t, "30.00", r.Total)

	for _, args := range [][]string{
		{"accounts", "list", "--status", "closed"},
		{"invoices", "list", "--status", "draft"},
		{"invoices", "list", "--period", "2026-13"},
		{"receivables", "--as-of", "30/11/2026"},
	} {
		code, _, stderr := c.run(args...)
		require.Equal(t, 2, code, "%v: %s", args, stderr)
		require.Contains(t, stderr, args[len(args)-2]+": ", "the flag is named")
	}
}

func TestReportsCLI(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := dbtest.New(t)
	c := newCLI(t)
	c.url = db.URL
	testfactory.Account(ctx, t, db.Pool, &testfactory.AccountOpts{ID: testfactory.Ptr("acme")})
	testfactory.Invoice(ctx, t, db.Pool, &testfactory.InvoiceOpts{AccountID: testfactory.Ptr("acme"), Period: testfactory.Ptr("2026-09"),
		Subtotal: testfactory.Ptr("10.00"), TaxRate: testfactory.Ptr("20"), IssuedAt: testfactory.Ptr(time.Date(2026, 10, 1, 1, 0, 0, 0, time.UTC))})

	var r struct {
		Period string `json:"period"`
		Rows   []struct {
			Country, Regime, Rate, Base, VAT string
		} `json:"rows"`
		TotalBase string `json:"total_base"`
		TotalVAT  string `json:"total_vat"`
	}
	c.jsonOf(&r, "reports", "vat", "--period", "2026-10")
	require.Equal(t, "2026-10", r.Period, "the month of issue, not the usage period")
	require.Len(t, r.Rows, 1)
	require.Equal(t, "FR", r.Rows[0].Country)
	require.Equal(t, "domestic", r.Rows[0].Regime)
	require.Equal(t, "10.00", r.TotalBase)
	require.Equal(t, "2.00", r.TotalVAT)
	require.Equal(t, "country,regime,rate,base,vat\nFR,domestic,20,10.00,2.00\n", c.ok("reports", "vat", "--period", "2026-10", "--csv"))

	fec := c.ok("reports", "journal", "--period", "2026-10")
	lines := strings.Split(strings.TrimSpace(fec), "\n")
	require.Len(t, lines, 4, "header, 411, 706, 44571")
	require.True(t, strings.HasPrefix(lines[1], "VE|Ventes|VE000001|20261001|411|Clients|acme|"), lines[1])
	require.Contains(t, lines[1], "|12,00|0,00|")
	file := filepath.Join(t.TempDir(), "fec.txt")
	var summary map[string]any
	c.jsonOf(&summary, "reports", "journal", "--period", "2026-10", "-o", file)
	require.Equal(t, float64(1), summary["entries"])
	written, err := os.ReadFile(file)
	require.NoError(t, err)
	require.Equal(t, fec, string(written))

	for _, args := range [][]string{{"reports", "vat"}, {"reports", "journal", "--period", "10/2026"}, {"reports", "vat", "--period", "2026-10", "--json", "--csv"}} {
		code, _, stderr := c.run(args...)
		require.Equal(t, 2, code, "%v: %s", args, stderr)
	}
}

// A database without migrations says so; migrate prints one line.
func TestMigrateFirst(t *testing.T) {
	t.Parallel()
	db := dbtest.Empty(t)
	c := newCLI(t)
	c.url = db.URL
	for _, args := range [][]string{{"accounts", "list"}, {"invoices", "show", "INV-2026-000001"}, {"receivables"}} {
		code, _, stderr := c.run(args...)
		require.Equal(t, 1, code, "%v", args)
		require.Equal(t, "billing: the database has no schema: run billing migrate first\n", stderr, "%v", args)
	}
	out := c.ok("migrate")
	require.Regexp(t, `^applied \d+ River migrations \(to version \d+\) and \d+ billing migrations \(to \d{4}_[a-z0-9_]+\): schema up to date\n$`, out)
	require.Equal(t, "schema up to date: nothing to apply\n", c.ok("migrate"))
	require.JSONEq(t, `{"applied":[]}`, c.ok("migrate", "--json"))
	c.ok("accounts", "list")
}

// Command-line mistakes name the command, argument or flag at fault, in
// words rather than Go types, with a suggestion for a mistyped command.
func TestUsageErrorsSpeakPlainly(t *testing.T) {
	t.Parallel()
	c := newCLI(t)
	for _, tc := range []struct {
		args []string
		msg  string
	}{
		{[]string{"invoice", "list"}, "unknown command \"invoice\" for \"billing\"\n\nDid you mean this?\n\tinvoices"},
		{[]string{"accounts", "timline", "a"}, "Did you mean this?\n\ttimeline"},
		{[]string{"invoices", "show"}, "billing invoices show: missing argument NUMBER (usage: billing invoices show NUMBER"},
		{[]string{"jobs", "retry"}, "billing jobs retry: missing argument ID"},
		{[]string{"accounts", "show", "a", "b"}, `billing accounts show: unexpected argument "b"`},
		{[]string{"runs", "list", "--limit", "abc"}, `--limit: expected an integer, got "abc"`},
		{[]string{"invoices", "list", "--overdue=maybe"}, `--overdue: expected true or false, got "maybe"`},
		{[]string{"worker", "--http", "localhost", "--until-idle"}, `--http "localhost": expected HOST:PORT, :PORT or PORT`},
		{[]string{"worker", "--http", ":99999", "--until-idle"}, `--http ":99999": expected HOST:PORT`},
	} {
		code, out, stderr := c.run(tc.args...)
		require.Equal(t, 2, code, "%v: %s", tc.args, stderr)
		require.Empty(t, out)
		require.Contains(t, stderr, tc.msg, "%v", tc.args)
		require.NotContains(t, stderr, "strconv", "%v", tc.args)
	}
	code, out, _ := c.run("--version")
	require.Equal(t, 0, code)
	require.Regexp(t, `^billing \S`, out)
}

func TestListenAddr(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{"8080": ":8080", ":8080": ":8080", "127.0.0.1:0": "127.0.0.1:0", "[::1]:9090": "[::1]:9090"} {
		got, err := listenAddr("http", in)
		require.NoError(t, err, in)
		require.Equal(t, want, got)
	}
	for _, in := range []string{"localhost", "80800", "host:port", ":-1", "1.2.3.4"} {
		_, err := listenAddr("http", in)
		require.Error(t, err, in)
	}
}

// A worker whose --http port is taken stops before working any job.
func TestWorkerChecksItsPortFirst(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := dbtest.New(t)
	c := newCLI(t)
	c.url = db.URL
	ln, err := (&net.ListenConfig{}).Listen(ctx, "tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	_, err = db.Pool.Exec(ctx, `INSERT INTO river_job (kind, args, queue, max_attempts, priority, state, scheduled_at)
		VALUES ('dunning_pass', '{}', 'default', 1, 1, 'available', now())`)
	require.NoError(t, err)
	code, _, stderr := c.run("worker", "--http", ln.Addr().String(), "--until-idle")
	require.Equal(t, 1, code, stderr)
	require.Contains(t, stderr, "--http "+ln.Addr().String()+": ")
	require.Contains(t, stderr, "address already in use")
	var state string
	require.NoError(t, db.Pool.QueryRow(ctx, `SELECT state FROM river_job WHERE kind = 'dunning_pass'`).Scan(&state))
	require.Equal(t, "available", state, "no job was worked")
}
