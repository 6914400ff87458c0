package httpapi_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"riverqueue.com/riverui"

	"github.com/billingengine/engine/internal/dbtest"
	"github.com/billingengine/engine/internal/httpapi"
	"github.com/billingengine/engine/internal/platform/auth"
	"github.com/billingengine/engine/internal/testutil"
	"github.com/billingengine/engine/invoices"
	"github.com/billingengine/engine/jobs"
	"github.com/billingengine/engine/payments/paypal"
)

type apiBundle struct {
	db     *dbtest.DB
	srv    *httptest.Server
	api    *httpapi.Server
	tokens map[string]string // principal -> bearer token
	inv    map[string]testutil.Invoice
	runID  int64
}

// setupAPI serves the API over a database with two accounts, an open
// invoice each and a token of every kind.
func setupAPI(t *testing.T) *apiBundle {
	t.Helper()
	db := dbtest.New(t)
	ctx := context.Background()
	client, err := jobs.NewInsertClient(db.Pool)
	require.NoError(t, err)
	fonts, err := invoices.LoadFonts("", nil)
	require.NoError(t, err)
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	ui, err := riverui.NewHandler(&riverui.HandlerOpts{Endpoints: riverui.NewEndpoints(client, nil), Logger: log, Prefix: "/riverui"})
	require.NoError(t, err)
	uiCtx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	require.NoError(t, ui.Start(uiCtx))
	api := httpapi.New(httpapi.Config{Pool: db.Pool, Jobs: client, PayPal: paypal.Sandbox{}, Logger: log, StripeWebhookSecret: "whsec_x",
		ReferralURL: "https://paas.example/signup?ref={code}",
		Renderer:    &invoices.Renderer{Seller: invoices.Seller{Name: "Seller"}, Fonts: fonts}, RiverUI: ui,
		Invoices: &invoices.Config{Location: time.UTC, Now: func() time.Time { return time.Date(2026, 11, 20, 9, 0, 0, 0, time.UTC) }}})
	srv := httptest.NewServer(api)
	t.Cleanup(srv.Close)

	b := &apiBundle{db: db, srv: srv, api: api, tokens: map[string]string{}, inv: map[string]testutil.Invoice{}}
	b.inv["a1"] = testutil.OpenInvoice(t, db.Pool, "a1", 1, "12.00")
	b.inv["a2"] = testutil.OpenInvoice(t, db.Pool, "a2", 2, "20.00")
	b.inv["a1-business"] = businessInvoice(t, b, "a1", 3)
	_, err = db.Pool.Exec(ctx, `INSERT INTO resources VALUES ('c'); INSERT INTO prices VALUES ('c', '2026-01-01Z', 0.10, 'C')`)
	require.NoError(t, err)
	require.NoError(t, db.Pool.QueryRow(ctx, `SELECT id FROM billing_runs ORDER BY id LIMIT 1`).Scan(&b.runID))
	for name, scope := range map[string]auth.Scope{"finance": auth.ScopeFinance, "service": auth.ScopeService, "account": auth.AccountScope("a1"), "revoked": auth.ScopeFinance} {
		tok, secret, err := auth.Create(ctx, db.Pool, name, scope)
		require.NoError(t, err)
		b.tokens[name] = secret
		if name == "revoked" {
			_, err := auth.Revoke(ctx, db.Pool, tok.ID)
			require.NoError(t, err)
		}
	}
	b.tokens["bad"] = "bt_not-a-real-token"
	b.tokens["none"] = ""
	return b
}

