package httpapi_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/billingengine/engine/internal/dbtest"
	"github.com/billingengine/engine/internal/httpapi"
	"github.com/billingengine/engine/internal/platform/auth"
	"github.com/billingengine/engine/internal/testutil"
	"github.com/billingengine/engine/invoices"
	"github.com/billingengine/engine/jobs"
	"github.com/billingengine/engine/payments/paypal"
	"github.com/billingengine/engine/payments/sandbox"
)

type portalBundle struct {
	db     *dbtest.DB
	srv    *httptest.Server
	tokens map[string]string
	own    testutil.Invoice
	other  testutil.Invoice
}

// setupPortal serves the API and the portal with a running worker over a
// suspended account "p1" with an open invoice and no method, and another
// account "p2" with one.
func setupPortal(t *testing.T) *portalBundle {
	t.Helper()
	ctx := context.Background()
	db := dbtest.New(t)
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
	b := &portalBundle{db: db, tokens: map[string]string{}}
	b.srv = httptest.NewUnstartedServer(nil)
	b.srv.Config.Handler = httpapi.New(httpapi.Config{Pool: db.Pool, Jobs: worker, PayPal: paypal.Sandbox{}, Logger: log, Sandbox: true,
		Renderer:    &invoices.Renderer{Seller: invoices.Seller{Name: "Seller"}, Fonts: fonts},
		ReferralURL: "https://paas.example/r/{code}", PortalURL: "http://" + b.srv.Listener.Addr().String()})
	b.srv.Start()
	t.Cleanup(b.srv.Close)
	b.own = testutil.OpenInvoice(t, db.Pool, "p1", 1, "12.00")
	b.other = testutil.OpenInvoice(t, db.Pool, "p2", 2, "20.00")
	_, err = db.Pool.Exec(ctx, `UPDATE accounts SET status = 'suspended' WHERE id = 'p1';
		INSERT INTO account_events (account_id, at, kind) VALUES ('p1', '2026-10-06T06:00:00Z', 'suspended')`)
	require.NoError(t, err)
	for name, scope := range map[string]auth.Scope{"finance": auth.ScopeFinance, "service": auth.ScopeService, "account": auth.AccountScope("p1")} {
		_, secret, err := auth.Create(ctx, db.Pool, name, scope)
		require.NoError(t, err)
		b.tokens[name] = secret
	}
	return b
}

func (b *portalBundle) link(t *testing.T, who, account string) (int, string) {
	t.Helper()
	req, err := http.NewRequest("POST", b.srv.URL+"/v1/accounts/"+account+"/portal-sessions", strings.NewReader(`{"ttl":"10m"}`))
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+b.tokens[who])
	res, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer res.Body.Close()
	var out struct {
		URL       string    `json:"url"`
		ExpiresAt time.Time `json:"expires_at"`
	}
	body, _ := io.ReadAll(res.Body)
	if res.StatusCode == 201 {
		require.NoError(t, json.Unmarshal(body, &out), "%s", body)
		require.WithinDuration(t, time.Now().Add(10*time.Minute), out.ExpiresAt, time.Minute)
	}
	return res.StatusCode, out.URL
}

type browser struct {
	t      *testing.T
	client *http.Client
}

func newBrowser(t *testing.T) *browser {
	jar, err := cookiejar.New(nil)
	require.NoError(t, err)
	return &browser{t: t, client: &http.Client{Jar: jar}}
}

func (br *browser) get(u string) (int, string) {
	br.t.Helper()
	res, err := br.client.Get(u)
	require.NoError(br.t, err)
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(b)
}

func (br *browser) post(u string, form url.Values, header map[string]string) (int, string) {
	br.t.Helper()
	req, err := http.NewRequest("POST", u, strings.NewReader(form.Encode()))
	require.NoError(br.t, err)
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	for k, v := range header {
		req.Header.Set(k, v)
	}
	res, err := br.client.Do(req)
	require.NoError(br.t, err)
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(b)
}

var csrfRE = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

