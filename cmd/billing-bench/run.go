package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/billingengine/engine/internal/benchdata"
)

// result is one measured phase.
type result struct {
	Phase  string  `json:"phase"`
	Value  float64 `json:"value"`
	Unit   string  `json:"unit"`
	Target string  `json:"target,omitempty"`
	Met    *bool   `json:"met,omitempty"`
	Detail string  `json:"detail"`
}

type bench struct {
	bin     string
	url     string
	dir     string
	logDir  string
	p       benchdata.Params
	workers int
	// webhook subscribes a local receiver to every event before the run,
	// so that the run's figures include the deliveries' cost.
	webhook   bool
	received  *receiver
	delivered time.Duration // from the run's start to the last event delivered
	// mailpit is the script that starts the SMTP server the emails are
	// handed to (scripts/mailpit); none: emails are not measured.
	mailpit string
	// stream pipes the generated usage into the import instead of writing
	// it to a file first (large data sets: 50,000,000 segments are 8 GB).
	stream bool
	// pprofSeconds: the first worker of the run and of the documents
	// serves pprof and the harness keeps a CPU profile of each phase's
	// first that many seconds in the logs directory (run.cpu.pprof,
	// documents.cpu.pprof).
	pprofSeconds int
	// extraEnv and extraFlags are added to the next workers started.
	extraEnv, extraFlags []string
	// How long each phase of the month took, for the end-to-end figure.
	ingestTook, runTook, docsTook, emailsTook time.Duration
	pgss                                      bool // pg_stat_statements answers
	pool                                      *pgxpool.Pool
	results                                   []result
	log                                       io.Writer
}

// runBench generates the data set into a fresh database (DATABASE_URL) and
// measures every phase with the real binary and real worker processes.
func runBench(args []string) error {
	fs := flag.NewFlagSet("run", flag.ExitOnError)
	b := &bench{log: os.Stderr}
	fs.IntVar(&b.p.Accounts, "accounts", 100_000, "accounts")
	fs.IntVar(&b.p.Segments, "segments", 5_000_000, "usage segments")
	fs.Uint64Var(&b.p.Seed, "seed", 1, "random seed")
	fs.StringVar(&b.p.Period, "period", "2026-10", "the month billed")
	fs.IntVar(&b.workers, "workers", 1, "worker processes")
	fs.StringVar(&b.bin, "billing", "bin/billing", "the billing binary")
	jsonOut := fs.String("json", "", "also write the results as JSON to this file")
	logs := fs.String("logs", "", "keep the workers' logs in this directory")
	fs.BoolVar(&b.webhook, "webhook", false, "subscribe a local webhook receiver to every event during the run")
	fs.IntVar(&b.pprofSeconds, "pprof-seconds", 0, "profile the first worker of the run and of the documents for this many seconds (run.cpu.pprof, documents.cpu.pprof in -logs)")
	streamMode := fs.String("stream", "auto", "pipe the usage from the generator into the import: on, off, or auto (on above 10,000,000 segments)")
	fs.StringVar(&b.mailpit, "mailpit", "", "the script that starts mailpit on given ports (scripts/mailpit): the emails are handed to it")
	_ = fs.Parse(args)
	switch *streamMode {
	case "on":
		b.stream = true
	case "off":
	case "auto":
		b.stream = b.p.Segments > 10_000_000
	default:
		return fmt.Errorf("-stream %q: want on, off or auto", *streamMode)
	}
	b.url = os.Getenv("DATABASE_URL")
	if b.url == "" {
		return fmt.Errorf("DATABASE_URL must name a fresh database (make bench creates one)")
	}
	ctx := context.Background()
	var err error
	if b.pool, err = pgxpool.New(ctx, b.url); err != nil {
		return err
	}
	defer b.pool.Close()
	if b.dir, err = os.MkdirTemp("", "billing-bench-"); err != nil {
		return err
	}
	defer func() { _ = os.RemoveAll(b.dir) }()
	b.logDir = b.dir
	if *logs != "" {
		b.logDir = *logs
		if err := os.MkdirAll(b.logDir, 0o755); err != nil {
			return err
		}
	}

	fmt.Fprintf(b.log, "bench: %d accounts, %d segments, seed %d, %d worker process(es), period %s\n",
		b.p.Accounts, b.p.Segments, b.p.Seed, b.workers, b.p.Period)
	steps := []func(context.Context) error{b.generate, b.migrate, b.ingest, b.credit, b.lowerBound, b.subscribe, b.run, b.events, b.pdfs, b.emails, b.endToEnd, b.audit}
	for _, step := range steps {
		if err := step(ctx); err != nil {
			b.print(os.Stdout)
			return err
		}
	}
	b.print(os.Stdout)
	if *jsonOut != "" {
		out, _ := json.MarshalIndent(map[string]any{"params": b.p, "workers": b.workers, "results": b.results}, "", "  ")
		return os.WriteFile(*jsonOut, append(out, '\n'), 0o644)
	}
	return nil
}

