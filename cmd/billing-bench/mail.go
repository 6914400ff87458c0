package main

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"sync"
	"syscall"
	"time"
)

// freePort is a TCP port on 127.0.0.1 free a moment ago.
func freePort(ctx context.Context) (int, error) {
	l, err := (&net.ListenConfig{}).Listen(ctx, "tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close() //nolint:errcheck // only the port was wanted
	return l.Addr().(*net.TCPAddr).Port, nil
}

// startMailpit starts the SMTP server the emails are handed to, through
// scripts/mailpit (which builds mailpit from the Go module proxy once),
// and waits until its SMTP port answers.
func (b *bench) startMailpit(ctx context.Context) (smtpURL string, stop func() time.Duration, err error) {
	smtp, err := freePort(ctx)
	if err != nil {
		return "", nil, err
	}
	web, err := freePort(ctx)
	if err != nil {
		return "", nil, err
	}
	cmd := exec.Command(b.mailpit, strconv.Itoa(smtp), strconv.Itoa(web)) //nolint:noctx // stopped by a signal
	// Its own store, in the bench's directory; it keeps the newest 500
	// messages, as it does by default, so that 100,000 emails do not fill
	// the disk.
	cmd.Env = append(os.Environ(), "MP_DATABASE="+filepath.Join(b.dir, "mailpit.db"), "MP_QUIET=true")
	logf, err := os.Create(filepath.Join(b.logDir, "mailpit.log"))
	if err != nil {
		return "", nil, err
	}
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		return "", nil, fmt.Errorf("starting %s: %w", b.mailpit, err)
	}
	// stop returns the CPU time mailpit used (scripts/mailpit execs it:
	// the process is mailpit's); a second call returns it again.
	var once sync.Once
	var used time.Duration
	stop = func() time.Duration {
		once.Do(func() {
			_ = cmd.Process.Signal(syscall.SIGTERM)
			_ = cmd.Wait()
			_ = logf.Close()
			used = cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()
		})
		return used
	}
	// The first use builds mailpit: give it time.
	deadline := time.Now().Add(5 * time.Minute)
	for {
		c, err := (&net.Dialer{}).DialContext(ctx, "tcp", fmt.Sprintf("127.0.0.1:%d", smtp))
		if err == nil {
			_ = c.Close()
			return fmt.Sprintf("smtp://127.0.0.1:%d", smtp), stop, nil
		}
		if time.Now().After(deadline) {
			stop()
			return "", nil, fmt.Errorf("mailpit did not answer on 127.0.0.1:%d (see %s)", smtp, logf.Name())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// emails measures the hand-off to SMTP: the run and the documents queued
// the customer emails (the run's workers have no emails queue); workers
// with the emails queue and a local mailpit send them, the invoices' PDFs
// attached, until none is pending.
func (b *bench) emails(ctx context.Context) error {
	if b.mailpit == "" {
		b.add(result{Phase: "emails", Detail: "not measured (-mailpit names the script that starts mailpit; make bench passes scripts/mailpit)"})
		return nil
	}
	var queued int
	if err := b.pool.QueryRow(ctx, `SELECT count(*) FROM emails WHERE state = 'pending'`).Scan(&queued); err != nil {
		return err
	}
	url, stop, err := b.startMailpit(ctx)
	if err != nil {
		return err
	}
	defer stop()
	b.statsReset(ctx)
	busy0 := machineCPU()
	defer b.statsTop(ctx, "emails")
	b.extraEnv = []string{"BILLING_SMTP_URL=" + url}
	cmds, err := b.startWorkers(b.workers, "emails")
	b.extraEnv = nil
	if err != nil {
		return err
	}
	start := time.Now()
	// The first pending email by the outbox's own index, twice a second:
	// counting the pending rows twenty times a second took Postgres more
	// CPU than the sending did (47 s of 355), and a bare EXISTS read the
	// sent rows before the pending ones (36 s).
	err = waitForEvery(ctx, 500*time.Millisecond, func() (bool, error) {
		var left bool
		err := b.pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM emails WHERE state = 'pending' ORDER BY next_attempt_at LIMIT 1)`).Scan(&left)
		return !left, err
	})
	d := time.Since(start)
	rss, workersCPU := stopWorkers(cmds)
	mailpitCPU := stop()
	busy := machineCPU() - busy0
	if err != nil {
		return err
	}
	b.emailsTook = d
	var sent, failed int
	if err := b.pool.QueryRow(ctx, `SELECT count(*) FILTER (WHERE state = 'sent'), count(*) FILTER (WHERE state = 'failed') FROM emails`).
		Scan(&sent, &failed); err != nil {
		return err
	}
	rate := float64(sent) / d.Seconds()
	b.add(result{Phase: "emails", Value: rate, Unit: "emails/s",
		Detail: fmt.Sprintf("%s emails queued, %s accepted by mailpit (%d failed) in %.1f s: %s emails/s handed to SMTP (peak RSS %d MiB); "+
			"the machine busy %.1f s of %.1f s × %d cores: workers %.1f s, mailpit %.1f s, Postgres and the rest %.1f s",
			thousands(queued), thousands(sent), failed, d.Seconds(), thousands(int(rate)), rss>>20,
			busy.Seconds(), d.Seconds(), runtime.NumCPU(), workersCPU.Seconds(), mailpitCPU.Seconds(),
			(busy - workersCPU - mailpitCPU).Seconds())})
	return nil
}

// endToEnd adds up the month's phases as they ran, one after the other:
// ingest, the run with its first collections and events, the documents
// and the emails. A deployment would overlap the last three, so this is
// what the month takes at most.
func (b *bench) endToEnd(context.Context) error {
	total := b.ingestTook + b.runTook + b.docsTook + b.emailsTook
	detail := fmt.Sprintf("ingest %.1f s + run %.1f s + documents %.1f s + emails %.1f s = %.1f s",
		b.ingestTook.Seconds(), b.runTook.Seconds(), b.docsTook.Seconds(), b.emailsTook.Seconds(), total.Seconds())
	if b.mailpit == "" {
		detail += " (emails not measured)"
	}
	b.add(result{Phase: "month", Value: total.Seconds(), Unit: "s", Target: "≤ 60 s", Met: met(total <= time.Minute), Detail: detail})
	return nil
}