// The whole portal flow: a one-time link opens a session on the overview,
// which shows the unpaid invoice and the suspension; a card added there
// pays it and reactivates the account. A reused link, a forged CSRF token,
// a cross-site form, another account's document and an expired session
// all fail safely.
func TestPortalFlow(t *testing.T) {
	t.Parallel()
	b := setupPortal(t)
	ctx := context.Background()
	status, _ := b.link(t, "account", "p1")
	require.Equal(t, 403, status)
	status, _ = b.link(t, "service", "ghost")
	require.Equal(t, 404, status)
	status, _ = b.link(t, "service", "p1")
	require.Equal(t, 201, status)
	status, link := b.link(t, "finance", "p1")
	require.Equal(t, 201, status)
	require.True(t, strings.HasPrefix(link, b.srv.URL+"/portal/login?token="), link)

	br := newBrowser(t)
	status, page := br.get(link)
	require.Equal(t, 200, status, page)
	require.Contains(t, page, b.own.Number)
	require.Contains(t, page, `id="status">Suspendu`) // p1 is French
	require.Contains(t, page, "suspendu depuis le 06/10/2026")
	require.Contains(t, page, "12,00\u00a0€")
	require.NotContains(t, page, b.other.Number)
	u, _ := url.Parse(b.srv.URL + "/portal/")
	cookies := br.client.Jar.Cookies(u)
	require.Len(t, cookies, 1)

	// The link is spent.
	status, page = newBrowser(t).get(link)
	require.Equal(t, 410, status)
	require.Contains(t, page, "already been used or has expired")

	// Another account's invoice is not found; one's own is served.
	status, _ = br.get(b.srv.URL + "/portal/documents/" + b.other.Number + ".pdf")
	require.Equal(t, 404, status)
	status, pdf := br.get(b.srv.URL + "/portal/documents/" + b.own.Number + ".pdf")
	require.Equal(t, 200, status)
	require.True(t, strings.HasPrefix(pdf, "%PDF-"))

	status, page = br.get(b.srv.URL + "/portal/billing")
	require.Equal(t, 200, status)
	m := csrfRE.FindStringSubmatch(page)
	require.NotNil(t, m, page)
	csrf := m[1]

	// A forged token, or a form from another site, changes nothing.
	status, page = br.post(b.srv.URL+"/portal/billing/card", url.Values{"csrf": {"forged"}, "id": {"pm_card_visa"}}, nil)
	require.Equal(t, 403, status, page)
	status, _ = br.post(b.srv.URL+"/portal/billing/card", url.Values{"csrf": {csrf}, "id": {"pm_card_visa"}},
		map[string]string{"Sec-Fetch-Site": "cross-site", "Origin": "https://evil.example"})
	require.Equal(t, 403, status)
	// Bad input is shown on the page, and writes nothing.
	status, page = br.post(b.srv.URL+"/portal/billing/sepa", url.Values{"csrf": {csrf}, "iban": {"FR7630006000011234567890188"}, "holder_name": {"Ada"}}, nil)
	require.Equal(t, 400, status)
	require.Contains(t, page, "wrong check digits")
	status, page = br.post(b.srv.URL+"/portal/billing/credit", url.Values{"csrf": {csrf}, "amount": {"4,99"}}, nil)
	require.Equal(t, 400, status)
	require.Contains(t, page, "5.00")
	var methods int
	require.NoError(t, b.db.Pool.QueryRow(ctx, `SELECT count(*) FROM payment_methods WHERE account_id = 'p1'`).Scan(&methods))
	require.Zero(t, methods)
	require.JSONEq(t, `[{"kind":"suspended","data":{}}]`, testutil.ConsequencesOf(t, b.db.Pool, "p1").Timeline)

	// A working card pays the invoice and lifts the suspension.
	status, page = br.post(b.srv.URL+"/portal/billing/card", url.Values{"csrf": {csrf}, "id": {"pm_card_visa"}},
		map[string]string{"Sec-Fetch-Site": "same-origin"})
	require.Equal(t, 200, status, page)
	require.Contains(t, page, "Votre moyen de paiement est enregistré")
	require.NoError(t, jobs.WaitIdle(ctx, b.db.Pool, time.Minute, 50*time.Millisecond))
	status, page = br.get(b.srv.URL + "/portal/")
	require.Equal(t, 200, status)
	require.Contains(t, page, `id="status">Actif`)
	require.Contains(t, page, `id="all-paid"`)
	status, page = br.get(b.srv.URL + "/portal/billing")
	require.Equal(t, 200, status)
	require.Contains(t, page, "Paiement · Carte · réussi") // in the reader's words, not the API's codes
	status, page = br.get(b.srv.URL + "/portal/timeline")
	require.Equal(t, 200, status)
	require.Contains(t, page, "Compte réactivé")
	require.NotContains(t, page, "reactivated")
	status, page = br.get(b.srv.URL + "/portal/referrals")
	require.Equal(t, 200, status)
	require.Contains(t, page, "https://paas.example/r/p1")

	// An hour idle ends the session.
	_, err := b.db.Pool.Exec(ctx, `UPDATE portal_sessions SET last_seen_at = last_seen_at - interval '61 minutes'`)
	require.NoError(t, err)
	status, page = br.get(b.srv.URL + "/portal/")
	require.Equal(t, 401, status)
	require.Contains(t, page, "session")
}

