package httpapi_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/billingengine/engine/internal/dbtest"
	"github.com/billingengine/engine/internal/httpapi"
	"github.com/billingengine/engine/internal/platform/auth"
	"github.com/billingengine/engine/invoices"
	"github.com/billingengine/engine/jobs"
	"github.com/billingengine/engine/payments/paypal"
	"github.com/billingengine/engine/payments/sandbox"
)

// A service sends usage, finance starts the month's run, the account reads
// its invoice and a service collects it, all over HTTP with a worker
// working the jobs; /metrics reports what happened.
func TestEndToEndOverHTTP(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := dbtest.New(t)
	_, err := db.Pool.Exec(ctx, `
		INSERT INTO accounts (id, name, email, country, created_at) VALUES ('acc_e2e', 'E2E GmbH', 'e2e@example.test', 'US', '2026-01-01Z');
		INSERT INTO payment_methods (account_id, type, external_id) VALUES ('acc_e2e', 'card', 'pm_card_visa');
		INSERT INTO resources VALUES ('container:S');
		INSERT INTO prices VALUES ('container:S', '2026-01-01Z', 0.02, 'container:S')`)
	require.NoError(t, err)
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	worker, err := jobs.NewClient(db.Pool, jobs.Config{TestOnly: true, Processor: &sandbox.Processor{Pool: db.Pool}, Logger: log})
	require.NoError(t, err)
	require.NoError(t, worker.Start(ctx))
	t.Cleanup(func() {
		stop, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = worker.Stop(stop)
	})
	fonts, err := invoices.LoadFonts("", nil)
	require.NoError(t, err)
	srv := httptest.NewServer(httpapi.New(httpapi.Config{Pool: db.Pool, Jobs: worker, PayPal: paypal.Sandbox{}, Logger: log,
		Renderer: &invoices.Renderer{Seller: invoices.Seller{Name: "Seller"}, Fonts: fonts}}))
	t.Cleanup(srv.Close)
	token := map[string]string{}
	for name, scope := range map[string]auth.Scope{"finance": auth.ScopeFinance, "service": auth.ScopeService, "account": auth.AccountScope("acc_e2e")} {
		_, secret, err := auth.Create(ctx, db.Pool, name, scope)
		require.NoError(t, err)
		token[name] = secret
	}
	call := func(who, method, path, body string) (int, string) {
		t.Helper()
		req, err := http.NewRequest(method, srv.URL+path, strings.NewReader(body))
		require.NoError(t, err)
		req.Header.Set("Authorization", "Bearer "+token[who])
		res, err := apiClient(t).Do(req)
		require.NoError(t, err)
		defer res.Body.Close()
		b, err := io.ReadAll(res.Body)
		require.NoError(t, err)
		return res.StatusCode, string(b)
	}
	metric := func(name string) float64 {
		t.Helper()
		_, text := call("finance", "GET", "/metrics", "")
		m := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(name) + ` (\S+)$`).FindStringSubmatch(text)
		if m == nil {
			return 0
		}
		v, err := strconv.ParseFloat(m[1], 64)
		require.NoError(t, err)
		return v
	}
	// Counters are per process and other tests run beside this one: compare
	// before and after.
	finalizedBefore := metric("billing_invoices_finalized_total")
	billedBefore := metric("billing_billed_cents_total")
	cardBefore := metric(`billing_collection_outcomes_total{code="",method="card",outcome="succeeded"}`)

	// 100 hours of one container at 0.02 €/h: 2.00 €, outside the EU, no VAT.
	status, body := call("service", "POST", "/v1/usage",
		`{"id":"s1","account_id":"acc_e2e","app":"web","resource":"container:S","quantity":1,"started_at":"2026-10-02T00:00:00Z","ended_at":"2026-10-06T04:00:00Z"}`+"\n")
	require.Equal(t, 200, status, body)
	status, body = call("finance", "POST", "/v1/runs", `{"period":"2026-10","account_ids":["acc_e2e"]}`)
	require.Equal(t, 202, status, body)
	var started struct {
		RunID int64 `json:"run_id"`
	}
	require.NoError(t, json.Unmarshal([]byte(body), &started))
	require.Eventually(t, func() bool {
		_, body := call("finance", "GET", fmt.Sprintf("/v1/runs/%d", started.RunID), "")
		return strings.Contains(body, `"state":"completed"`)
	}, time.Minute, 50*time.Millisecond)

	// The run's collection went ahead on its own; wait for it, then read
	// the invoice as the account.
	require.NoError(t, jobs.WaitIdle(ctx, db.Pool, time.Minute, 50*time.Millisecond))
	status, body = call("account", "GET", "/v1/accounts/acc_e2e/invoices", "")
	require.Equal(t, 200, status, body)
	var list []struct {
		Number string `json:"number"`
		Status string `json:"status"`
		Total  string `json:"total"`
	}
	require.NoError(t, json.Unmarshal([]byte(body), &list))
	require.Len(t, list, 1)
	require.Equal(t, "2.00", list[0].Total)
	require.Equal(t, "paid", list[0].Status)

	// Collecting a paid invoice again answers 409 and charges nothing.
	status, body = call("service", "POST", "/v1/invoices/"+list[0].Number+"/collect", "")
	require.Equal(t, 409, status, body)
	var charges int
	require.NoError(t, db.Pool.QueryRow(ctx, `SELECT count(*) FROM sandbox_charges`).Scan(&charges))
	require.Equal(t, 1, charges)

	status, body = call("account", "GET", "/v1/invoices/"+list[0].Number+"/pdf", "")
	require.Equal(t, 200, status)
	require.True(t, strings.HasPrefix(body, "%PDF-"))

	require.GreaterOrEqual(t, metric("billing_invoices_finalized_total")-finalizedBefore, 1.0)
	require.GreaterOrEqual(t, metric("billing_billed_cents_total")-billedBefore, 200.0)
	require.GreaterOrEqual(t, metric(`billing_collection_outcomes_total{code="",method="card",outcome="succeeded"}`)-cardBefore, 1.0)
	_, text := call("finance", "GET", "/metrics", "")
	for _, want := range []string{
		fmt.Sprintf(`billing_run_progress{period="2026-10",run_id="%d",stage="invoices_finalized",state="completed"} 1`, started.RunID),
		`billing_job_duration_seconds_count{kind="collect_invoices"}`,
	} {
		require.True(t, strings.Contains(text, want), "/metrics lacks %s", want)
	}
}
