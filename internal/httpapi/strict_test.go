package httpapi_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

type apiErr struct {
	Error struct{ Code, Message string } `json:"error"`
}

// errorOf decodes the API's error body and checks that its message says
// nothing of Go or SQL.
func errorOf(t *testing.T, body []byte) apiErr {
	t.Helper()
	var e apiErr
	require.NoError(t, json.Unmarshal(body, &e), "%s", body)
	require.NotEmpty(t, e.Error.Code, "%s", body)
	require.NotEmpty(t, e.Error.Message, "%s", body)
	for _, leak := range []string{"SQLSTATE", "ERROR:", "Go value", "Go struct", "struct field", "json:", "pgx", "unmarshal"} {
		require.NotContains(t, e.Error.Message, leak, "%s", body)
	}
	return e
}

// A known path with a wrong method is a 405 that lists the methods it
// serves in Allow; an unknown path stays a 404.
func TestWrongMethodIs405WithAllow(t *testing.T) {
	t.Parallel()
	b := setupAPI(t)
	for _, tc := range []struct{ method, path, allow string }{
		{"GET", "/v1/usage", "POST"},
		{"DELETE", "/v1/accounts/a1", "GET, HEAD"},
		{"PUT", "/v1/invoices/" + b.inv["a1"].Number + "/void", "POST"},
		{"POST", "/healthz", "GET, HEAD"},
		{"GET", "/webhooks/stripe", "POST"},
		{"PATCH", "/v1/runs", "POST"},
	} {
		res, body := b.do(t, "finance", tc.method, tc.path, "")
		require.Equal(t, 405, res.StatusCode, "%s %s: %s", tc.method, tc.path, body)
		require.Equal(t, tc.allow, res.Header.Get("Allow"), "%s %s", tc.method, tc.path)
		e := errorOf(t, body)
		require.Equal(t, "method_not_allowed", e.Error.Code)
		require.Contains(t, e.Error.Message, tc.allow)
	}
	res, body := b.do(t, "finance", "GET", "/v1/nowhere", "")
	require.Equal(t, 404, res.StatusCode, "%s", body)
	require.Empty(t, res.Header.Get("Allow"))
}

// The bearer scheme is case-insensitive; other schemes are no token.
func TestBearerSchemeIsCaseInsensitiveOverHTTP(t *testing.T) {
	t.Parallel()
	b := setupAPI(t)
	for _, scheme := range []string{"Bearer", "bearer", "BEARER", "bEARER"} {
		req, err := http.NewRequest("GET", b.srv.URL+"/v1/accounts/a1", nil)
		require.NoError(t, err)
		req.Header.Set("Authorization", scheme+" "+b.tokens["finance"])
		res, err := apiClient(t).Do(req)
		require.NoError(t, err)
		res.Body.Close()
		require.Equal(t, 200, res.StatusCode, scheme)
	}
	req, err := http.NewRequest("GET", b.srv.URL+"/v1/accounts/a1", nil)
	require.NoError(t, err)
	req.Header.Set("Authorization", "Basic "+b.tokens["finance"])
	res, err := apiClient(t).Do(req)
	require.NoError(t, err)
	res.Body.Close()
	require.Equal(t, 401, res.StatusCode)
}

// A key given twice in any JSON body is a 400 that names it, and changes
// nothing; in a usage upload it is a problem of its line.
func TestDuplicateJSONKeysRefused(t *testing.T) {
	t.Parallel()
	b := setupAPI(t)
	before := fingerprint(t, b)
	n := b.inv["a1"].Number
	for _, tc := range []struct{ path, body, key string }{
		{"/v1/runs", `{"period":"2026-10","period":"2026-11"}`, "period"},
		{"/v1/runs", `{"period":"2026-10","account_ids":["a1"],"dry_run":false,"dry_run":true}`, "dry_run"},
		{"/v1/runs", `{"period":"2026-10","Period":"2026-11"}`, "Period"},
		{"/v1/runs", `{"period":"2026-10","p\u0065riod":"2026-11"}`, "period"},
		{"/v1/invoices/" + n + "/void", `{"reason":"first","reason":"second"}`, "reason"},
		{"/v1/accounts/a1/credit/paypal", `{"amount":"10.00","amount":"5000.00"}`, "amount"},
	} {
		res, body := b.do(t, "finance", "POST", tc.path, tc.body)
		require.Equal(t, 400, res.StatusCode, "%s %s: %s", tc.path, tc.body, body)
		e := errorOf(t, body)
		require.Equal(t, "duplicate_key", e.Error.Code)
		require.Contains(t, e.Error.Message, fmt.Sprintf("%q appears twice", tc.key))
	}
	require.Equal(t, before, fingerprint(t, b))

	res, body := b.do(t, "service", "POST", "/v1/usage", `{"id":"s1","id":"s2","account_id":"a1","app":"web","resource":"c","quantity":1,"started_at":"2026-11-03T00:00:00Z","ended_at":null}`+"\n")
	require.Equal(t, 422, res.StatusCode, "%s", body)
	require.Contains(t, string(body), "duplicate field id")
	require.Equal(t, before, fingerprint(t, b))
}

