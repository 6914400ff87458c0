package httpapi_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/billingengine/engine/internal/httpapi"
	"github.com/billingengine/engine/internal/testutil"
	"github.com/billingengine/engine/jobs"
	"github.com/billingengine/engine/payments/stripe"
)

// tableCounts counts the rows a customer's request may write, to show
// that refused input writes none.
func tableCounts(t *testing.T, b *apiBundle) string {
	t.Helper()
	var s string
	require.NoError(t, b.db.Pool.QueryRow(context.Background(), `
		SELECT format('methods=%s mandates=%s events=%s jobs=%s paypal=%s',
			(SELECT count(*) FROM payment_methods), (SELECT count(*) FROM sepa_mandates),
			(SELECT count(*) FROM account_events), (SELECT count(*) FROM river_job), (SELECT count(*) FROM paypal_orders))`).Scan(&s))
	return s
}

// The customer's routes answer the account's own token and finance; other
// accounts' data is 404, other scopes 403.
func TestCustomerRoutesScopes(t *testing.T) {
	t.Parallel()
	b := setupAPI(t)
	for _, path := range []string{"payment-methods", "payments", "referrals", "timeline"} {
		for _, c := range []struct {
			who, account string
			want         int
		}{{"account", "a1", 200}, {"finance", "a2", 200}, {"account", "a2", 404}, {"service", "a1", 403},
			{"none", "a1", 401}, {"finance", "ghost", 404}} {
			res, body := b.do(t, c.who, "GET", "/v1/accounts/"+c.account+"/"+path, "")
			require.Equal(t, c.want, res.StatusCode, "%s %s: %s", c.who, path, body)
		}
		res, body := b.do(t, "account", "GET", "/v1/accounts/a1/"+path+"?nope=1", "")
		require.Equal(t, 400, res.StatusCode, "%s", body)
		require.Contains(t, string(body), `"code":"invalid_parameter","message":"nope: `)
	}
	res, body := b.do(t, "account", "POST", "/v1/accounts/a2/payment-methods", `{"type":"card","id":"pm_card_visa"}`)
	require.Equal(t, 404, res.StatusCode, "%s", body)
	res, body = b.do(t, "service", "POST", "/v1/accounts/a1/payment-methods", `{"type":"card","id":"pm_card_visa"}`)
	require.Equal(t, 403, res.StatusCode, "%s", body)
	res, _ = b.do(t, "account", "GET", "/v1/accounts/a2/mandate.pdf", "")
	require.Equal(t, 404, res.StatusCode)
	res, body = b.do(t, "account", "GET", "/v1/accounts/a1/mandate.pdf", "")
	require.Equal(t, 404, res.StatusCode)
	require.Contains(t, string(body), "no_mandate")
	var methods struct{ Data []any }
	res, body = b.do(t, "account", "GET", "/v1/accounts/a1/payment-methods", "")
	require.Equal(t, 200, res.StatusCode)
	require.NoError(t, json.Unmarshal(body, &methods))
	require.Empty(t, methods.Data)
}

// A card added through the API has what every new method has (SPEC §5):
// payment_method_changed on the timeline and the open invoices queued for
// collection, through the same effects as the CLI and Stripe's webhook.
func TestAddCardOverHTTPConsequences(t *testing.T) {
	t.Parallel()
	b := setupAPI(t)
	res, body := b.do(t, "account", "POST", "/v1/accounts/a1/payment-methods", `{"type":"card","id":"pm_card_visa"}`)
	require.Equal(t, 201, res.StatusCode, "%s", body)
	require.JSONEq(t, `{"type":"card","id":"pm_card_visa","mandate":null,"collections_enqueued":2}`, string(body))
	got := testutil.ConsequencesOf(t, b.db.Pool, "a1")
	require.JSONEq(t, methodChangedTimeline, got.Timeline)
	require.ElementsMatch(t, []string{b.inv["a1"].Number, b.inv["a1-business"].Number}, got.Collected)
	res, body = b.do(t, "account", "GET", "/v1/accounts/a1/payment-methods", "")
	require.Equal(t, 200, res.StatusCode)
	require.JSONEq(t, `{"data":[{"type":"card","id":"pm_card_visa"}]}`, string(body))
	res, body = b.do(t, "account", "GET", "/v1/accounts/a1/timeline", "")
	require.Equal(t, 200, res.StatusCode)
	require.Contains(t, string(body), `"kind":"payment_method_changed"`)
	// The same card again changes nothing.
	res, body = b.do(t, "account", "POST", "/v1/accounts/a1/payment-methods", `{"type":"card","id":"pm_card_visa"}`)
	require.Equal(t, 201, res.StatusCode, "%s", body)
	require.Contains(t, string(body), `"collections_enqueued":0`)
	require.JSONEq(t, methodChangedTimeline, testutil.ConsequencesOf(t, b.db.Pool, "a1").Timeline)
}