func (b *bench) add(r result) {
	b.results = append(b.results, r)
	fmt.Fprintf(b.log, "bench: %-12s %s\n", r.Phase, r.Detail)
}

func met(ok bool) *bool { return &ok }

func (b *bench) print(w io.Writer) {
	fmt.Fprintln(w)
	for _, r := range b.results {
		verdict := ""
		if r.Met != nil {
			verdict = "  ok"
			if !*r.Met {
				verdict = "  MISSED"
			}
			verdict += " (target " + r.Target + ")"
		}
		fmt.Fprintf(w, "%-12s %s%s\n", r.Phase, r.Detail, verdict)
	}
}

// env is the environment of every billing process the bench starts: its
// database, quiet logs, the sandbox processors.
func (b *bench) env() []string {
	return append(os.Environ(), "DATABASE_URL="+b.url, "BILLING_LOG_LEVEL=warn", "BILLING_PROCESSOR=sandbox", "BILLING_PAYPAL=sandbox")
}

// cli runs the billing binary and returns its stdout.
func (b *bench) cli(ctx context.Context, args ...string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, b.bin, args...)
	cmd.Env = b.env()
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		return out.Bytes(), fmt.Errorf("billing %s: %w\n%s", strings.Join(args, " "), err, lastLines(errb.String(), 20))
	}
	return out.Bytes(), nil
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

func (b *bench) generate(context.Context) error {
	start := time.Now()
	files := map[string]func(io.Writer, benchdata.Params) error{
		"catalog.ndjson": benchdata.Catalog, "accounts.ndjson": benchdata.Accounts, "usage.ndjson": benchdata.Usage,
	}
	if b.stream {
		delete(files, "usage.ndjson")
	}
	for name, gen := range files {
		f, err := os.Create(filepath.Join(b.dir, name))
		if err != nil {
			return err
		}
		if err := gen(f, b.p); err != nil {
			_ = f.Close()
			return err
		}
		if err := f.Close(); err != nil {
			return err
		}
	}
	if b.stream {
		b.add(result{Phase: "generate", Value: time.Since(start).Seconds(), Unit: "s",
			Detail: fmt.Sprintf("accounts and catalog written in %.1f s; the usage is generated as it is imported", time.Since(start).Seconds())})
		return nil
	}
	fi, err := os.Stat(filepath.Join(b.dir, "usage.ndjson"))
	if err != nil {
		return err
	}
	b.add(result{Phase: "generate", Value: time.Since(start).Seconds(), Unit: "s",
		Detail: fmt.Sprintf("data set written in %.1f s (usage.ndjson %d MB)", time.Since(start).Seconds(), fi.Size()>>20)})
	return nil
}

func (b *bench) migrate(ctx context.Context) error {
	_, err := b.cli(ctx, "migrate")
	return err
}