// Bodies encoding/json refuses are explained in JSON's terms.
func TestJSONErrorsSpeakJSONNotGo(t *testing.T) {
	t.Parallel()
	b := setupAPI(t)
	for _, tc := range []struct{ body, want string }{
		{`{"period":5}`, "period: must be a string, not a number"},
		{`{"period":"2026-10","account_ids":"a1"}`, "account_ids: must be an array, not a string"},
		{`{"period":"2026-10","dry_run":"yes"}`, "dry_run: must be true or false, not a string"},
		{`["2026-10"]`, "the body must be a JSON object, not an array"},
		{`{"period":"2026-10"`, "the body ends in the middle of its JSON"},
		{`{"period" "2026-10"}`, "the body is not valid JSON (at byte 11): invalid character"},
		{``, "the body is empty"},
		{`{"period":"2026-10"} {}`, "there is data after it"},
		{`{"colour":"red"}`, `unknown field "colour"`},
	} {
		res, body := b.do(t, "finance", "POST", "/v1/runs", tc.body)
		require.Equal(t, 400, res.StatusCode, "%s: %s", tc.body, body)
		require.Contains(t, errorOf(t, body).Error.Message, tc.want, tc.body)
	}
}

// A void reason is one line of printable text of at most 1,000
// characters: NUL bytes, control characters, invalid UTF-8 and long
// reasons are 400s that say which rule they break, and void nothing.
func TestVoidReasonsRefusedClearly(t *testing.T) {
	t.Parallel()
	b := setupAPI(t)
	before := fingerprint(t, b)
	path := "/v1/invoices/" + b.inv["a1"].Number + "/void"
	reason := func(s string) string {
		j, err := json.Marshal(map[string]string{"reason": s})
		require.NoError(t, err)
		return string(j)
	}
	for _, tc := range []struct{ body, want string }{
		{`{"reason":"wrong\u0000usage"}`, "control character U+0000 at character 6"},
		{reason("wrong\tusage"), "control character U+0009"},
		{reason("wrong\nusage"), "control character U+000A"},
		{reason("bell\a"), "control character U+0007"},
		{reason("csi\u009b"), "control character U+009B"},
		{reason("line\u2028separator"), "control character U+2028"},
		{`{"reason":"` + "\xff" + `"}`, "not valid UTF-8"},
		{reason("   "), "a reason is required"},
		{reason(strings.Repeat("x", 1001)), "the reason is 1001 characters long: at most 1000"},
	} {
		res, body := b.do(t, "finance", "POST", path, tc.body)
		require.Equal(t, 400, res.StatusCode, "%s: %s", tc.body[:min(len(tc.body), 60)], body)
		require.Contains(t, errorOf(t, body).Error.Message, tc.want)
	}
	require.Equal(t, before, fingerprint(t, b))

	// The bound counts characters, not bytes: 1,000 accented letters fit.
	long := strings.Repeat("é", 1000)
	res, body := b.do(t, "finance", "POST", path, reason("  "+long+"  "))
	require.Equal(t, 200, res.StatusCode, "%s", body)
	var stored string
	require.NoError(t, b.db.Pool.QueryRow(context.Background(), `SELECT reason FROM credit_notes`).Scan(&stored))
	require.Equal(t, long, stored)
}
