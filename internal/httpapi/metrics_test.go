package httpapi_test

import (
	"bytes"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/billingengine/engine/internal/dbtest"
	"github.com/billingengine/engine/internal/httpapi"
	"github.com/billingengine/engine/internal/platform/metrics"
	"github.com/billingengine/engine/jobs"
)

// Request durations are labelled with the route's pattern, never the raw
// path, and the status; counters of known labels exist before any event.
func TestHTTPMetricsByRoute(t *testing.T) {
	t.Parallel()
	b := setupAPI(t)
	n := b.inv["a1"].Number
	b.do(t, "finance", "GET", "/v1/invoices/"+n, "")
	b.do(t, "finance", "GET", "/v1/invoices/INV-2026-999999", "")
	b.do(t, "finance", "GET", "/no/such/path", "")
	metrics.InitKinds(jobs.Kinds())
	_, text := b.do(t, "none", "GET", "/metrics", "")
	for _, want := range []string{
		`billing_http_request_duration_seconds_count{route="GET /v1/invoices/{number}",status="200"}`,
		`billing_http_request_duration_seconds_count{route="GET /v1/invoices/{number}",status="404"}`,
		`billing_http_request_duration_seconds_count{route="unmatched",status="404"}`,
		`billing_collected_cents_total{method="sepa_debit"}`,
		`billing_collection_outcomes_total{code="",method="sepa_debit",outcome="processing"}`,
	} {
		require.Contains(t, string(text), want)
	}
	for _, k := range jobs.Kinds() {
		require.Contains(t, string(text), `billing_job_failures_total{kind="`+k+`"}`, "every kind from the start")
	}
	require.NotContains(t, string(text), n, "no raw path in a label")
}

// The River UI's polling stays out of info-level logs; the API's requests
// are logged there.
func TestRiverUIPollingLoggedAtDebug(t *testing.T) {
	t.Parallel()
	db := dbtest.New(t)
	var logs bytes.Buffer
	ui := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "ui") })
	api := httpapi.New(httpapi.Config{Pool: db.Pool, RiverUI: ui, Logger: slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelInfo}))})
	srv := httptest.NewServer(api)
	t.Cleanup(srv.Close)
	for _, p := range []string{"/riverui/api/jobs?state=running", "/healthz"} {
		res, err := http.Get(srv.URL + p)
		require.NoError(t, err)
		res.Body.Close()
	}
	require.NotContains(t, logs.String(), "/riverui/")
	require.Contains(t, logs.String(), "path=/healthz")
	require.Equal(t, 1, strings.Count(logs.String(), "msg=http"))
}
