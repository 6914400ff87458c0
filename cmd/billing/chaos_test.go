package main

import (
	"context"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/billingengine/engine/internal/benchdata"
	"github.com/billingengine/engine/internal/dbtest"
	"github.com/billingengine/engine/internal/notify"
)

// TestChaos runs a month on three worker processes while the harness
// SIGKILLs a random worker every few hundred milliseconds and restarts it,
// crashes Postgres once in the middle of the run, and makes the sandbox
// processor fail before charging, time out after charging, or stall, on a
// share of calls. Then the books must be exactly those of an undisturbed
// run: the audit finds nothing, every account has exactly the invoice the
// reference run gave it, numbers are gapless, no draft is left, and no
// invoice was charged more than it asked. Every event of the month reached
// a webhook receiver that fails 30% of first tries, at least once, and
// each invoice has exactly one invoice.finalized event.
//
// Everything random comes from the seed, so a failure replays with
// CHAOS_SEED=n CHAOS_SEEDS=1. CHAOS_SEEDS (default 1) seeds run in a row,
// on CHAOS_ACCOUNTS accounts (default 1000), each with a storm of at most
// CHAOS_STORM (default 40s); `make chaos` runs 20 longer ones. The
// timing of the operating system is not seeded: a replay reproduces the
// schedule of kills and faults, not every interleaving.
func TestChaos(t *testing.T) {
	if testing.Short() {
		t.Skip("kills processes and crashes a Postgres server for a minute or more")
	}
	t.Parallel()
	seeds, first, accounts := envInt(t, "CHAOS_SEEDS", 1), envInt(t, "CHAOS_SEED", 1), envInt(t, "CHAOS_ACCOUNTS", 1000)
	stormFor := 40 * time.Second
	if v := os.Getenv("CHAOS_STORM"); v != "" {
		d, err := time.ParseDuration(v)
		require.NoError(t, err, "CHAOS_STORM")
		stormFor = d
	}
	cluster := dbtest.NewCluster(t)
	dir := t.TempDir()
	writeBenchData(t, dir, benchdata.Params{Accounts: accounts, Segments: accounts * 20, Seed: 1, Period: "2026-10"})

	// Small shards and chunks make many jobs to interrupt; short timeouts
	// bring the jobs of a killed worker back within seconds.
	env := []string{"BILLING_SHARD_SIZE=50", "BILLING_FINALIZE_CHUNK=100", "BILLING_JOB_TIMEOUT=3s",
		"BILLING_RESCUE_AFTER=4s", "BILLING_RETRY_MAX=2s", "SANDBOX_SEPA_DELAY=1s", "BILLING_WEBHOOK_SWEEP=200ms"}
	load := func(p *proc) {
		p.ok("migrate")
		for _, f := range []string{"catalog", "accounts", "usage"} {
			p.ok(f, "import", filepath.Join(dir, f+".ndjson"))
		}
	}

	ref := newProc(t, cluster.CreateDatabase("reference"), env...)
	load(ref)
	ref.ok("run", "--period", "2026-10")
	ref.ok("worker", "--until-idle")
	want := billed(t, ref, "2026-10")
	require.Greater(t, len(want), accounts/2)

	for seed := first; seed < first+seeds; seed++ {
		ok := t.Run(fmt.Sprintf("seed=%d", seed), func(t *testing.T) {
			start := time.Now()
			url := cluster.CreateDatabase(fmt.Sprintf("chaos_%d", seed))
			p := newProc(t, url, env...)
			load(p)
			hook := startChaosReceiver(t, p)
			// The workers' logs outlive a failed test, for the post-mortem.
			logs, err := os.MkdirTemp("", fmt.Sprintf("chaos-seed-%d-", seed))
			require.NoError(t, err)
			t.Cleanup(func() {
				if !t.Failed() {
					_ = os.RemoveAll(logs)
				}
			})
			h := &chaos{t: t, p: p, dir: logs, rng: rand.New(rand.NewPCG(uint64(seed), 0x6368616f73))}
			pool, err := pgxpool.New(context.Background(), url)
			require.NoError(t, err)
			defer pool.Close()

			for i := range 3 {
				h.start(i)
			}
			t.Cleanup(h.stopAll) // a failed test leaves no process behind
			p.ok("run", "--period", "2026-10")
			h.storm(pool, cluster, stormFor)
			h.stopAll()
			t.Logf("seed %d: %d kills, Postgres crashed after %s, storm over after %s",
				seed, h.kills, h.crashedAt.Round(time.Millisecond), time.Since(start).Round(time.Second))

			// Whatever the storm left due (retries, rescued jobs) runs to
			// the end on a calm worker.
			p.ok("worker", "--until-idle")
			h.check(pool, want)
			h.checkEvents(pool, hook)
			t.Logf("seed %d: passed in %s", seed, time.Since(start).Round(time.Second))
		})
		if !ok {
			t.Fatalf("seed %d failed: replay it with CHAOS_SEED=%d CHAOS_SEEDS=1 (worker logs are in the test's output above)", seed, seed)
		}
	}
}

