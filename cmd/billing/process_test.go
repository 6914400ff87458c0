package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/billingengine/engine/internal/dbtest"
)

var (
	binOnce sync.Once
	binPath string
	binErr  error
)

// binary builds the billing command once per test run, for tests that need
// real processes (to kill them, or to run the contract's smoke script).
func binary(t *testing.T) string {
	t.Helper()
	binOnce.Do(func() {
		dir, err := os.MkdirTemp("", "billing-bin-")
		if err != nil {
			binErr = err
			return
		}
		binPath = filepath.Join(dir, "billing")
		out, err := exec.Command("go", "build", "-o", binPath, ".").CombinedOutput()
		if err != nil {
			binErr = fmt.Errorf("go build: %w\n%s", err, out)
		}
	})
	require.NoError(t, binErr)
	return binPath
}

// proc runs the binary against one database.
type proc struct {
	t   *testing.T
	bin string
	env []string
}

func newProc(t *testing.T, url string, env ...string) *proc {
	return &proc{t: t, bin: binary(t), env: append(append(os.Environ(), "DATABASE_URL="+url, "BILLING_SCHEDULE=off", "BILLING_LOG_LEVEL=warn",
		"BILLING_PROCESSOR=sandbox", "BILLING_PAYPAL=sandbox"), env...)}
}

func (p *proc) cmd(args ...string) *exec.Cmd {
	c := exec.Command(p.bin, args...)
	c.Env = p.env
	return c
}

func (p *proc) ok(args ...string) string {
	p.t.Helper()
	c := p.cmd(args...)
	var stderr strings.Builder
	c.Stderr = &stderr
	out, err := c.Output()
	require.NoError(p.t, err, "billing %v: %s", args, stderr.String())
	return string(out)
}

// TestContractSmoke runs the contract's worked example (contract/smoke.py)
// against the real binary.
func TestContractSmoke(t *testing.T) {
	t.Parallel()
	if _, err := exec.LookPath("python3"); err != nil {
		t.Skip("python3 is not installed")
	}
	db := dbtest.New(t)
	c := exec.Command("python3", filepath.Join("..", "..", "contract", "smoke.py"), binary(t))
	c.Env = append(os.Environ(), "DATABASE_URL="+db.URL, "BILLING_SCHEDULE=off")
	out, err := c.CombinedOutput()
	require.NoError(t, err, "%s", out)
	require.Contains(t, string(out), "contract smoke: OK")
}

// writeDataset writes a month of usage for n accounts, with referrals and
// every VAT case, as NDJSON files in dir.
func writeDataset(t *testing.T, dir string, n int) {
	t.Helper()
	write := func(name string, lines func(w *bufio.Writer)) {
		f, err := os.Create(filepath.Join(dir, name))
		require.NoError(t, err)
		w := bufio.NewWriter(f)
		lines(w)
		require.NoError(t, w.Flush())
		require.NoError(t, f.Close())
	}
	write("catalog.ndjson", func(w *bufio.Writer) {
		fmt.Fprintln(w, `{"resource":"container:M","description":"M","price_per_hour":"0.0278","effective_from":"2026-01-01T00:00:00Z"}`)
		fmt.Fprintln(w, `{"resource":"container:M","description":"M","price_per_hour":"0.0300","effective_from":"2026-10-16T00:00:00Z"}`)
		fmt.Fprintln(w, `{"resource":"addon:pg","description":"PostgreSQL","price_per_hour":"0.0417","effective_from":"2026-01-01T00:00:00Z"}`)
	})
	countries := []string{"FR", "DE", "US", "IT", "FR"}
	// A VAT number valid for each country (the US one only has to look
	// like one: outside the EU it changes nothing).
	vat := map[string]string{"FR": "FR40303265045", "DE": "DE811569869", "US": "US123456789", "IT": "IT00743110157"}
	write("accounts.ndjson", func(w *bufio.Writer) {
		for i := range n {
			extra := ""
			if i%4 == 1 {
				extra += fmt.Sprintf(`,"vat_number":%q`, vat[countries[i%5]])
			}
			if i%10 == 9 {
				extra += fmt.Sprintf(`,"referred_by":"acc%05d"`, i-7)
			}
			created := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).Add(time.Duration(i) * time.Minute)
			fmt.Fprintf(w, `{"id":"acc%05d","name":"Account %d","email":"a%d@example.test","country":"%s","created_at":"%s"%s}`+"\n",
				i, i, i, countries[i%5], created.Format(time.RFC3339), extra)
		}
	})
	write("usage.ndjson", func(w *bufio.Writer) {
		for i := range n {
			for j := range 5 {
				start := time.Date(2026, 9, 25, 0, 0, 0, 0, time.UTC).Add(time.Duration(i%97+j*150) * time.Hour)
				end := fmt.Sprintf(`"%s"`, start.Add(time.Duration(1+(i*7+j)%300)*time.Hour).Format(time.RFC3339))
				if j == 4 && i%3 == 0 {
					end = "null"
				}
				res := "container:M"
				if j == 2 {
					res = "addon:pg"
				}
				fmt.Fprintf(w, `{"id":"s%d-%d","account_id":"acc%05d","app":"app%d","resource":"%s","quantity":%d,"started_at":"%s","ended_at":%s}`+"\n",
					i, j, i, j%2, res, 1+j%3, start.Format(time.RFC3339), end)
			}
		}
	})
}

type invoiceJSON struct {
	Number    string            `json:"number"`
	AccountID string            `json:"account_id"`
	Subtotal  string            `json:"subtotal"`
	Discount  string            `json:"discount"`
	Tax       string            `json:"tax"`
	Total     string            `json:"total"`
	Lines     []json.RawMessage `json:"lines"`
}