// A SEPA debit creates a mandate accepted online: a unique reference, the
// address, browser and time recorded, and a PDF with the mandate's terms
// in the account's language.
func TestAddSEPADebitCreatesMandate(t *testing.T) {
	t.Parallel()
	b := setupAPI(t)
	req, err := http.NewRequest("POST", b.srv.URL+"/v1/accounts/a1/payment-methods",
		strings.NewReader(`{"type":"sepa_debit","iban":"DE62 3704 0044 0532 0130 01","holder_name":"Ada Lovelace","bic":"COBADEFFXXX"}`))
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+b.tokens["account"])
	req.Header.Set("User-Agent", "TestBrowser/1.0")
	res, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer res.Body.Close()
	var out struct {
		Type, ID string
		Mandate  struct {
			Reference  string `json:"reference"`
			AcceptedAt string `json:"accepted_at"`
			PDF        string `json:"pdf"`
			IBAN       string `json:"iban"`
		}
		Collections int `json:"collections_enqueued"`
	}
	require.Equal(t, 201, res.StatusCode)
	require.NoError(t, json.NewDecoder(res.Body).Decode(&out))
	// Stripe's failing test IBAN fails in the sandbox too.
	require.Equal(t, "sepa_debit", out.Type)
	require.Equal(t, "pm_sepa_debit_fail", out.ID)
	require.Regexp(t, `^MDT-[0-9A-Z]{16}$`, out.Mandate.Reference)
	require.NotEmpty(t, out.Mandate.AcceptedAt)
	require.Equal(t, "DE62 **** **** 3001", out.Mandate.IBAN)
	require.Equal(t, "/v1/accounts/a1/mandate.pdf", out.Mandate.PDF)
	require.Equal(t, 2, out.Collections)
	var ip, ua string
	require.NoError(t, b.db.Pool.QueryRow(context.Background(),
		`SELECT accepted_ip, accepted_user_agent FROM sepa_mandates WHERE reference = $1`, out.Mandate.Reference).Scan(&ip, &ua))
	require.Equal(t, "127.0.0.1", ip)
	require.Equal(t, "TestBrowser/1.0", ua)

	res2, pdf := b.do(t, "account", "GET", "/v1/accounts/a1/mandate.pdf", "")
	require.Equal(t, 200, res2.StatusCode, "%s", pdf)
	require.True(t, strings.HasPrefix(string(pdf), "%PDF-"))
	res2, body := b.do(t, "account", "GET", "/v1/accounts/a1/payment-methods", "")
	require.Equal(t, 200, res2.StatusCode)
	require.Contains(t, string(body), out.Mandate.Reference)

	// Another IBAN settles, with a new reference.
	res2, body = b.do(t, "account", "POST", "/v1/accounts/a1/payment-methods", `{"type":"sepa_debit","iban":"FR7630006000011234567890189","holder_name":"Ada"}`)
	require.Equal(t, 201, res2.StatusCode, "%s", body)
	require.Contains(t, string(body), `"id":"pm_sepa_debit_success"`)
	require.NotContains(t, string(body), out.Mandate.Reference)
}

// Bad input is refused with a clear message and writes nothing.
func TestCustomerBadInputChangesNothing(t *testing.T) {
	t.Parallel()
	b := setupAPI(t)
	before := tableCounts(t, b)
	for _, c := range []struct{ path, body, code, msg string }{
		{"payment-methods", `{"type":"sepa_debit","iban":"FR7630006000011234567890188","holder_name":"Ada"}`, "invalid_mandate", "wrong check digits"},
		{"payment-methods", `{"type":"sepa_debit","iban":"BR1800360305000010009795493C1","holder_name":"Ada"}`, "invalid_mandate", "not in the SEPA area"},
		{"payment-methods", `{"type":"sepa_debit","iban":"FR7630006000011234567890189","holder_name":""}`, "invalid_mandate", "holder_name"},
		{"payment-methods", `{"type":"sepa_debit","iban":"FR7630006000011234567890189","holder_name":"Ada","bic":"nope"}`, "invalid_mandate", "bic"},
		{"payment-methods", `{"type":"card","id":"pm_1Nreal4242"}`, "not_a_test_card", "not one of Stripe's test card ids"},
		{"payment-methods", `{"type":"card"}`, "bad_request", "id: required in sandbox mode"},
		{"payment-methods", `{"type":"paypal"}`, "bad_request", "type: card or sepa_debit"},
		{"credit/paypal", `{"amount":"4.99"}`, "amount_out_of_range", ""},
		{"credit/paypal", `{"amount":"10000.01"}`, "amount_out_of_range", ""},
	} {
		res, body := b.do(t, "account", "POST", "/v1/accounts/a1/"+c.path, c.body)
		require.Contains(t, []int{400, 422}, res.StatusCode, "%s: %s", c.body, body)
		var e struct {
			Error struct{ Code, Message string } `json:"error"`
		}
		require.NoError(t, json.Unmarshal(body, &e))
		require.Equal(t, c.code, e.Error.Code, "%s: %s", c.body, body)
		require.Contains(t, e.Error.Message, c.msg)
	}
	require.Equal(t, before, tableCounts(t, b))
}