func (b *bench) ingest(ctx context.Context) error {
	start := time.Now()
	if _, err := b.cli(ctx, "catalog", "import", filepath.Join(b.dir, "catalog.ndjson")); err != nil {
		return err
	}
	if _, err := b.cli(ctx, "accounts", "import", filepath.Join(b.dir, "accounts.ndjson")); err != nil {
		return err
	}
	accounts := time.Since(start)
	start = time.Now()
	b.statsReset(ctx)
	defer b.statsTop(ctx, "ingest")
	if err := b.importUsage(ctx); err != nil {
		return err
	}
	d := time.Since(start)
	b.ingestTook = d + accounts
	rate := float64(b.p.Segments) / d.Seconds()
	streamed := ""
	if b.stream {
		streamed = "; streamed from the generator, whose CPU is in the figure"
	}
	b.add(result{Phase: "ingest", Value: rate, Unit: "segments/s", Target: "≥ 300,000 segments/s", Met: met(rate >= 300_000),
		Detail: fmt.Sprintf("%s segments in %.1f s: %s segments/s (accounts and catalog: %.1f s%s)", thousands(b.p.Segments), d.Seconds(), thousands(int(rate)), accounts.Seconds(), streamed)})
	_, err := b.pool.Exec(ctx, `VACUUM ANALYZE`)
	return err
}

// importUsage runs billing usage import on the generated file or, when
// streaming, on its standard input fed by the generator.
func (b *bench) importUsage(ctx context.Context) error {
	if !b.stream {
		_, err := b.cli(ctx, "usage", "import", filepath.Join(b.dir, "usage.ndjson"))
		return err
	}
	cmd := exec.CommandContext(ctx, b.bin, "usage", "import", "--format", "ndjson", "-")
	cmd.Env = b.env()
	in, err := cmd.StdinPipe()
	if err != nil {
		return err
	}
	var errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = io.Discard, &errb
	if err := cmd.Start(); err != nil {
		return err
	}
	genErr := benchdata.Usage(in, b.p)
	_ = in.Close()
	if err := cmd.Wait(); err != nil {
		return fmt.Errorf("billing usage import -: %w\n%s", err, lastLines(errb.String(), 20))
	}
	return genErr
}

// credit gives one account in twenty 20.00 of prepaid credit, as finance
// would have: the harness writes the ledger directly, set-based.
func (b *bench) credit(ctx context.Context) error {
	_, err := b.pool.Exec(ctx, `
		WITH chosen AS (SELECT id FROM accounts WHERE right(id, 2)::int % 20 = 7)
		, ledger AS (
		    INSERT INTO credit_ledger (account_id, kind, amount, balance_after, reference)
		    SELECT id, 'manual_credit', 20.00, 20.00, 'bench:' || id FROM chosen RETURNING account_id)
		UPDATE accounts a SET credit_balance = 20.00 FROM ledger l WHERE a.id = l.account_id`)
	return err
}

// lowerBound times the least any run must do: one SQL GROUP BY summing the
// period's usage per (account, app, resource), best of three.
func (b *bench) lowerBound(ctx context.Context) error {
	const q = `
		SELECT count(*), sum(seconds) FROM (
		    SELECT account_id, app, resource,
		           sum(quantity * extract(epoch FROM least(coalesce(ended_at, $2), $2) - greatest(started_at, $1))) AS seconds
		    FROM usage_segments
		    WHERE started_at < $2 AND (ended_at IS NULL OR ended_at > $1)
		    GROUP BY account_id, app, resource) g`
	start, _ := time.Parse("2006-01", b.p.Period)
	end := start.AddDate(0, 1, 0)
	best := time.Duration(1 << 62)
	var groups int64
	for range 3 {
		t := time.Now()
		var secs float64
		if err := b.pool.QueryRow(ctx, q, start, end).Scan(&groups, &secs); err != nil {
			return err
		}
		best = min(best, time.Since(t))
	}
	b.add(result{Phase: "lower bound", Value: best.Seconds(), Unit: "s",
		Detail: fmt.Sprintf("SQL GROUP BY of the period's usage per (account, app, resource): %s groups in %.2f s (best of 3)", thousands(int(groups)), best.Seconds())})
	return nil
}

