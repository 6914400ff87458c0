package httpapi_test

import (
	"context"
	"encoding/json"
	"net/url"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// fingerprint is everything a bad request must leave as it was.
func fingerprint(t *testing.T, b *apiBundle) string {
	t.Helper()
	var s string
	require.NoError(t, b.db.Pool.QueryRow(context.Background(), `
		SELECT concat_ws(' ',
		  (SELECT count(*) FROM accounts), (SELECT count(*) FROM usage_segments), (SELECT count(*) FROM invoices),
		  (SELECT string_agg(number || status || amount_paid, ',' ORDER BY id) FROM invoices),
		  (SELECT count(*) FROM credit_ledger), (SELECT count(*) FROM payment_attempts), (SELECT count(*) FROM paypal_orders),
		  (SELECT count(*) FROM billing_runs), (SELECT count(*) FROM river_job), (SELECT count(*) FROM processor_events))`).Scan(&s))
	return s
}

// Bad input at every route: SQL metacharacters, NUL bytes and invalid
// UTF-8 in every string, absurd amounts and dates, unknown fields, bodies
// too large. Each gets a 4xx with a JSON error that says what is wrong,
// and changes nothing.
func TestBadInputChangesNothing(t *testing.T) {
	t.Parallel()
	b := setupAPI(t)
	before := fingerprint(t, b)
	sql := url.PathEscape(`a1'; DROP TABLE invoices; --`)
	cases := []struct {
		method, path, body string
		status             int
	}{
		{"GET", "/v1/accounts/" + sql, "", 404},
		{"GET", "/v1/accounts/a%00b", "", 404},
		{"GET", "/v1/accounts/%FF%FE", "", 404},
		{"GET", "/v1/accounts/" + strings.Repeat("x", 5000) + "/invoices", "", 404},
		{"GET", "/v1/invoices/" + url.PathEscape(`INV-2026-000001' OR '1'='1`), "", 404},
		{"GET", "/v1/invoices/INV-2026-000001%00/pdf", "", 404},
		{"GET", "/v1/invoices/INV-2026-000001%00/xml", "", 404},
		{"GET", "/v1/runs/1;DELETE", "", 404},
		{"GET", "/v1/runs/99999999999999999999999", "", 404},
		{"POST", "/v1/runs", `{"period":"2026-10'; --"}`, 400},
		{"POST", "/v1/runs", `{"period":"9999-12"}`, 400},
		{"POST", "/v1/runs", `{"period":"2026-10","colour":"red"}`, 400},
		{"POST", "/v1/runs", `{"period":"2026-10","account_ids":["a1\u0000"]}`, 422},
		{"POST", "/v1/runs", `{"period":"2026-10","account_ids":["` + "\xff" + `"]}`, 400},
		{"POST", "/v1/runs", `{"period":` + strings.Repeat("[", 100000) + `}`, 400},
		{"POST", "/v1/runs", `{"period":"` + strings.Repeat("9", 2<<20) + `"}`, 413},
		{"POST", "/v1/accounts/a1/credit/paypal", `{"amount":"1e400"}`, 400},
		{"POST", "/v1/accounts/a1/credit/paypal", `{"amount":"-10.00"}`, 400},
		{"POST", "/v1/accounts/a1/credit/paypal", `{"amount":"99999999999999999999.00"}`, 400},
		{"POST", "/v1/accounts/a1/credit/paypal", `{"amount":"0.001"}`, 400},
		{"POST", "/v1/accounts/a1/credit/paypal", `{"amount":"10.00","extra":1}`, 400},
		{"POST", "/v1/accounts/" + sql + "/credit/paypal", `{"amount":"10.00"}`, 404},
		{"POST", "/v1/invoices/" + sql + "/collect", ``, 404},
		{"POST", "/v1/invoices/%00/void", `{"reason":"x"}`, 404},
		{"POST", "/v1/invoices/INV-2026-000001/void", `{"reason":"` + "\xff\xfe" + `"}`, 400},
		{"POST", "/v1/invoices/INV-2026-000001/void", `{"reason":""}`, 400},
		{"POST", "/v1/usage", "{\"id\":\"s\\u0000\",\"account_id\":\"a1\"}\n", 422},
		{"POST", "/v1/usage", `{"id":"s1","account_id":"a1'; DROP TABLE accounts; --","app":"web","resource":"c","quantity":1,"started_at":"2026-11-03T00:00:00Z","ended_at":null}`, 422},
		{"POST", "/v1/usage", `{"id":"s1","account_id":"a1","app":"web","resource":"c","quantity":1,"started_at":"9999-11-03T00:00:00Z","ended_at":null}`, 422},
		{"POST", "/v1/usage", `{"id":"s1","account_id":"a1","app":"web","resource":"c","quantity":1e308,"started_at":"2026-11-03T00:00:00Z","ended_at":null}`, 422},
	}
	for _, tc := range cases {
		res, body := b.do(t, "finance", tc.method, tc.path, tc.body)
		name := tc.method + " " + tc.path[:min(len(tc.path), 80)] + " " + tc.body[:min(len(tc.body), 80)]
		require.Equal(t, tc.status, res.StatusCode, "%s: %s", name, body[:min(len(body), 300)])
		var e struct {
			Error struct{ Code, Message string }
		}
		if tc.method == "POST" && tc.path == "/v1/usage" {
			require.Contains(t, string(body), "problems", name)
		} else {
			require.NoError(t, json.Unmarshal(body, &e), "%s: %s", name, body)
			require.NotEmpty(t, e.Error.Code, name)
			require.NotEmpty(t, e.Error.Message, name)
		}
		require.Equal(t, before, fingerprint(t, b), "%s changed the books", name)
	}
}