// The payment history lists attempts and credit movements newest first,
// a page at a time; referrals answer the shape of SPEC §14.
func TestPaymentsAndReferrals(t *testing.T) {
	t.Parallel()
	b := setupAPI(t)
	ctx := context.Background()
	_, err := b.db.Pool.Exec(ctx, `
		INSERT INTO credit_ledger (account_id, kind, amount, balance_after, reference, created_at)
		VALUES ('a1', 'manual_credit', 5.00, 5.00, 'ref-1', '2026-11-01Z'), ('a1', 'manual_credit', 7.00, 12.00, 'ref-2', '2026-11-02Z'),
		       ('a1', 'manual_credit', 1.00, 13.00, 'ref-3', '2026-11-03Z'), ('a2', 'manual_credit', 1.00, 1.00, 'ref-4', '2026-11-03Z');
		INSERT INTO accounts (id, name, email, country, created_at, referred_by)
		VALUES ('r1', 'Referee One', 'r1@example.test', 'FR', '2026-09-15Z', 'a1'),
		       ('r2', 'Referee Two', 'r2@example.test', 'FR', '2026-01-15Z', 'a1');
		INSERT INTO invoices (number, account_id, period, period_start, period_end, run_id, status, subtotal, discount,
		                      tax_rate, vat_treatment, tax, total, issued_at, buyer_name, buyer_email, buyer_country)
		VALUES ('INV-2026-000050', 'r2', '2026-09', '2026-09-01Z', '2026-10-01Z', (SELECT min(id) FROM billing_runs), 'open', 10.00, 0,
		        20, 'domestic', 2.00, 12.00, '2026-10-01T00:30:00Z', 'Referee Two', 'r2@example.test', 'FR');
		INSERT INTO referral_rewards (referee_invoice_id, referee_account_id, referrer_account_id, period, amount, state)
		VALUES ((SELECT id FROM invoices WHERE number = 'INV-2026-000050'), 'r2', 'a1', '2026-09', 2.00, 'pending')`)
	require.NoError(t, err)
	var refs []string
	next := ""
	for range 3 {
		path := "/v1/accounts/a1/payments?limit=2"
		if next != "" {
			path += "&after=" + next
		}
		res, body := b.do(t, "account", "GET", path, "")
		require.Equal(t, 200, res.StatusCode, "%s", body)
		var page struct {
			Data []struct{ Reference, Type, Amount string }
			Next *string
		}
		require.NoError(t, json.Unmarshal(body, &page))
		for _, p := range page.Data {
			require.Equal(t, "credit", p.Type)
			refs = append(refs, p.Reference)
		}
		if page.Next == nil {
			break
		}
		next = *page.Next
	}
	require.Equal(t, []string{"ref-3", "ref-2", "ref-1"}, refs)
	res, body := b.do(t, "account", "GET", "/v1/accounts/a1/payments?after=cr_99999", "")
	require.Equal(t, 400, res.StatusCode, "%s", body)

	for now, left := range map[string][2]int{"2026-11-20T09:00:00Z": {10, 2}, "2027-08-15T00:00:00Z": {1, 0}, "2028-01-01T00:00:00Z": {0, 0}} {
		at, err := time.Parse(time.RFC3339, now)
		require.NoError(t, err)
		srv := httptest.NewServer(httpapi.New(httpapi.Config{Pool: b.db.Pool, ReferralURL: "https://paas.example/signup?ref={code}",
			Now: func() time.Time { return at }}))
		req, err := http.NewRequest("GET", srv.URL+"/v1/accounts/a1/referrals", nil)
		require.NoError(t, err)
		req.Header.Set("Authorization", "Bearer "+b.tokens["account"])
		res, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		body, err := io.ReadAll(res.Body)
		res.Body.Close()
		srv.Close()
		require.NoError(t, err)
		require.Equal(t, 200, res.StatusCode, "%s", body)
		// Every referee, oldest first, those whose window is over too.
		require.JSONEq(t, fmt.Sprintf(`{"code":"a1","link":"https://paas.example/signup?ref=a1","referees":[
			{"account_id":"r2","name":"Referee Two","first_period":"2026-01","last_period":"2026-12","months_left":%d},
			{"account_id":"r1","name":"Referee One","first_period":"2026-09","last_period":"2027-08","months_left":%d}],
			"rewards":[{"period":"2026-09","amount":"2.00"}]}`, left[1], left[0]), string(body), now)
	}
	// Voiding the referee's invoice cancels the pending reward: it is no
	// longer listed as earned.
	res, body = b.do(t, "finance", "POST", "/v1/invoices/INV-2026-000050/void", `{"reason":"duplicate"}`)
	require.Equal(t, 200, res.StatusCode, "%s", body)
	res, body = b.do(t, "account", "GET", "/v1/accounts/a1/referrals", "")
	require.Equal(t, 200, res.StatusCode, "%s", body)
	require.Contains(t, string(body), `"rewards":[]`)
}