// workers starts n worker processes on queues.
func (b *bench) startWorkers(n int, queues string) ([]*exec.Cmd, error) {
	var cmds []*exec.Cmd
	for i := range n {
		args := []string{"worker", "--queues", queues}
		if i == 0 {
			args = append(args, b.extraFlags...)
		}
		cmd := exec.Command(b.bin, args...) //nolint:noctx // stopped by a signal, to finish its jobs, not killed by a context
		cmd.Env = append(b.env(), "BILLING_SCHEDULE=off", "BILLING_DUNNING_SCHEDULE=off")
		cmd.Env = append(cmd.Env, b.extraEnv...)
		logf, err := os.Create(filepath.Join(b.logDir, fmt.Sprintf("worker-%s-%d.log", strings.ReplaceAll(queues, ",", "-"), i)))
		if err != nil {
			return nil, err
		}
		cmd.Stdout, cmd.Stderr = logf, logf
		if err := cmd.Start(); err != nil {
			return nil, err
		}
		cmds = append(cmds, cmd)
	}
	return cmds, nil
}

// stopWorkers stops workers gracefully and returns the largest peak RSS
// and the CPU time they used.
func stopWorkers(cmds []*exec.Cmd) (maxRSS int64, cpu time.Duration) {
	for _, c := range cmds {
		_ = c.Process.Signal(syscall.SIGTERM)
	}
	for _, c := range cmds {
		_ = c.Wait()
		if ru, ok := c.ProcessState.SysUsage().(*syscall.Rusage); ok {
			maxRSS = max(maxRSS, ru.Maxrss*1024)
		}
		cpu += c.ProcessState.UserTime() + c.ProcessState.SystemTime()
	}
	return maxRSS, cpu
}

// machineCPU reads the CPU time the whole machine spent busy, from
// /proc/stat (zero where there is none).
func machineCPU() time.Duration {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0
	}
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line)
	var busy int64
	for i, v := range f[1:] {
		var n int64
		_, _ = fmt.Sscan(v, &n) // a field that is not a number counts as 0
		if i != 3 && i != 4 {   // idle, iowait
			busy += n
		}
	}
	return time.Duration(busy) * time.Second / 100 // USER_HZ
}

// waitFor polls until cond holds.
func waitFor(ctx context.Context, cond func() (bool, error)) error {
	return waitForEvery(ctx, 50*time.Millisecond, cond)
}

// waitForEvery polls every interval until cond holds.
func waitForEvery(ctx context.Context, interval time.Duration, cond func() (bool, error)) error {
	for {
		ok, err := cond()
		if err != nil || ok {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(interval):
		}
	}
}

// pending counts the jobs of queues not yet done. The live states are
// named, not the final ones excluded: River's (state, queue, …) index then
// reads the live jobs only, where NOT IN read every job the month left
// (17 ms a poll at 1,000,000 accounts, a quarter of a core taken from the
// phase measured).
func (b *bench) pending(ctx context.Context, queues ...string) (int, error) {
	var n int
	err := b.pool.QueryRow(ctx, `
		SELECT count(*) FROM river_job
		WHERE state IN ('available', 'pending', 'retryable', 'running', 'scheduled') AND queue = ANY($1)`, queues).Scan(&n)
	return n, err
}

// startProfiledWorkers starts the phase's workers, the first one serving
// pprof when -pprof-seconds asks for a profile, and lets them connect.
// profiled closes once the profile is saved as bench-logs/name (at once
// without one): stopping the workers before would cut it short.
func (b *bench) startProfiledWorkers(ctx context.Context, queues, name string) (cmds []*exec.Cmd, profiled chan struct{}, err error) {
	var pprofAddr string
	if b.pprofSeconds > 0 {
		port, err := freePort(ctx)
		if err != nil {
			return nil, nil, err
		}
		pprofAddr = fmt.Sprintf("127.0.0.1:%d", port)
		b.extraFlags = []string{"--pprof", pprofAddr}
	}
	cmds, err = b.startWorkers(b.workers, queues)
	b.extraFlags = nil
	if err != nil {
		return nil, nil, err
	}
	time.Sleep(500 * time.Millisecond) // let them connect: the phase, not their start, is timed
	profiled = make(chan struct{})
	if pprofAddr != "" {
		go func() { defer close(profiled); b.profile(ctx, pprofAddr, name) }()
	} else {
		close(profiled)
	}
	return cmds, profiled, nil
}

