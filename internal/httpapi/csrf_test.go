package httpapi_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/billingengine/engine/jobs"
)

// River UI: requests that change something are refused when they come
// from another site, even with valid basic credentials (the browser would
// add them to a forged form); the UI's own pages and non-browser clients
// still work, and reading is never refused.
func TestRiverUIRefusesCrossSiteChanges(t *testing.T) {
	t.Parallel()
	b := setupAPI(t)
	ctx := context.Background()
	client, err := jobs.NewInsertClient(b.db.Pool)
	require.NoError(t, err)
	res, err := client.Insert(ctx, jobs.CollectInvoiceArgs{InvoiceNumber: b.inv["a1"].Number}, nil)
	require.NoError(t, err)
	jobID := res.Job.ID
	state := func() string {
		var s string
		require.NoError(t, b.db.Pool.QueryRow(ctx, `SELECT state FROM river_job WHERE id = $1`, jobID).Scan(&s))
		return s
	}
	call := func(method, path string, headers map[string]string) (int, []byte) {
		t.Helper()
		req, err := http.NewRequest(method, b.srv.URL+path, strings.NewReader(fmt.Sprintf(`{"ids":["%d"]}`, jobID)))
		require.NoError(t, err)
		req.SetBasicAuth("finance", b.tokens["finance"])
		req.Header.Set("Content-Type", "text/plain")
		for k, v := range headers {
			req.Header.Set(k, v)
		}
		res, err := apiClient(t).Do(req)
		require.NoError(t, err)
		defer res.Body.Close()
		body, err := io.ReadAll(res.Body)
		require.NoError(t, err)
		return res.StatusCode, body
	}
	for _, forged := range []map[string]string{
		{"Sec-Fetch-Site": "cross-site", "Origin": "https://evil.example"},
		{"Sec-Fetch-Site": "same-site", "Origin": "https://evil." + strings.TrimPrefix(b.srv.URL, "http://")},
		{"Origin": "https://evil.example"}, // a browser too old for Sec-Fetch-Site
		{"Origin": "null"},
	} {
		for _, path := range []string{"/riverui/api/jobs/cancel", "/riverui/api/jobs/delete"} {
			status, body := call("POST", path, forged)
			require.Equal(t, 403, status, "%v %s: %s", forged, path, body)
			require.Equal(t, "cross_origin", errorOf(t, body).Error.Code)
		}
		status, body := call("PUT", "/riverui/api/queues/default/pause", forged)
		require.Equal(t, 403, status, "%s", body)
	}
	require.Equal(t, "available", state(), "no forged request cancelled the job")

	status, body := call("GET", "/riverui/api/jobs?state=available", map[string]string{"Sec-Fetch-Site": "cross-site"})
	require.Equal(t, 200, status, "reading is safe: %s", body)

	status, body = call("POST", "/riverui/api/jobs/cancel", map[string]string{"Sec-Fetch-Site": "same-origin", "Origin": b.srv.URL})
	require.Equal(t, 200, status, "the UI's own page: %s", body)
	require.Equal(t, "cancelled", state())

	// Without credentials a same-origin change is still a 401.
	req, err := http.NewRequest("POST", b.srv.URL+"/riverui/api/jobs/delete", strings.NewReader(fmt.Sprintf(`{"ids":["%d"]}`, jobID)))
	require.NoError(t, err)
	req.Header.Set("Sec-Fetch-Site", "same-origin")
	r2, err := apiClient(t).Do(req)
	require.NoError(t, err)
	r2.Body.Close()
	require.Equal(t, 401, r2.StatusCode)

	// A client that is no browser (no Sec-Fetch-Site, no Origin) works.
	status, body = call("POST", "/riverui/api/jobs/delete", nil)
	require.Equal(t, 200, status, "%s", body)
	var n int
	require.NoError(t, b.db.Pool.QueryRow(ctx, `SELECT count(*) FROM river_job WHERE id = $1`, jobID).Scan(&n))
	require.Zero(t, n)
}
