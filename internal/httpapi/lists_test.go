package httpapi_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/billingengine/engine/internal/testfactory"
)

type listPage struct {
	Data []map[string]any `json:"data"`
	Next *string          `json:"next"`
}

// The list routes page with ?limit=&after= until next is null, filter as
// asked, and answer 400 naming any parameter they don't take or can't read.
func TestListsOverHTTP(t *testing.T) {
	t.Parallel()
	b := setupAPI(t)
	ctx := context.Background()
	for i, period := range []string{"2026-07", "2026-08", "2026-09"} {
		testfactory.Invoice(ctx, t, b.db.Pool, &testfactory.InvoiceOpts{AccountID: testfactory.Ptr("a2"), Period: testfactory.Ptr(period),
			Status: testfactory.Ptr("paid"), Number: testfactory.Ptr(fmt.Sprintf("INV-2026-%06d", 100+i))})
	}
	_, err := b.db.Pool.Exec(ctx, `UPDATE invoices SET overdue_at = issued_at WHERE number = $1`, b.inv["a1"].Number)
	require.NoError(t, err)

	all := func(path string, limit string) []map[string]any {
		t.Helper()
		var out []map[string]any
		after := ""
		for {
			u := path + "&limit=" + limit
			if after != "" {
				u += "&after=" + url.QueryEscape(after)
			}
			res, body := b.do(t, "finance", "GET", u, "")
			require.Equal(t, 200, res.StatusCode, "%s: %s", u, body)
			var p listPage
			require.NoError(t, json.Unmarshal(body, &p))
			require.NotNil(t, p.Data, "data is a list, never null")
			out = append(out, p.Data...)
			if p.Next == nil {
				return out
			}
			after = *p.Next
		}
	}
	numbers := func(invs []map[string]any) []string {
		var out []string
		for _, i := range invs {
			out = append(out, i["number"].(string))
		}
		return out
	}
	require.Len(t, all("/v1/invoices?", "2"), 6, "setupAPI's five and a1's business invoice")
	require.Len(t, all("/v1/invoices?status=paid", "1"), 3)
	require.Equal(t, []string{b.inv["a1"].Number}, numbers(all("/v1/invoices?overdue=true", "10")))
	require.Len(t, all("/v1/invoices?account=a2&period=2026-09", "100"), 1)
	inv := all("/v1/invoices?account=a1", "1")[0]
	require.Contains(t, inv, "vat_regime")
	require.Contains(t, inv, "attempts")

	res, body := b.do(t, "finance", "GET", "/v1/invoices/"+strings.ToLower(b.inv["a1"].Number), "")
	require.Equal(t, 200, res.StatusCode, "numbers in any case: %s", body)
	require.Contains(t, string(body), `"number":"`+b.inv["a1"].Number+`"`)
	res, _ = b.do(t, "finance", "GET", "/v1/invoices/"+strings.ToLower(b.inv["a1"].Number)+"/pdf", "")
	require.Equal(t, 200, res.StatusCode)

	require.Len(t, all("/v1/accounts?", "1"), 2)
	accs := all("/v1/accounts?search=A2", "10")
	require.Len(t, accs, 1)
	require.Equal(t, "a2", accs[0]["id"])
	require.Empty(t, all("/v1/accounts?status=suspended", "10"))

	for path, param := range map[string]string{
		"/v1/invoices?colour=red":              "colour",
		"/v1/invoices?status=draft":            "status",
		"/v1/invoices?period=2026-13":          "period",
		"/v1/invoices?overdue=yes":             "overdue",
		"/v1/invoices?limit=0":                 "limit",
		"/v1/invoices?limit=1001":              "limit",
		"/v1/invoices?limit=ten":               "limit",
		"/v1/invoices?after=42":                "after",
		"/v1/invoices?status=open&status=paid": "status",
		"/v1/accounts?status=closed":           "status",
		"/v1/accounts?period=2026-10":          "period",
		"/v1/accounts?search=%00":              "search",
		"/v1/accounts?limit=-1":                "limit",
	} {
		res, body := b.do(t, "finance", "GET", path, "")
		require.Equal(t, 400, res.StatusCode, "%s: %s", path, body)
		var e struct {
			Error struct{ Code, Message string } `json:"error"`
		}
		require.NoError(t, json.Unmarshal(body, &e))
		require.Equal(t, "invalid_parameter", e.Error.Code)
		require.Regexp(t, "^"+param+": ", e.Error.Message, path)
	}
}

// /metrics reports the receivables by ageing bucket, every bucket present.
func TestReceivablesGauge(t *testing.T) {
	t.Parallel()
	b := setupAPI(t)
	ctx := context.Background()
	testfactory.Invoice(ctx, t, b.db.Pool, &testfactory.InvoiceOpts{AccountID: testfactory.Ptr("a1"), Period: testfactory.Ptr("2026-01"),
		Subtotal: testfactory.Ptr("7.25"), IssuedAt: testfactory.Ptr(time.Now().AddDate(0, 0, -45)), Number: testfactory.Ptr("INV-2026-000200")})
	res, body := b.do(t, "none", "GET", "/metrics", "")
	require.Equal(t, 200, res.StatusCode)
	for bucket, want := range map[string]string{"not_due": "32", "1_30": "0", "31_60": "7.25", "61_90": "12", "over_90": "0"} {
		require.Contains(t, string(body), `billing_receivables_outstanding_euros{bucket="`+bucket+`"} `+want+"\n", "%s", bucket)
	}
}

// Every API route refuses a query parameter it doesn't take, naming it,
// before doing anything.
func TestUnknownQueryParametersAre400(t *testing.T) {
	t.Parallel()
	b := setupAPI(t)
	n := b.inv["a1"].Number
	for _, c := range []struct{ method, path, param string }{
		{"GET", "/v1/accounts/a1?verbose=1", "verbose"},
		{"GET", "/v1/accounts/a1/invoices?status=open", "status"},
		{"GET", "/v1/accounts/a1/invoices?period=2026-13", "period"},
		{"GET", "/v1/invoices/" + n + "?format=xml", "format"},
		{"GET", "/v1/invoices/" + n + "/pdf?download=1", "download"},
		{"POST", "/v1/invoices/" + n + "/collect?now=1", "now"},
		{"POST", "/v1/usage?format=xml", "format"},
		{"POST", "/v1/usage?skip_invalid=yes", "skip_invalid"},
		{"POST", "/v1/usage?dry_run=true", "dry_run"},
		{"GET", fmt.Sprintf("/v1/runs/%d?x=1", b.runID), "x"},
	} {
		res, body := b.do(t, "finance", c.method, c.path, "")
		require.Equal(t, 400, res.StatusCode, "%s %s: %s", c.method, c.path, body)
		require.Contains(t, string(body), `"code":"invalid_parameter"`)
		require.Contains(t, string(body), `"message":"`+c.param+`: `, "%s %s", c.method, c.path)
	}
	var queued int
	require.NoError(t, b.db.Pool.QueryRow(context.Background(), `SELECT count(*) FROM river_job WHERE kind = 'collect_invoice'`).Scan(&queued))
	require.Zero(t, queued, "nothing was done")
}