func envInt(t *testing.T, name string, def int) int {
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	require.NoError(t, err, name)
	return n
}

func writeBenchData(t *testing.T, dir string, p benchdata.Params) {
	for name, gen := range map[string]func(io.Writer, benchdata.Params) error{
		"catalog.ndjson": benchdata.Catalog, "accounts.ndjson": benchdata.Accounts, "usage.ndjson": benchdata.Usage,
	} {
		f, err := os.Create(filepath.Join(dir, name))
		require.NoError(t, err)
		require.NoError(t, gen(f, p))
		require.NoError(t, f.Close())
	}
}

// chaos is the harness: three worker slots, each running a process that
// may be killed and replaced at any time.
type chaos struct {
	t         *testing.T
	p         *proc
	dir       string
	rng       *rand.Rand
	workers   [3]*exec.Cmd
	done      [3]chan struct{}
	started   int
	kills     int
	crashedAt time.Duration
}

func (h *chaos) start(i int) {
	h.started++
	// Each process gets its own fault sequence, drawn from the seed.
	faults := fmt.Sprintf("SANDBOX_FAULTS=before=0.1,after=0.1,slow=0.05,slow_for=500ms,seed=%d", h.rng.Uint64())
	c := h.p.cmd("worker")
	c.Env = append(c.Env, faults, "BILLING_LOG_LEVEL=info")
	logf, err := os.Create(filepath.Join(h.dir, fmt.Sprintf("worker-%d-%03d.log", i, h.started)))
	require.NoError(h.t, err)
	c.Stdout, c.Stderr = logf, logf
	require.NoError(h.t, c.Start())
	done := make(chan struct{})
	go func() { _ = c.Wait(); logf.Close(); close(done) }()
	h.workers[i], h.done[i] = c, done
}

func (h *chaos) kill(i int) {
	select {
	case <-h.done[i]:
		return // already gone
	default:
	}
	_ = h.workers[i].Process.Signal(syscall.SIGKILL)
	<-h.done[i]
	h.kills++
}