// businessInvoice is an open invoice of account with a VAT number, so it
// has an e-invoice: one usage line, French VAT.
func businessInvoice(t *testing.T, b *apiBundle, account string, n int) testutil.Invoice {
	t.Helper()
	ctx := context.Background()
	inv := testutil.Invoice{Number: fmt.Sprintf("INV-2026-%06d", n)}
	err := b.db.Pool.QueryRow(ctx, `
		INSERT INTO invoices (number, account_id, period, period_start, period_end, run_id, status, subtotal, discount,
		                      tax_rate, vat_treatment, tax, total, issued_at, buyer_name, buyer_email, buyer_country, buyer_vat_number)
		VALUES ($1, $2, '2026-09', '2026-09-01Z', '2026-10-01Z', (SELECT min(id) FROM billing_runs), 'open', 10.00, 0, 20, 'domestic', 2.00, 12.00,
		        '2026-10-01T00:30:00Z', 'Acme SAS', 'billing@acme.test', 'FR', 'FR40303265045')
		RETURNING id`, inv.Number, account).Scan(&inv.ID)
	require.NoError(t, err)
	_, err = b.db.Pool.Exec(ctx, `INSERT INTO invoice_usage_lines (invoice_id, apps, resources, hours, amounts, price_counts, prices_per_hour, price_hours)
		VALUES ($1, '{web}', '{c}', '{100}', '{10.00}', '{1}', '{0.10}', '{100.000000}')`, inv.ID)
	require.NoError(t, err)
	return inv
}

func (b *apiBundle) do(t *testing.T, principal, method, path, body string) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, b.srv.URL+path, strings.NewReader(body))
	require.NoError(t, err)
	if tok := b.tokens[principal]; tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	res, err := apiClient(t).Do(req)
	require.NoError(t, err)
	defer res.Body.Close()
	out, err := io.ReadAll(res.Body)
	require.NoError(t, err)
	return res, out
}

const segment = `{"id":"s-%s","account_id":"a1","app":"web","resource":"c","quantity":1,"started_at":"2026-11-03T00:00:00Z","ended_at":"2026-11-03T05:00:00Z"}`