// run measures the monthly run, from the command to the last first
// collection attempt (and SEPA settlement) done.
func (b *bench) run(ctx context.Context) error {
	queues := "billing,payments,default"
	if b.webhook {
		queues += ",webhooks"
	}
	cmds, profiled, err := b.startProfiledWorkers(ctx, queues, "run.cpu.pprof")
	if err != nil {
		return err
	}
	b.statsReset(ctx)
	defer b.statsTop(ctx, "run")
	start, cpuStart := time.Now(), machineCPU()
	out, err := b.cli(ctx, "run", "--period", b.p.Period)
	if err != nil {
		_, _ = stopWorkers(cmds)
		return err
	}
	var started struct {
		RunID int64 `json:"run_id"`
	}
	if err := json.Unmarshal(out, &started); err != nil {
		_, _ = stopWorkers(cmds)
		return err
	}
	var finalized time.Duration
	err = waitFor(ctx, func() (bool, error) {
		var state string
		if err := b.pool.QueryRow(ctx, `SELECT state FROM billing_runs WHERE id = $1`, started.RunID).Scan(&state); err != nil {
			return false, err
		}
		if state != "completed" {
			return false, nil
		}
		if finalized == 0 {
			finalized = time.Since(start)
		}
		n, err := b.pending(ctx, "billing", "payments", "default")
		return n == 0, err
	})
	wall := time.Since(start)
	b.runTook = wall
	if err == nil && b.webhook {
		// The deliveries go on after the billing is done: the receiver
		// is timed apart, with the same workers.
		err = waitFor(ctx, func() (bool, error) {
			var undelivered int
			err := b.pool.QueryRow(ctx, `SELECT count(*) FROM webhook_deliveries WHERE state = 'pending'`).Scan(&undelivered)
			return undelivered == 0, err
		})
		b.delivered = time.Since(start)
	}
	machine := machineCPU() - cpuStart
	<-profiled // a profile longer than the run ends before its worker does
	rss, workerCPU := stopWorkers(cmds)
	if err != nil {
		return err
	}
	var accounts, invoices, attempts int
	if err := b.pool.QueryRow(ctx, `SELECT accounts_total, invoices_finalized, (SELECT count(*) FROM payment_attempts) FROM billing_runs WHERE id = $1`, started.RunID).
		Scan(&accounts, &invoices, &attempts); err != nil {
		return err
	}
	var lower float64
	for _, r := range b.results {
		if r.Phase == "lower bound" {
			lower = r.Value
		}
	}
	rate := float64(accounts) / wall.Seconds()
	b.add(result{Phase: "run", Value: wall.Seconds(), Unit: "s",
		Detail: fmt.Sprintf("%s accounts, %s invoices, %s charges: %.1f s (%.1f s to the last invoice finalized): %s accounts/s",
			thousands(accounts), thousands(invoices), thousands(attempts), wall.Seconds(), finalized.Seconds(), thousands(int(rate)))})
	ratio := wall.Seconds() / lower
	b.add(result{Phase: "ratio", Value: ratio, Unit: "×", Target: "≤ 3×", Met: met(ratio <= 3),
		Detail: fmt.Sprintf("run / lower bound = %.1f s / %.2f s = %.1f×", wall.Seconds(), lower, ratio)})
	b.add(result{Phase: "rss", Value: float64(rss) / (1 << 20), Unit: "MiB", Target: "≤ 1 GiB", Met: met(rss <= 1<<30),
		Detail: fmt.Sprintf("worker peak RSS %d MiB (largest of %d)", rss>>20, len(cmds))})
	b.add(result{Phase: "cpu", Value: machine.Seconds(), Unit: "s",
		Detail: fmt.Sprintf("during the run the machine was busy %.1f s of %.1f s × %d cores: workers %.1f s, Postgres and the rest %.1f s",
			machine.Seconds(), wall.Seconds(), runtime.NumCPU(), workerCPU.Seconds(), (machine - workerCPU).Seconds())})
	return nil
}