// storm kills and restarts a random worker every 100–600 ms until the run
// is complete or stormFor has passed, and crashes Postgres once: when a
// third of the invoices are finalized, or two thirds into the storm.
//
// A killed worker's jobs wait for River's rescuer, which runs every 30
// seconds on the leader: under a storm this fast the run mostly waits, so
// the storm is bounded and calm workers finish what it leaves.
func (h *chaos) storm(pool *pgxpool.Pool, cluster *dbtest.Cluster, stormFor time.Duration) {
	t := h.t
	began := time.Now()
	deadline := began.Add(5 * time.Minute)
	crashed := false
	for {
		if time.Now().After(deadline) {
			h.stopAll()
			rows, _ := pool.Query(context.Background(), `SELECT kind || ' ' || state || ' ' || count(*) FROM river_job GROUP BY kind, state ORDER BY 1`)
			jobs, _ := pgx.CollectRows(rows, pgx.RowTo[string])
			var run string
			_ = pool.QueryRow(context.Background(), `SELECT row_to_json(r)::text FROM billing_runs r ORDER BY id DESC LIMIT 1`).Scan(&run)
			t.Fatalf("the run did not finish within 5 minutes of chaos; worker logs in %s\nrun: %s\njobs: %s", h.dir, run, strings.Join(jobs, "\n  "))
		}
		time.Sleep(time.Duration(100+h.rng.IntN(500)) * time.Millisecond)
		i := h.rng.IntN(3)
		h.kill(i)
		h.start(i)

		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		var state string
		var finalized, drafted int
		err := pool.QueryRow(ctx, `SELECT state, invoices_finalized, invoices_drafted FROM billing_runs ORDER BY id DESC LIMIT 1`).
			Scan(&state, &finalized, &drafted)
		cancel()
		if err != nil {
			continue // Postgres is coming back
		}
		if !crashed && (drafted > 0 && finalized*3 >= drafted || time.Since(began) > stormFor*2/3) {
			crashed = true
			h.crashedAt = time.Since(began)
			t.Logf("crashing Postgres: %d of %d invoices finalized", finalized, drafted)
			cluster.Crash(time.Second)
			pool.Reset()
		}
		if crashed && (state == "completed" || time.Since(began) > stormFor) {
			return
		}
	}
}

func (h *chaos) stopAll() {
	for i := range h.workers {
		h.kill(i)
	}
}

// check compares the books with the reference run's and the processor's.
func (h *chaos) check(pool *pgxpool.Pool, want map[string]string) {
	t := h.t
	ctx := context.Background()

	var report struct {
		Violations []json.RawMessage `json:"violations"`
	}
	out := h.p.ok("audit", "--json")
	require.NoError(t, json.Unmarshal([]byte(out), &report), out)
	require.Empty(t, report.Violations, out)

	got := billed(t, h.p, "2026-10")
	var diff []string
	for acc, w := range want {
		if got[acc] != w {
			diff = append(diff, fmt.Sprintf("%s: got %q, want %q", acc, got[acc], w))
		}
	}
	for acc := range got {
		if _, ok := want[acc]; !ok {
			diff = append(diff, acc+": billed, but not by the reference run")
		}
	}
	sort.Strings(diff)
	require.Empty(t, diff)
	numbersAreGapless(t, pool)

	var drafts, pendingAttempts, overcharged int
	require.NoError(t, pool.QueryRow(ctx, `SELECT count(*) FROM invoices WHERE status = 'draft'`).Scan(&drafts))
	require.Zero(t, drafts, "drafts left")
	require.NoError(t, pool.QueryRow(ctx, `SELECT count(*) FROM payment_attempts WHERE state = 'pending'`).Scan(&pendingAttempts))
	require.Zero(t, pendingAttempts, "attempts whose outcome was never learned")
	// What the processor actually took, per invoice, never exceeds what the
	// invoice asked of it.
	require.NoError(t, pool.QueryRow(ctx, `
		SELECT count(*) FROM (
		    SELECT i.number FROM sandbox_charges c
		    JOIN payment_attempts a USING (idempotency_key) JOIN invoices i ON i.id = a.invoice_id
		    WHERE coalesce(c.settled_outcome, c.outcome) = 'succeeded'
		    GROUP BY i.number, i.total, i.credit_applied HAVING sum(c.amount) > i.total - i.credit_applied) x`).Scan(&overcharged))
	require.Zero(t, overcharged, "invoices charged more than they asked")

	var charges int
	require.NoError(t, pool.QueryRow(ctx, `SELECT count(*) FROM sandbox_charges`).Scan(&charges))
	require.Positive(t, charges)
	t.Logf("%d invoices, %d charges taken by the processor", len(got), charges)
	if t.Failed() {
		logs, _ := filepath.Glob(filepath.Join(h.dir, "*.log"))
		for _, l := range logs {
			b, _ := os.ReadFile(l)
			if strings.Contains(string(b), "level=ERROR") {
				t.Logf("%s:\n%s", l, b)
			}
		}
	}
}