// Every route answers every kind of caller as its scope says: no or a bad
// token 401, a scope the route doesn't allow 403, another account's data
// 404.
func TestRouteScopeMatrix(t *testing.T) {
	t.Parallel()
	b := setupAPI(t)
	own, other := b.inv["a1"].Number, b.inv["a2"].Number
	type call struct{ method, path, body string }
	matrix := []struct {
		call
		want map[string]int // principal -> status; absent principals: 401 for bad/none/revoked
	}{
		{call{"GET", "/healthz", ""}, map[string]int{"finance": 200, "service": 200, "account": 200, "none": 200, "bad": 200, "revoked": 200}},
		{call{"GET", "/metrics", ""}, map[string]int{"finance": 200, "service": 200, "account": 200, "none": 200, "bad": 200, "revoked": 200}},
		{call{"POST", "/v1/usage", segment}, map[string]int{"finance": 200, "service": 200, "account": 403}},
		{call{"POST", "/v1/runs", `{"period":"2026-11","account_ids":["a1"]}`}, map[string]int{"finance": 202, "service": 403, "account": 403}},
		{call{"GET", fmt.Sprintf("/v1/runs/%d", b.runID), ""}, map[string]int{"finance": 200, "service": 403, "account": 403}},
		{call{"GET", "/v1/accounts", ""}, map[string]int{"finance": 200, "service": 403, "account": 403}},
		{call{"GET", "/v1/invoices?status=open", ""}, map[string]int{"finance": 200, "service": 403, "account": 403}},
		{call{"GET", "/v1/accounts/a1", ""}, map[string]int{"finance": 200, "service": 403, "account": 200}},
		{call{"GET", "/v1/accounts/a2", ""}, map[string]int{"finance": 200, "service": 403, "account": 404}},
		{call{"GET", "/v1/accounts/a1/invoices", ""}, map[string]int{"finance": 200, "service": 403, "account": 200}},
		{call{"GET", "/v1/accounts/a2/invoices", ""}, map[string]int{"finance": 200, "service": 403, "account": 404}},
		{call{"POST", "/v1/accounts/a1/credit/paypal", `{"amount":"5.00"}`}, map[string]int{"finance": 201, "service": 403, "account": 201}},
		{call{"POST", "/v1/accounts/a2/credit/paypal", `{"amount":"5.00"}`}, map[string]int{"finance": 201, "service": 403, "account": 404}},
		{call{"GET", "/v1/invoices/" + own, ""}, map[string]int{"finance": 200, "service": 403, "account": 200}},
		{call{"GET", "/v1/invoices/" + other, ""}, map[string]int{"finance": 200, "service": 403, "account": 404}},
		{call{"GET", "/v1/invoices/" + own + "/pdf", ""}, map[string]int{"finance": 200, "service": 403, "account": 200}},
		{call{"GET", "/v1/invoices/" + other + "/pdf", ""}, map[string]int{"finance": 200, "service": 403, "account": 404}},
		{call{"GET", "/v1/invoices/" + b.inv["a1-business"].Number + "/xml", ""}, map[string]int{"finance": 200, "service": 403, "account": 200}},
		// A consumer's invoice has no e-invoice (no_einvoice), another
		// account's is not found.
		{call{"GET", "/v1/invoices/" + own + "/xml", ""}, map[string]int{"finance": 404, "service": 403, "account": 404}},
		{call{"GET", "/v1/invoices/" + other + "/xml", ""}, map[string]int{"finance": 404, "service": 403, "account": 404}},
		{call{"GET", "/v1/invoices/INV-2026-999999/xml", ""}, map[string]int{"finance": 404, "service": 403, "account": 404}},
		{call{"POST", "/v1/invoices/" + other + "/collect", ""}, map[string]int{"finance": 202, "service": 202, "account": 403}},
		{call{"GET", "/v1/accounts/ghost", ""}, map[string]int{"finance": 404, "service": 403, "account": 404}},
		{call{"GET", "/v1/invoices/INV-2026-999999", ""}, map[string]int{"finance": 404, "service": 403, "account": 404}},
		{call{"POST", "/v1/invoices/INV-2026-999999/void", `{"reason":"r"}`}, map[string]int{"finance": 404, "service": 403, "account": 403}},
		// Last: voiding changes the invoice the rows above read.
		{call{"POST", "/v1/invoices/" + own + "/void", `{"reason":"wrong usage"}`}, map[string]int{"finance": 200, "service": 403, "account": 403}},
		{call{"POST", "/v1/invoices/" + other + "/void", `{}`}, map[string]int{"finance": 400, "service": 403, "account": 403}},
		{call{"GET", "/v1/invoices/CN-2026-000001", ""}, map[string]int{"finance": 200, "service": 403, "account": 200}},
		{call{"GET", "/v1/invoices/CN-2026-000001/pdf", ""}, map[string]int{"finance": 200, "service": 403, "account": 200}},
		{call{"GET", "/v1/invoices/CN-2026-000001/xml", ""}, map[string]int{"finance": 404, "service": 403, "account": 404}},
		{call{"POST", "/v1/invoices/" + other + "/void", `{"reason":"duplicate"}`}, map[string]int{"finance": 200, "service": 403, "account": 403}},
		{call{"GET", "/v1/invoices/CN-2026-000002", ""}, map[string]int{"finance": 200, "service": 403, "account": 404}},
		{call{"GET", "/v1/invoices/CN-2026-000002/pdf", ""}, map[string]int{"finance": 200, "service": 403, "account": 404}},
		{call{"GET", "/v1/invoices/CN-2026-000003", ""}, map[string]int{"finance": 404, "service": 403, "account": 404}},
	}
	for _, m := range matrix {
		for _, p := range []string{"finance", "service", "account", "none", "bad", "revoked"} {
			want, ok := m.want[p]
			if !ok {
				want = 401
			}
			res, body := b.do(t, p, m.method, m.path, m.body)
			require.Equal(t, want, res.StatusCode, "%s %s as %s: %s", m.method, m.path, p, body)
			require.NotEmpty(t, res.Header.Get("X-Request-Id"))
			if res.StatusCode >= 400 {
				var e struct {
					Error struct{ Code, Message string } `json:"error"`
				}
				require.NoError(t, json.Unmarshal(body, &e), "%s", body)
				require.NotEmpty(t, e.Error.Code, "%s %s as %s: %s", m.method, m.path, p, body)
				require.NotEmpty(t, e.Error.Message)
			}
		}
	}

	// The River UI: basic auth with a finance token as the password.
	for p, want := range map[string]int{"finance": 200, "service": 401, "account": 401, "revoked": 401, "bad": 401} {
		req, _ := http.NewRequest("GET", b.srv.URL+"/riverui/", nil)
		req.SetBasicAuth("anyone", b.tokens[p])
		res, err := apiClient(t).Do(req)
		require.NoError(t, err)
		res.Body.Close()
		require.Equal(t, want, res.StatusCode, "River UI as %s", p)
	}
	res, _ := b.do(t, "none", "GET", "/riverui/", "")
	require.Equal(t, 401, res.StatusCode)
	require.Contains(t, res.Header.Get("WWW-Authenticate"), "Basic")

	res, body := b.do(t, "finance", "GET", "/v1/nowhere", "")
	require.Equal(t, 404, res.StatusCode, "%s", body)
}