// billed returns each account's invoice, without its number and dates.
func billed(t *testing.T, p *proc, period string) map[string]string {
	t.Helper()
	var list []invoiceJSON
	require.NoError(t, json.Unmarshal([]byte(p.ok("invoices", "list", "--period", period, "--json")), &list))
	out := map[string]string{}
	for _, i := range list {
		require.NotContains(t, out, i.AccountID, "two invoices for %s", i.AccountID)
		var lines []string
		for _, l := range i.Lines {
			lines = append(lines, string(l))
		}
		out[i.AccountID] = fmt.Sprintf("%s %s %s %s %s", i.Subtotal, i.Discount, i.Tax, i.Total, strings.Join(lines, ","))
	}
	return out
}

func numbersAreGapless(t *testing.T, pool *pgxpool.Pool) {
	t.Helper()
	var n, max int
	require.NoError(t, pool.QueryRow(context.Background(),
		`SELECT count(*), coalesce(max(substr(number, 10)::int), 0) FROM invoices WHERE number IS NOT NULL`).Scan(&n, &max))
	require.Equal(t, n, max, "numbers 1..%d have holes or repeats", max)
}

// TestKilledWorkerLosesNothing kills a worker process with SIGKILL in the
// middle of a run (once while drafting, once while finalizing), restarts
// it, and expects exactly the invoices of an uninterrupted run, with
// gapless numbers.
func TestKilledWorkerLosesNothing(t *testing.T) {
	if testing.Short() {
		t.Skip("kills and restarts processes for about a minute")
	}
	t.Parallel()
	dir := t.TempDir()
	writeDataset(t, dir, 2000)
	// Small shards and chunks make the run long enough to be interrupted;
	// a short rescue delay brings the killed worker's jobs back quickly.
	// A job cut off by the short timeout on a loaded machine is retried
	// within seconds (BILLING_RETRY_MAX), not after River's minute-long
	// backoff, which --until-idle would not wait for.
	env := []string{"BILLING_SHARD_SIZE=20", "BILLING_FINALIZE_CHUNK=25", "BILLING_JOB_TIMEOUT=2s", "BILLING_RESCUE_AFTER=3s", "BILLING_RETRY_MAX=3s"}

	load := func(p *proc) {
		for _, f := range []string{"catalog", "accounts", "usage"} {
			p.ok(strings.Split(f, "_")[0], "import", filepath.Join(dir, f+".ndjson"))
		}
	}

	// The reference: one uninterrupted run.
	refDB := dbtest.New(t)
	ref := newProc(t, refDB.URL, env...)
	load(ref)
	ref.ok("run", "--period", "2026-10")
	ref.ok("worker", "--until-idle")
	want := billed(t, ref, "2026-10")
	require.Greater(t, len(want), 1500)

	db := dbtest.New(t)
	p := newProc(t, db.URL, env...)
	load(p)
	p.ok("run", "--period", "2026-10")
	ctx := context.Background()
	progress := func() (shardsDone, shards, finalized, drafted int) {
		require.NoError(t, db.Pool.QueryRow(ctx, `SELECT shards_done, shards_total, invoices_finalized, invoices_drafted FROM billing_runs`).
			Scan(&shardsDone, &shards, &finalized, &drafted))
		return
	}
	killWhen := func(what string, cond func() bool) {
		t.Helper()
		w := p.cmd("worker")
		logf, err := os.Create(filepath.Join(dir, "worker-"+strings.ReplaceAll(what, " ", "-")+".log"))
		require.NoError(t, err)
		defer logf.Close()
		w.Stdout, w.Stderr = logf, logf
		require.NoError(t, w.Start())
		deadline := time.Now().Add(2 * time.Minute)
		for !cond() {
			require.True(t, time.Now().Before(deadline), "never reached: %s", what)
			time.Sleep(10 * time.Millisecond)
		}
		require.NoError(t, w.Process.Signal(syscall.SIGKILL))
		_ = w.Wait()
		s, st, f, d := progress()
		t.Logf("killed while %s: shards %d/%d, invoices %d/%d", what, s, st, f, d)
	}
	killWhen("drafting", func() bool { s, st, _, _ := progress(); return s > 5 && s < st-5 })
	killWhen("finalizing", func() bool { _, _, f, d := progress(); return f > 100 && f < d-100 })

	start := time.Now()
	p.ok("worker", "--until-idle")
	t.Logf("the restarted worker finished in %s", time.Since(start).Round(time.Second))

	got := billed(t, p, "2026-10")
	if len(got) != len(want) {
		// Say why the run stopped short: the jobs that are not done.
		rows, err := db.Pool.Query(ctx, `SELECT id, kind, state, attempt, scheduled_at, coalesce(errors[array_upper(errors, 1)]->>'error', '')
			FROM river_job WHERE state NOT IN ('completed') ORDER BY id`)
		require.NoError(t, err)
		for rows.Next() {
			var id int64
			var kind, state, msg string
			var attempt int
			var at time.Time
			require.NoError(t, rows.Scan(&id, &kind, &state, &attempt, &at, &msg))
			t.Logf("job %d %s %s attempt %d scheduled %s: %s", id, kind, state, attempt, at.Format(time.RFC3339), msg)
		}
		rows.Close()
	}
	require.Equal(t, len(want), len(got))
	var diff []string
	for acc, w := range want {
		if got[acc] != w {
			diff = append(diff, fmt.Sprintf("%s: got %s, want %s", acc, got[acc], w))
		}
	}
	sort.Strings(diff)
	require.Empty(t, diff)
	numbersAreGapless(t, db.Pool)

	var drafts int
	require.NoError(t, db.Pool.QueryRow(ctx, `SELECT count(*) FROM invoices WHERE status = 'draft'`).Scan(&drafts))
	require.Zero(t, drafts)
}
