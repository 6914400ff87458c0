package main

import (
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// freeAddr is a loopback address nothing listens on (yet).
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	require.NoError(t, ln.Close())
	return addr
}

// `worker --metrics ADDR` serves /metrics there, and only that; the --http
// listener no longer serves it.
func TestWorkerMetricsListener(t *testing.T) {
	t.Parallel()
	c := newCLI(t)
	c.ok("migrate")
	apiAddr, metricsAddr := freeAddr(t), freeAddr(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var stderr bytes.Buffer
	exited := make(chan int, 1)
	go func() {
		lookup := func(k string) (string, bool) {
			if v, ok := c.env[k]; ok {
				return v, true
			}
			return c.url, k == "DATABASE_URL"
		}
		exited <- Main(ctx, []string{"worker", "--http", apiAddr, "--metrics", metricsAddr}, strings.NewReader(""), io.Discard, &stderr, lookup)
	}()
	get := func(url string) (int, string) {
		res, err := http.Get(url)
		if err != nil {
			return 0, err.Error()
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return res.StatusCode, string(b)
	}
	require.Eventually(t, func() bool {
		status, _ := get("http://" + metricsAddr + "/metrics")
		return status == 200
	}, 30*time.Second, 50*time.Millisecond, "the metrics listener answers")
	status, body := get("http://" + metricsAddr + "/metrics")
	require.Equal(t, 200, status)
	require.Contains(t, body, "billing_invoices_finalized_total")
	status, _ = get("http://" + metricsAddr + "/healthz")
	require.Equal(t, 404, status, "the metrics listener serves nothing else")

	require.Eventually(t, func() bool {
		status, _ := get("http://" + apiAddr + "/healthz")
		return status == 200
	}, 30*time.Second, 50*time.Millisecond, "the API answers")
	status, body = get("http://" + apiAddr + "/metrics")
	require.Equal(t, 404, status, "/metrics moved to its own listener: %s", body)

	cancel()
	select {
	case code := <-exited:
		require.Equal(t, 0, code, stderr.String())
	case <-time.After(60 * time.Second):
		t.Fatal("the worker did not stop")
	}
}