func TestUsageOverHTTP(t *testing.T) {
	t.Parallel()
	b := setupAPI(t)
	bad := fmt.Sprintf(segment, "1") + "\n" + `{"id":"s-2","account_id":"ghost","app":"web","resource":"c","quantity":0,"started_at":"2026-11-03T00:00:00Z","ended_at":null}` + "\n"
	res, body := b.do(t, "service", "POST", "/v1/usage", bad)
	require.Equal(t, 422, res.StatusCode, "%s", body)
	var e struct {
		Error struct {
			Code     string
			Problems []struct {
				Line    int
				Message string
			}
			ProblemCount int `json:"problem_count"`
		}
	}
	require.NoError(t, json.Unmarshal(body, &e))
	require.Equal(t, "invalid_input", e.Error.Code)
	require.Equal(t, 1, e.Error.ProblemCount)
	require.Equal(t, 2, e.Error.Problems[0].Line)
	require.Contains(t, e.Error.Problems[0].Message, "quantity")
	var n int
	require.NoError(t, b.db.Pool.QueryRow(context.Background(), `SELECT count(*) FROM usage_segments`).Scan(&n))
	require.Zero(t, n, "all or nothing")

	res, body = b.do(t, "service", "POST", "/v1/usage?skip_invalid=true", bad)
	require.Equal(t, 200, res.StatusCode, "%s", body)
	require.Contains(t, string(body), `"inserted":1`)

	csv := "id,account_id,app,resource,quantity,started_at,ended_at\ns-3,a1,web,c,2,2026-11-04T00:00:00Z,\n"
	res, body = b.do(t, "finance", "POST", "/v1/usage?format=csv", csv)
	require.Equal(t, 200, res.StatusCode, "%s", body)
}

// An upload past what is kept in memory (4 MiB) is spooled to a file,
// whole: a second upload repeating its ids, with one more, is read again
// from the file by the staging path and applied exactly.
func TestLargeUploadSpooledToDisk(t *testing.T) {
	t.Parallel()
	b := setupAPI(t)
	var in strings.Builder
	const n = 40_000 // about 6 MiB
	for i := range n {
		in.WriteString(fmt.Sprintf(segment, fmt.Sprint("big-", i)) + "\n")
	}
	res, body := b.do(t, "service", "POST", "/v1/usage", in.String())
	require.Equal(t, 200, res.StatusCode, "%s", body)
	require.Contains(t, string(body), fmt.Sprintf(`"inserted":%d`, n))
	in.WriteString(fmt.Sprintf(segment, "one-more") + "\n")
	res, body = b.do(t, "service", "POST", "/v1/usage", in.String())
	require.Equal(t, 200, res.StatusCode, "%s", body)
	require.Contains(t, string(body), `"inserted":1`)
	require.Contains(t, string(body), fmt.Sprintf(`"unchanged":%d`, n))
	var stored int
	require.NoError(t, b.db.Pool.QueryRow(context.Background(), `SELECT count(*) FROM usage_segments WHERE id LIKE 's-big-%' OR id = 's-one-more'`).Scan(&stored))
	require.Equal(t, n+1, stored)
}