// With Stripe, {"type":"card"} answers a SetupIntent's client_secret for
// Stripe.js and sets nothing yet (setup_intent.succeeded will); a SEPA
// debit by IBAN is set up there with its mandate accepted online, and so
// is a card id, each then set with its consequences.
func TestAddMethodWithStripe(t *testing.T) {
	t.Parallel()
	b := setupAPI(t)
	rec := &bodyRecorder{}
	sp := stripe.New(b.db.Pool, stripe.Config{SecretKey: "sk_test_123", URL: testutil.StripeMock(t), HTTPClient: &http.Client{Transport: rec}})
	srv := httptest.NewServer(httpapi.New(httpapi.Config{Pool: b.db.Pool, Jobs: jobsClient(t, b), StripeMethods: sp,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}))
	t.Cleanup(srv.Close)
	post := func(body string) (int, string) {
		req, err := http.NewRequest("POST", srv.URL+"/v1/accounts/a1/payment-methods", strings.NewReader(body))
		require.NoError(t, err)
		req.Header.Set("Authorization", "Bearer "+b.tokens["account"])
		res, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		defer res.Body.Close()
		out, _ := io.ReadAll(res.Body)
		return res.StatusCode, string(out)
	}
	before := tableCounts(t, b)
	status, body := post(`{"type":"card"}`)
	require.Equal(t, 200, status, body)
	var si struct {
		ClientSecret string `json:"client_secret"`
	}
	require.NoError(t, json.Unmarshal([]byte(body), &si))
	require.NotEmpty(t, si.ClientSecret)
	require.Equal(t, before, tableCounts(t, b))
	status, body = post(`{"type":"sepa_debit","iban":"FR7630006000011234567890189","holder_name":"Ada"}`)
	require.Equal(t, 201, status, body)
	require.Contains(t, body, `"reference":"MDT-`)
	var pm string
	require.NoError(t, b.db.Pool.QueryRow(context.Background(),
		`SELECT external_id FROM payment_methods WHERE account_id = 'a1' AND replaced_at IS NULL`).Scan(&pm))
	require.True(t, strings.HasPrefix(pm, "pm_"), pm)
	require.NotEqual(t, "pm_sepa_debit_success", pm, "set up at Stripe, not the sandbox's")
	// Stripe was told the IBAN and the online acceptance, keyed by the
	// mandate's reference.
	sent := rec.all()
	require.Contains(t, sent, "POST /v1/payment_methods")
	require.Contains(t, sent, "sepa_debit[iban]=FR7630006000011234567890189")
	require.Contains(t, sent, "mandate_data[customer_acceptance][type]=online")
	require.Contains(t, sent, "mandate_data[customer_acceptance][online][ip_address]=127.0.0.1")
	require.Regexp(t, `Idempotency-Key: sepa-setup-MDT-[0-9A-Z]{16}`, sent)
	status, body = post(`{"type":"card","id":"pm_card_visa"}`)
	require.Equal(t, 201, status, body)
	require.JSONEq(t, `[{"kind":"payment_method_changed","data":{}},{"kind":"payment_method_changed","data":{}}]`,
		testutil.ConsequencesOf(t, b.db.Pool, "a1").Timeline)
}

func jobsClient(t *testing.T, b *apiBundle) *jobs.Client {
	t.Helper()
	c, err := jobs.NewInsertClient(b.db.Pool)
	require.NoError(t, err)
	return c
}

// bodyRecorder keeps every request stripe-go sent: method, path, its
// idempotency key and form body.
type bodyRecorder struct {
	mu   sync.Mutex
	reqs []string
}

func (r *bodyRecorder) RoundTrip(req *http.Request) (*http.Response, error) {
	var body []byte
	if req.Body != nil {
		body, _ = io.ReadAll(req.Body)
		req.Body = io.NopCloser(bytes.NewReader(body))
	}
	r.mu.Lock()
	r.reqs = append(r.reqs, req.Method+" "+req.URL.Path+" Idempotency-Key: "+req.Header.Get("Idempotency-Key")+" "+string(body))
	r.mu.Unlock()
	return http.DefaultTransport.RoundTrip(req)
}

func (r *bodyRecorder) all() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return strings.Join(r.reqs, "\n")
}