// The session cookie is HttpOnly and SameSite=Lax, Secure under HTTPS.
func TestPortalCookie(t *testing.T) {
	t.Parallel()
	b := setupPortal(t)
	_, link := b.link(t, "finance", "p1")
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	res, err := client.Get(link)
	require.NoError(t, err)
	res.Body.Close()
	require.Equal(t, http.StatusSeeOther, res.StatusCode)
	require.Equal(t, "/portal/", res.Header.Get("Location"))
	c := res.Header.Get("Set-Cookie")
	require.Contains(t, c, "HttpOnly")
	require.Contains(t, c, "SameSite=Lax")
	require.Contains(t, c, "Max-Age=3600")
	require.NotContains(t, c, "Secure") // plain http here

	tls := httptest.NewTLSServer(b.srv.Config.Handler)
	t.Cleanup(tls.Close)
	_, link = b.link(t, "finance", "p1")
	client = tls.Client()
	client.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	res, err = client.Get(strings.Replace(link, b.srv.URL, tls.URL, 1))
	require.NoError(t, err)
	res.Body.Close()
	require.Contains(t, res.Header.Get("Set-Cookie"), "Secure")
}

// A SEPA mandate signed on the Billing page is shown with its PDF; credit
// bought there is added at once (the PayPal sandbox captures); logging out
// ends the session.
func TestPortalSEPAAndCredit(t *testing.T) {
	t.Parallel()
	b := setupPortal(t)
	ctx := context.Background()
	_, link := b.link(t, "finance", "p1")
	br := newBrowser(t)
	status, _ := br.get(link)
	require.Equal(t, 200, status)
	_, page := br.get(b.srv.URL + "/portal/billing")
	csrf := csrfRE.FindStringSubmatch(page)[1]

	status, page = br.post(b.srv.URL+"/portal/billing/sepa", url.Values{"csrf": {csrf}, "iban": {"DE89 3704 0044 0532 0130 00"},
		"holder_name": {"Zoé Lefèvre"}}, map[string]string{"User-Agent": "PortalTest/2"})
	require.Equal(t, 200, status, page)
	var ref, ua, lang string
	require.NoError(t, b.db.Pool.QueryRow(ctx, `SELECT reference, accepted_user_agent, language FROM sepa_mandates WHERE account_id = 'p1'`).Scan(&ref, &ua, &lang))
	require.Equal(t, "PortalTest/2", ua)
	require.Equal(t, "fr", lang)
	require.Contains(t, page, ref)
	require.Contains(t, page, "DE89 **** **** 3000")
	require.Contains(t, page, `href="/portal/mandate.pdf"`)
	status, pdf := br.get(b.srv.URL + "/portal/mandate.pdf")
	require.Equal(t, 200, status)
	require.True(t, strings.HasPrefix(pdf, "%PDF-"))

	status, page = br.post(b.srv.URL+"/portal/billing/credit", url.Values{"csrf": {csrf}, "amount": {"25,00"}}, nil)
	require.Equal(t, 200, status, page)
	require.Contains(t, page, "Merci : votre crédit est ajouté")
	var balance string
	require.NoError(t, b.db.Pool.QueryRow(ctx, `SELECT credit_balance::text FROM accounts WHERE id = 'p1'`).Scan(&balance))
	require.NotEqual(t, "0.00", balance)

	status, _ = br.post(b.srv.URL+"/portal/logout", url.Values{"csrf": {csrf}}, nil)
	require.Equal(t, 200, status)
	status, _ = br.get(b.srv.URL + "/portal/")
	require.Equal(t, 401, status)
}

// Without BILLING_PORTAL_URL no link is minted: a link without the
// portal's address would lead the customer nowhere.
func TestPortalSessionNeedsThePortalURL(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := dbtest.New(t)
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	srv := httptest.NewServer(httpapi.New(httpapi.Config{Pool: db.Pool, PayPal: paypal.Sandbox{}, Logger: log}))
	t.Cleanup(srv.Close)
	testutil.OpenInvoice(t, db.Pool, "p1", 1, "12.00")
	_, secret, err := auth.Create(ctx, db.Pool, "service", auth.ScopeService)
	require.NoError(t, err)
	req, err := http.NewRequest("POST", srv.URL+"/v1/accounts/p1/portal-sessions", nil)
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+secret)
	res, err := apiClient(t).Do(req)
	require.NoError(t, err)
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	require.Equal(t, http.StatusServiceUnavailable, res.StatusCode, "%s", body)
	require.Contains(t, string(body), `"not_configured"`)
	require.Contains(t, string(body), "BILLING_PORTAL_URL is not set")
	var links int
	require.NoError(t, db.Pool.QueryRow(ctx, `SELECT count(*) FROM portal_links`).Scan(&links))
	require.Zero(t, links, "no link minted")
}