func TestCollectAndPDFOverHTTP(t *testing.T) {
	t.Parallel()
	b := setupAPI(t)
	ctx := context.Background()
	n := b.inv["a1"].Number
	res, body := b.do(t, "service", "POST", "/v1/invoices/"+n+"/collect", "")
	require.Equal(t, 202, res.StatusCode, "%s", body)
	var queued int
	require.NoError(t, b.db.Pool.QueryRow(ctx, `SELECT count(*) FROM river_job WHERE kind = 'collect_invoice' AND args->>'invoice_number' = $1`, n).Scan(&queued))
	require.Equal(t, 1, queued)

	_, err := b.db.Pool.Exec(ctx, `UPDATE invoices SET amount_paid = total, status = 'paid' WHERE number = $1`, n)
	require.NoError(t, err)
	res, body = b.do(t, "service", "POST", "/v1/invoices/"+n+"/collect", "")
	require.Equal(t, 409, res.StatusCode)
	require.Contains(t, string(body), `"status":"paid"`)

	// The PDF served is the one stored, byte for byte.
	res, pdf := b.do(t, "account", "GET", "/v1/invoices/"+n+"/pdf", "")
	require.Equal(t, 200, res.StatusCode)
	require.Equal(t, "application/pdf", res.Header.Get("Content-Type"))
	stored, err := invoices.LatestPDF(ctx, b.db.Pool, n)
	require.NoError(t, err)
	sum := sha256.Sum256(pdf)
	require.Equal(t, stored.SHA256, hex.EncodeToString(sum[:]))
	require.Equal(t, `"`+stored.SHA256+`"`, res.Header.Get("ETag"))
	_, again := b.do(t, "finance", "GET", "/v1/invoices/"+n+"/pdf", "")
	require.Equal(t, pdf, again)
}

// The e-invoice served is the one stored with the PDF, byte for byte, as
// application/xml; a consumer's invoice answers 404 no_einvoice, another
// account's 404 not_found.
func TestEInvoiceOverHTTP(t *testing.T) {
	t.Parallel()
	b := setupAPI(t)
	ctx := context.Background()
	n := b.inv["a1-business"].Number
	res, body := b.do(t, "account", "GET", "/v1/invoices/"+n+"/xml", "")
	require.Equal(t, 200, res.StatusCode, "%s", body)
	require.Equal(t, "application/xml", res.Header.Get("Content-Type"))
	require.Contains(t, string(body), "<ram:ID>urn:cen.eu:en16931:2017</ram:ID>")
	require.Contains(t, string(body), "<ram:DuePayableAmount>12.00</ram:DuePayableAmount>")
	stored, err := invoices.LatestPDF(ctx, b.db.Pool, n)
	require.NoError(t, err)
	require.Equal(t, stored.XML, body)
	require.Equal(t, `"`+stored.XMLSHA256()+`"`, res.Header.Get("ETag"))
	req, _ := http.NewRequest("GET", b.srv.URL+"/v1/invoices/"+n+"/xml", nil)
	req.Header.Set("Authorization", "Bearer "+b.tokens["finance"])
	req.Header.Set("If-None-Match", res.Header.Get("ETag"))
	again, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	again.Body.Close()
	require.Equal(t, 304, again.StatusCode)

	errorCode := func(body []byte) string {
		var e struct {
			Error struct{ Code, Message string } `json:"error"`
		}
		require.NoError(t, json.Unmarshal(body, &e), "%s", body)
		return e.Error.Code + ": " + e.Error.Message
	}
	res, body = b.do(t, "finance", "GET", "/v1/invoices/"+b.inv["a1"].Number+"/xml", "")
	require.Equal(t, 404, res.StatusCode)
	require.Equal(t, "no_einvoice: "+b.inv["a1"].Number+": account a1 is a consumer: no e-invoice (SPEC §13)", errorCode(body))
	res, body = b.do(t, "account", "GET", "/v1/invoices/"+b.inv["a2"].Number+"/xml", "")
	require.Equal(t, 404, res.StatusCode)
	require.Equal(t, "not_found: invoice not found", errorCode(body))
}

