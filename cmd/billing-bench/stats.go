package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
)

// The bench's own cluster preloads pg_stat_statements (scripts/pg-batch.conf):
// each measured phase then says which statements took Postgres's time.
// Elsewhere these are no-ops.

// statsReset empties the statement statistics before a phase.
func (b *bench) statsReset(ctx context.Context) {
	if !b.pgss {
		if _, err := b.pool.Exec(ctx, `CREATE EXTENSION IF NOT EXISTS pg_stat_statements`); err != nil {
			return
		}
		if _, err := b.pool.Exec(ctx, `SELECT pg_stat_statements_reset()`); err != nil {
			return // installed but not preloaded
		}
		b.pgss = true
		return
	}
	_, _ = b.pool.Exec(ctx, `SELECT pg_stat_statements_reset()`)
}

// statsTop writes the phase's statements by total time to the logs
// directory and its first five to stderr.
func (b *bench) statsTop(ctx context.Context, phase string) {
	if !b.pgss {
		return
	}
	rows, err := b.pool.Query(ctx, `
		SELECT calls, total_exec_time / 1000, rows, regexp_replace(query, '\s+', ' ', 'g')
		FROM pg_stat_statements WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database())
		ORDER BY total_exec_time DESC LIMIT 30`)
	if err != nil {
		return
	}
	defer rows.Close()
	var out strings.Builder
	fmt.Fprintf(&out, "%10s %10s %12s  statement\n", "calls", "seconds", "rows")
	n := 0
	for rows.Next() {
		var calls, nrows int64
		var secs float64
		var q string
		if rows.Scan(&calls, &secs, &nrows, &q) != nil {
			return
		}
		line := fmt.Sprintf("%10d %10.2f %12d  %s\n", calls, secs, nrows, q)
		out.WriteString(line)
		if n < 5 {
			if len(q) > 110 {
				q = q[:110] + "…"
			}
			fmt.Fprintf(b.log, "bench: %-12s pg %6.1f s %7d× %s\n", phase, secs, calls, q)
		}
		n++
	}
	_ = os.WriteFile(filepath.Join(b.logDir, "pg_stat_statements-"+phase+".txt"), []byte(out.String()), 0o644)
}

// profile saves a CPU profile of the worker serving pprof at addr.
func (b *bench) profile(ctx context.Context, addr, name string) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, fmt.Sprintf("http://%s/debug/pprof/profile?seconds=%d", addr, b.pprofSeconds), nil)
	if err != nil {
		return
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		fmt.Fprintf(b.log, "bench: profile: %v\n", err)
		return
	}
	defer res.Body.Close() //nolint:errcheck // read whole below
	data, err := io.ReadAll(res.Body)
	if err != nil || res.StatusCode != http.StatusOK {
		fmt.Fprintf(b.log, "bench: profile: %s %v\n", res.Status, err)
		return
	}
	path := filepath.Join(b.logDir, name)
	if err := os.WriteFile(path, data, 0o644); err == nil {
		fmt.Fprintf(b.log, "bench: profile of the phase's first %d s in %s (go tool pprof -top %s)\n", b.pprofSeconds, path, path)
	}
}