// chaosReceiver is a webhook endpoint that verifies signatures and fails
// 30% of first tries.
type chaosReceiver struct {
	mu       sync.Mutex
	secret   string
	tries    map[string]int
	accepted map[string]int
	badSigs  int
}

func startChaosReceiver(t *testing.T, p *proc) *chaosReceiver {
	r := &chaosReceiver{tries: map[string]int{}, accepted: map[string]int{}}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		id := req.Header.Get(notify.HeaderID)
		r.mu.Lock()
		defer r.mu.Unlock()
		if notify.Verify(r.secret, id, req.Header.Get(notify.HeaderTimestamp), req.Header.Get(notify.HeaderSignature), body, time.Now()) != nil {
			r.badSigs++
			http.Error(w, "bad signature", http.StatusBadRequest)
			return
		}
		r.tries[id]++
		h := fnv.New32a()
		h.Write([]byte(id))
		if r.tries[id] == 1 && h.Sum32()%10 < 3 {
			http.Error(w, "try later", http.StatusInternalServerError)
			return
		}
		r.accepted[id]++
	}))
	t.Cleanup(srv.Close)
	var ep struct {
		Secret string `json:"secret"`
	}
	require.NoError(t, json.Unmarshal([]byte(p.ok("webhooks", "add", "--url", srv.URL, "--json")), &ep))
	r.mu.Lock()
	r.secret = ep.Secret
	r.mu.Unlock()
	return r
}

// checkEvents lets a calm worker deliver what the storm left pending,
// then checks that every event reached the receiver and that each invoice
// was announced once.
func (h *chaos) checkEvents(pool *pgxpool.Pool, r *chaosReceiver) {
	t := h.t
	ctx := context.Background()
	h.start(0)
	defer h.kill(0)
	deadline := time.Now().Add(3 * time.Minute)
	for {
		var pending int
		require.NoError(t, pool.QueryRow(ctx, `SELECT count(*) FROM webhook_deliveries WHERE state <> 'delivered'`).Scan(&pending))
		if pending == 0 {
			break
		}
		require.True(t, time.Now().Before(deadline), "%d webhook deliveries not delivered after the storm", pending)
		time.Sleep(100 * time.Millisecond)
	}
	rows, err := pool.Query(ctx, `SELECT id FROM events`)
	require.NoError(t, err)
	ids, err := pgx.CollectRows(rows, pgx.RowTo[string])
	require.NoError(t, err)
	r.mu.Lock()
	defer r.mu.Unlock()
	require.Zero(t, r.badSigs)
	again := 0
	for _, id := range ids {
		require.Positive(t, r.accepted[id], "event %s never reached the receiver", id)
		again += r.accepted[id] - 1
	}
	require.Len(t, r.accepted, len(ids), "the receiver got only events")

	var invoicesN, finalized, distinct, runs int
	require.NoError(t, pool.QueryRow(ctx, `SELECT count(*) FROM invoices WHERE status <> 'draft'`).Scan(&invoicesN))
	require.NoError(t, pool.QueryRow(ctx, `SELECT count(*), count(DISTINCT data->>'number') FROM events WHERE type = 'invoice.finalized'`).Scan(&finalized, &distinct))
	require.NoError(t, pool.QueryRow(ctx, `SELECT count(*) FROM events WHERE type = 'run.completed'`).Scan(&runs))
	require.Equal(t, invoicesN, finalized, "one invoice.finalized per invoice")
	require.Equal(t, finalized, distinct)
	require.Equal(t, 1, runs)
	t.Logf("%d events, each delivered at least once (%d again, after a kill cut off the record of a 2xx)", len(ids), again)
}