func TestRunOverHTTP(t *testing.T) {
	t.Parallel()
	b := setupAPI(t)
	res, body := b.do(t, "finance", "POST", "/v1/runs", `{"period":"2026-13"}`)
	require.Equal(t, 400, res.StatusCode, "%s", body)
	res, body = b.do(t, "finance", "POST", "/v1/runs", `{"period":"2026-11","account_ids":["ghost"]}`)
	require.Equal(t, 422, res.StatusCode, "%s", body)
	res, body = b.do(t, "finance", "POST", "/v1/runs", `{"period":"2026-11","colour":"red"}`)
	require.Equal(t, 400, res.StatusCode, "%s", body)
	res, body = b.do(t, "finance", "POST", "/v1/runs", `{"period":"2026-11"}`)
	require.Equal(t, 202, res.StatusCode, "%s", body)
	var started struct {
		RunID int64 `json:"run_id"`
	}
	require.NoError(t, json.Unmarshal(body, &started))
	require.Equal(t, fmt.Sprintf("/v1/runs/%d", started.RunID), res.Header.Get("Location"))
	res, body = b.do(t, "finance", "GET", fmt.Sprintf("/v1/runs/%d", started.RunID), "")
	require.Equal(t, 200, res.StatusCode)
	require.Contains(t, string(body), `"state":"pending"`)
	require.Contains(t, string(body), `"failures":[]`)

	// Not finished: a second run of the period that overlaps it is refused;
	// a dry run is not a run.
	res, body = b.do(t, "finance", "POST", "/v1/runs", `{"period":"2026-11","account_ids":["a1"]}`)
	require.Equal(t, 409, res.StatusCode, "%s", body)
	require.Contains(t, string(body), `"code":"run_in_flight"`)
	require.Contains(t, string(body), fmt.Sprintf(`"run_id":%d`, started.RunID))
	res, body = b.do(t, "finance", "POST", "/v1/runs", `{"period":"2026-08","account_ids":["a1"]}`)
	require.Equal(t, 202, res.StatusCode, "another period is another scope: %s", body)
	res, body = b.do(t, "finance", "POST", "/v1/runs", `{"period":"2026-11","dry_run":true}`)
	require.Equal(t, 200, res.StatusCode, "%s", body)
	require.Contains(t, string(body), `"totals":{"invoices":0`)
}

// The API description in docs/openapi.json lists exactly the routes the
// server registers, with their scopes.
func TestOpenAPIMatchesRoutes(t *testing.T) {
	t.Parallel()
	b := setupAPI(t)
	raw, err := os.ReadFile("../../docs/openapi.json")
	require.NoError(t, err)
	var doc struct {
		Paths map[string]map[string]struct {
			Security []map[string][]string `json:"security"`
			XScopes  []string              `json:"x-scopes"`
		} `json:"paths"`
	}
	require.NoError(t, json.Unmarshal(raw, &doc))
	var documented, served []string
	for path, ops := range doc.Paths {
		for method, op := range ops {
			documented = append(documented, strings.ToUpper(method)+" "+path+" "+strings.Join(op.XScopes, ","))
		}
	}
	for _, r := range b.api.Routes() {
		if r.Pattern == "/riverui/" || r.Pattern == "/portal/" {
			continue
		}
		served = append(served, r.Pattern+" "+strings.Join(r.Scopes, ","))
	}
	sort.Strings(documented)
	sort.Strings(served)
	require.Equal(t, served, documented)
}
