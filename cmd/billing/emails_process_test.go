package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/billingengine/engine/internal/dbtest"
	"github.com/billingengine/engine/internal/testutil"
)

// TestKilledWorkerSendsEveryEmail kills worker processes with SIGKILL
// while they send a month's emails to a real SMTP server (mailpit), then
// lets a last one finish: every email is sent, none is lost, and a message
// received twice (accepted by the server, the worker killed before it
// recorded so) has the same Message-ID both times.
func TestKilledWorkerSendsEveryEmail(t *testing.T) {
	if testing.Short() {
		t.Skip("kills and restarts processes")
	}
	t.Parallel()
	mp := testutil.StartMailpit(t, 0)
	dir := t.TempDir()
	writeDataset(t, dir, 300)
	env := []string{"BILLING_SHARD_SIZE=50", "BILLING_FINALIZE_CHUNK=50", "BILLING_JOB_TIMEOUT=2s", "BILLING_RESCUE_AFTER=3s",
		"BILLING_RETRY_MAX=2s", fmt.Sprintf("BILLING_SMTP_URL=smtp://127.0.0.1:%d", mp.SMTPPort), "BILLING_MAIL_FROM=billing@mail.example.com"}
	db := dbtest.New(t)
	p := newProc(t, db.URL, env...)
	for _, f := range []string{"catalog", "accounts", "usage"} {
		p.ok(f, "import", filepath.Join(dir, f+".ndjson"))
	}
	p.ok("run", "--period", "2026-10")
	ctx := context.Background()
	counts := func() (sent, pending int) {
		require.NoError(t, db.Pool.QueryRow(ctx, `SELECT count(*) FILTER (WHERE state = 'sent'), count(*) FILTER (WHERE state = 'pending') FROM emails`).
			Scan(&sent, &pending))
		return
	}
	worker := func(name string) (stop func()) {
		w := p.cmd("worker")
		logf, err := os.Create(filepath.Join(dir, "worker-"+name+".log"))
		require.NoError(t, err)
		w.Stdout, w.Stderr = logf, logf
		require.NoError(t, w.Start())
		return func() {
			_ = w.Process.Signal(syscall.SIGKILL)
			_ = w.Wait()
			logf.Close()
		}
	}
	killWhen := func(name string, cond func(sent, pending int) bool) {
		t.Helper()
		stop := worker(name)
		// Generous: on a loaded CI machine the 2 s sender jobs keep being
		// cut while rendering PDFs (their emails are given back untried),
		// and a killed worker's batch waits for its lease.
		deadline := time.Now().Add(5 * time.Minute)
		for {
			s, pd := counts()
			if cond(s, pd) {
				break
			}
			require.True(t, time.Now().Before(deadline), "never reached: %s (sent %d, pending %d)", name, s, pd)
			time.Sleep(2 * time.Millisecond)
		}
		stop()
		s, pd := counts()
		t.Logf("killed %s: sent %d, pending %d", name, s, pd)
	}
	killWhen("early", func(s, pd int) bool { return s > 10 && pd > 50 })
	killWhen("midway", func(s, pd int) bool { return s > 100 && pd > 20 })

	stop := worker("last")
	defer stop()
	deadline := time.Now().Add(5 * time.Minute)
	for {
		s, pd := counts()
		if pd == 0 && s > 0 {
			break
		}
		require.True(t, time.Now().Before(deadline), "emails still pending: %d (sent %d)", pd, s)
		time.Sleep(100 * time.Millisecond)
	}
	rows, err := db.Pool.Query(ctx, `SELECT message_id FROM emails WHERE state = 'sent'`)
	require.NoError(t, err)
	ids, err := pgx.CollectRows(rows, pgx.RowTo[string])
	require.NoError(t, err)
	var total int
	require.NoError(t, db.Pool.QueryRow(ctx, `SELECT count(*) FROM emails`).Scan(&total))
	require.Len(t, ids, total, "every email sent")
	require.GreaterOrEqual(t, total, 300, "an invoice email per account at least")

	received := map[string]int{}
	for _, m := range mp.Messages(t) {
		received["<"+m.MessageID+">"]++
	}
	dupes := 0
	for _, id := range ids {
		require.Positive(t, received["<"+id+">"], "%s never reached the server", id)
		dupes += received["<"+id+">"] - 1
	}
	require.Len(t, received, total, "no message but the outbox's")
	t.Logf("%d emails, each received at least once; %d received twice, with the same Message-ID", total, dupes)
}
