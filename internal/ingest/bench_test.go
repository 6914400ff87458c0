package ingest_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/billingengine/engine/internal/dbtest"
	"github.com/billingengine/engine/internal/ingest"
)

// BenchmarkImportUsage measures `billing usage import` throughput on a file
// of BENCH_SEGMENTS segments (default 1,000,000) over 10,000 accounts, each
// iteration into a fresh database. It reports segments/s.
func BenchmarkImportUsage(b *testing.B) {
	n := 1_000_000
	if v, err := strconv.Atoi(os.Getenv("BENCH_SEGMENTS")); err == nil && v > 0 {
		n = v
	}
	const accounts = 10_000
	dir := b.TempDir()
	accFile := filepath.Join(dir, "accounts.ndjson")
	useFile := filepath.Join(dir, "usage.ndjson")
	writeLines(b, accFile, accounts, func(w *bufio.Writer, i int) {
		fmt.Fprintf(w, `{"id":"acc_%d","name":"Account %d","email":"a%d@example.test","country":"FR","created_at":"2025-01-01T00:00:00Z"}`+"\n", i, i, i)
	})
	start := time.Date(2026, 10, 1, 0, 0, 0, 0, time.UTC)
	writeLines(b, useFile, n, func(w *bufio.Writer, i int) {
		s := start.Add(time.Duration(i%700) * time.Hour)
		fmt.Fprintf(w, `{"id":"seg_%d","account_id":"acc_%d","app":"app-%d","resource":"container:M","quantity":%d,"started_at":"%s","ended_at":"%s"}`+"\n",
			i, i%accounts, i%3, 1+i%4, s.Format(time.RFC3339), s.Add(time.Duration(1+i%48)*time.Hour).Format(time.RFC3339))
	})

	ctx := context.Background()
	b.ResetTimer()
	for range b.N {
		b.StopTimer()
		db := dbtest.New(b)
		open := func(p string) *os.File {
			f, err := os.Open(p)
			require.NoError(b, err)
			return f
		}
		cf, af := openString(catalog), open(accFile)
		_, err := ingest.ImportCatalog(ctx, db.Pool, cf, ingest.Options{Name: "catalog.ndjson"})
		require.NoError(b, err)
		_, err = ingest.ImportAccounts(ctx, db.Pool, af, ingest.AccountsOptions{Options: ingest.Options{Name: "accounts.ndjson"}})
		require.NoError(b, err)
		af.Close()
		uf := open(useFile)
		b.StartTimer()
		t0 := time.Now()
		res, err := ingest.ImportUsage(ctx, db.Pool, uf, ingest.Options{Name: "usage.ndjson"})
		el := time.Since(t0)
		b.StopTimer()
		uf.Close()
		require.NoError(b, err)
		require.Equal(b, n, res.Inserted)
		b.ReportMetric(float64(n)/el.Seconds(), "segments/s")
		b.StartTimer()
	}
}

func writeLines(b *testing.B, path string, n int, line func(*bufio.Writer, int)) {
	f, err := os.Create(path)
	require.NoError(b, err)
	w := bufio.NewWriterSize(f, 1<<20)
	for i := range n {
		line(w, i)
	}
	require.NoError(b, w.Flush())
	require.NoError(b, f.Close())
}

func openString(s string) *stringsReader { return &stringsReader{s: s} }

type stringsReader struct {
	s string
	i int
}

func (r *stringsReader) Read(p []byte) (int, error) {
	if r.i >= len(r.s) {
		return 0, io.EOF
	}
	n := copy(p, r.s[r.i:])
	r.i += n
	return n, nil
}