// pdfs measures rendering: the run queued one render job per invoice;
// dedicated document workers render and store them.
func (b *bench) pdfs(ctx context.Context) error {
	n, err := b.pending(ctx, "documents")
	if err != nil {
		return err
	}
	b.statsReset(ctx)
	defer b.statsTop(ctx, "documents")
	cmds, profiled, err := b.startProfiledWorkers(ctx, "documents", "documents.cpu.pprof")
	if err != nil {
		return err
	}
	start, busy0 := time.Now(), machineCPU()
	err = waitFor(ctx, func() (bool, error) {
		left, err := b.pending(ctx, "documents")
		return left == 0, err
	})
	d := time.Since(start)
	busy := machineCPU() - busy0
	b.docsTook = d
	<-profiled
	rss, workersCPU := stopWorkers(cmds)
	if err != nil {
		return err
	}
	var docs int
	if err := b.pool.QueryRow(ctx, `SELECT count(*) FROM documents`).Scan(&docs); err != nil {
		return err
	}
	rate := float64(docs) / d.Seconds()
	var facturX int
	if err := b.pool.QueryRow(ctx, `SELECT count(*) FROM documents WHERE xml IS NOT NULL`).Scan(&facturX); err != nil {
		facturX = -1
	}
	b.add(result{Phase: "documents", Value: rate, Unit: "documents/s", Target: "≥ 2,000 documents/s", Met: met(rate >= 2000),
		Detail: fmt.Sprintf("%s render jobs, %s documents stored (%s with a Factur-X XML) in %.1f s: %s documents/s (peak RSS %d MiB); "+
			"the machine busy %.1f s of %.1f s × %d cores: workers %.1f s, Postgres and the rest %.1f s",
			thousands(n), thousands(docs), thousands(facturX), d.Seconds(), thousands(int(rate)), rss>>20,
			busy.Seconds(), d.Seconds(), runtime.NumCPU(), workersCPU.Seconds(), (busy - workersCPU).Seconds())})
	return nil
}

func (b *bench) audit(ctx context.Context) error {
	start := time.Now()
	out, err := b.cli(ctx, "audit")
	violations := strings.Count(string(out), "\n")
	if err != nil && violations == 0 {
		return err
	}
	b.add(result{Phase: "audit", Value: float64(violations), Unit: "violations", Target: "0", Met: met(violations == 0),
		Detail: fmt.Sprintf("billing audit: %d violations in %.1f s", violations, time.Since(start).Seconds())})
	if violations > 0 {
		fmt.Fprint(b.log, lastLines(string(out), 20))
	}
	return nil
}

// thousands writes 1234567 as 1,234,567.
func thousands(n int) string {
	s := fmt.Sprint(n)
	var out []byte
	for i := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			out = append(out, ',')
		}
		out = append(out, s[i])
	}
	return string(out)
}

// receiver is the bench's webhook endpoint: it answers 204 and counts.
type receiver struct {
	mu    sync.Mutex
	posts int
	ids   map[string]bool
}

func (r *receiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	_, _ = io.Copy(io.Discard, req.Body)
	r.mu.Lock()
	r.posts++
	r.ids[req.Header.Get("webhook-id")] = true
	r.mu.Unlock()
	w.WriteHeader(http.StatusNoContent)
}

// subscribe starts the receiver and registers it for every event type,
// when -webhook asks for one.
func (b *bench) subscribe(ctx context.Context) error {
	if !b.webhook {
		return nil
	}
	b.received = &receiver{ids: map[string]bool{}}
	ln, err := (&net.ListenConfig{}).Listen(ctx, "tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: b.received, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	_, err = b.cli(ctx, "webhooks", "add", "--url", "http://"+ln.Addr().String()+"/", "--json")
	return err
}

// events reports what the run wrote to the events table and, with a
// receiver, what reached it.
func (b *bench) events(ctx context.Context) error {
	var n int
	if err := b.pool.QueryRow(ctx, `SELECT count(*) FROM events`).Scan(&n); err != nil {
		return err
	}
	detail := fmt.Sprintf("%s events written in the run's transactions", thousands(n))
	if b.received != nil {
		b.received.mu.Lock()
		detail += fmt.Sprintf("; the subscribed receiver got %s distinct events in %s POSTs, the last %.1f s after the run started",
			thousands(len(b.received.ids)), thousands(b.received.posts), b.delivered.Seconds())
		b.received.mu.Unlock()
	} else {
		detail += " (no endpoint subscribed: no delivery; -webhook subscribes one)"
	}
	b.add(result{Phase: "events", Value: float64(n), Unit: "events", Detail: detail})
	return nil
}
