package main

import (
	"context"
	"encoding/json"
	"hash/fnv"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/billingengine/engine/internal/dbtest"
	"github.com/billingengine/engine/internal/notify"
)

// TestKilledWorkerDeliversEveryEvent kills worker processes with SIGKILL
// while they post a month's events to a receiver that is slow and fails
// 30% of first tries, restarts them, and expects every event to have
// reached the receiver at least once, correctly signed, with none missing.
func TestKilledWorkerDeliversEveryEvent(t *testing.T) {
	if testing.Short() {
		t.Skip("kills and restarts processes for about a minute")
	}
	t.Parallel()
	dir := t.TempDir()
	writeDataset(t, dir, 300)
	env := []string{"BILLING_SHARD_SIZE=50", "BILLING_FINALIZE_CHUNK=50", "BILLING_JOB_TIMEOUT=2s", "BILLING_RESCUE_AFTER=3s", "BILLING_RETRY_MAX=2s", "BILLING_WEBHOOK_SWEEP=200ms"}
	db := dbtest.New(t)
	p := newProc(t, db.URL, env...)

	var mu sync.Mutex
	var secret string
	tries, accepted := map[string]int{}, map[string]int{}
	badSigs := 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		id := r.Header.Get(notify.HeaderID)
		time.Sleep(5 * time.Millisecond) // a receiver that takes its time: kills land mid-POST
		mu.Lock()
		defer mu.Unlock()
		if notify.Verify(secret, id, r.Header.Get(notify.HeaderTimestamp), r.Header.Get(notify.HeaderSignature), body, time.Now()) != nil {
			badSigs++
			http.Error(w, "bad signature", http.StatusBadRequest)
			return
		}
		tries[id]++
		h := fnv.New32a()
		h.Write([]byte(id))
		if tries[id] == 1 && h.Sum32()%10 < 3 {
			http.Error(w, "try later", http.StatusInternalServerError)
			return
		}
		accepted[id]++
	}))
	t.Cleanup(srv.Close)

	var ep struct {
		ID     string `json:"id"`
		Secret string `json:"secret"`
	}
	require.NoError(t, json.Unmarshal([]byte(p.ok("webhooks", "add", "--url", srv.URL+"/billing", "--json")), &ep))
	require.True(t, strings.HasPrefix(ep.Secret, "whsec_"))
	mu.Lock()
	secret = ep.Secret
	mu.Unlock()

	for _, f := range []string{"catalog", "accounts", "usage"} {
		p.ok(f, "import", filepath.Join(dir, f+".ndjson"))
	}
	p.ok("run", "--period", "2026-10")
	ctx := context.Background()
	counts := func() (delivered, pending int) {
		require.NoError(t, db.Pool.QueryRow(ctx, `SELECT count(*) FILTER (WHERE state = 'delivered'), count(*) FILTER (WHERE state = 'pending') FROM webhook_deliveries`).
			Scan(&delivered, &pending))
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
	killWhen := func(name string, cond func(delivered, pending int) bool) {
		t.Helper()
		stop := worker(name)
		deadline := time.Now().Add(2 * time.Minute)
		for {
			d, pd := counts()
			if cond(d, pd) {
				break
			}
			require.True(t, time.Now().Before(deadline), "never reached: %s (delivered %d, pending %d)", name, d, pd)
			time.Sleep(5 * time.Millisecond)
		}
		stop()
		d, pd := counts()
		t.Logf("killed %s: delivered %d, pending %d", name, d, pd)
	}
	killWhen("early", func(d, pd int) bool { return d > 20 && pd > 100 })
	killWhen("midway", func(d, pd int) bool { return d > 200 && pd > 50 })

	stop := worker("last")
	defer stop()
	deadline := time.Now().Add(2 * time.Minute)
	for {
		d, pd := counts()
		if pd == 0 && d > 0 {
			break
		}
		require.True(t, time.Now().Before(deadline), "deliveries still pending: %d (delivered %d)", pd, d)
		time.Sleep(100 * time.Millisecond)
	}

	var evs []struct {
		ID string `json:"id"`
	}
	var total int
	require.NoError(t, db.Pool.QueryRow(ctx, `SELECT count(*) FROM events`).Scan(&total))
	// Readers see the events once the transactions older than them have
	// ended, other tests' on the server too.
	for deadline := time.Now().Add(visibleWithin); ; time.Sleep(50 * time.Millisecond) {
		require.NoError(t, json.Unmarshal([]byte(p.ok("events", "list", "--limit", "1000", "--json")), &evs))
		if len(evs) >= total || time.Now().After(deadline) {
			break
		}
	}
	require.Len(t, evs, total, "every event is listed once no transaction is in flight")
	require.Greater(t, total, 300)
	mu.Lock()
	defer mu.Unlock()
	require.Zero(t, badSigs)
	dupes := 0
	for _, e := range evs {
		require.Positive(t, accepted[e.ID], "event %s never reached the receiver", e.ID)
		dupes += accepted[e.ID] - 1
	}
	require.Len(t, accepted, total)
	t.Logf("%d events, each delivered at least once; %d delivered twice (a POST cut off by a kill)", total, dupes)
}
