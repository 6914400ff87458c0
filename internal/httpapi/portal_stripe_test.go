package httpapi_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/stripe/stripe-go/v76/webhook"

	"github.com/billingengine/engine/internal/httpapi"
	"github.com/billingengine/engine/internal/testutil"
	"github.com/billingengine/engine/jobs"
	"github.com/billingengine/engine/payments/stripe"
)

var (
	secretRE = regexp.MustCompile(`data-secret="((seti_[0-9A-Za-z]+)_secret_[0-9A-Za-z]+)"`)
	scriptRE = regexp.MustCompile(`<script src="([^"]+)"`)
)

// With Stripe, the Billing page's card form has no test ids: it leads to
// the card page, which loads Stripe.js (the one script from elsewhere,
// allowed by that page's Content-Security-Policy alone) with the
// publishable key and a SetupIntent's client secret from Stripe
// (stripe-mock here), and writes nothing. Stripe's setup_intent.succeeded
// then sets the card, and Billing shows it. Stripe.js itself is not
// loaded: the tests have no internet.
func TestPortalCardWithStripe(t *testing.T) {
	t.Parallel()
	b := setupPortal(t)
	sp := stripe.New(b.db.Pool, stripe.Config{SecretKey: "sk_test_123", URL: testutil.StripeMock(t)})
	jc, err := jobs.NewInsertClient(b.db.Pool)
	require.NoError(t, err)
	srv := httptest.NewServer(httpapi.New(httpapi.Config{Pool: b.db.Pool, Jobs: jc, StripeMethods: sp, StripeAPI: sp,
		StripePublishableKey: "pk_test_portal", StripeWebhookSecret: whsec, ReferralURL: "https://paas.example/r/{code}",
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}))
	t.Cleanup(srv.Close)
	_, link := b.link(t, "finance", "p1")
	br := newBrowser(t)
	status, _ := br.get(strings.Replace(link, b.srv.URL, srv.URL, 1))
	require.Equal(t, 200, status)

	res, err := br.client.Get(srv.URL + "/portal/billing")
	require.NoError(t, err)
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	page := string(body)
	require.Equal(t, 200, res.StatusCode)
	require.NotContains(t, page, "pm_card_visa", "no test ids outside sandbox mode")
	require.Contains(t, page, "Saisir une carte")
	require.NotContains(t, page, "<script", "the Billing page has no script")
	require.NotContains(t, res.Header.Get("Content-Security-Policy"), "stripe")
	csrf := csrfRE.FindStringSubmatch(page)[1]

	before := tableCounts(t, &apiBundle{db: b.db})
	req, err := http.NewRequest("POST", srv.URL+"/portal/billing/card", strings.NewReader(url.Values{"csrf": {csrf}}.Encode()))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Sec-Fetch-Site", "same-origin")
	res, err = br.client.Do(req)
	require.NoError(t, err)
	body, _ = io.ReadAll(res.Body)
	res.Body.Close()
	page = string(body)
	require.Equal(t, 200, res.StatusCode, page)
	m := secretRE.FindStringSubmatch(page)
	require.NotNil(t, m, "the client secret of a SetupIntent: %s", page)
	require.Contains(t, page, `data-key="pk_test_portal"`)
	require.Contains(t, page, `data-return="/portal/billing?done=card"`)
	require.Contains(t, page, "<noscript>", "without JavaScript the page says what to do")
	var scripts []string
	for _, s := range scriptRE.FindAllStringSubmatch(page, -1) {
		scripts = append(scripts, s[1])
	}
	require.Equal(t, []string{"https://js.stripe.com/v3/", "/portal/card.js"}, scripts)
	csp := res.Header.Get("Content-Security-Policy")
	require.Contains(t, csp, "script-src 'self' https://js.stripe.com;")
	require.Contains(t, csp, "frame-src https://js.stripe.com https://hooks.stripe.com;")
	require.Contains(t, csp, "default-src 'none'")
	require.Contains(t, csp, "frame-ancestors 'none'")
	require.NotContains(t, csp, "unsafe-inline")
	require.Equal(t, before, tableCounts(t, &apiBundle{db: b.db}), "nothing is written before Stripe confirms the card")

	res, err = br.client.Get(srv.URL + "/portal/card.js")
	require.NoError(t, err)
	js, _ := io.ReadAll(res.Body)
	res.Body.Close()
	require.Equal(t, 200, res.StatusCode)
	require.Contains(t, res.Header.Get("Content-Type"), "javascript")
	require.Contains(t, string(js), "confirmCardSetup(form.dataset.secret")

	// Stripe.js confirmed the card: the browser comes back to Billing,
	// then Stripe's webhook sets the card.
	status, page = br.get(srv.URL + "/portal/billing?done=card")
	require.Equal(t, 200, status)
	require.Contains(t, page, "Votre carte est en cours de confirmation")
	require.Contains(t, page, "Aucun moyen de paiement")
	payload, err := json.Marshal(map[string]any{"id": "evt_portal_card", "object": "event", "type": "setup_intent.succeeded", "api_version": stripe.APIVersion,
		"created": time.Now().Unix(), "data": map[string]any{"object": map[string]any{"id": m[2], "object": "setup_intent", "status": "succeeded",
			"payment_method": "pm_1PortalCard", "payment_method_types": []string{"card"}, "metadata": map[string]string{"account_id": "p1"}}}})
	require.NoError(t, err)
	req, err = http.NewRequest("POST", srv.URL+"/webhooks/stripe", strings.NewReader(string(payload)))
	require.NoError(t, err)
	req.Header.Set("Stripe-Signature", webhook.GenerateTestSignedPayload(&webhook.UnsignedPayload{Payload: payload, Secret: whsec}).Header)
	res, err = http.DefaultClient.Do(req)
	require.NoError(t, err)
	res.Body.Close()
	require.Equal(t, 200, res.StatusCode)
	status, page = br.get(srv.URL + "/portal/billing")
	require.Equal(t, 200, status)
	require.Contains(t, page, `<p id="method">Carte · pm_1PortalCard`)
	require.JSONEq(t, `[{"kind":"suspended","data":{}},{"kind":"payment_method_changed","data":{}}]`,
		testutil.ConsequencesOf(t, b.db.Pool, "p1").Timeline)
}

// cardScript opens the card page in Chromium with JavaScript on, Stripe.js
// answered by the test instead of js.stripe.com: first not at all (the
// page must say the form could not load, and offer no button), then by a
// stand-in that records what card.js asks of Stripe and confirms.
const cardScript = `
const { chromium } = require('playwright-core');
const stub = 'window.Stripe = function (key, opts) {' +
  '  const seen = { key: key, locale: opts.locale };' +
  '  return { elements: () => ({ create: () => ({ mount: (sel) => { seen.mounted = sel; document.querySelector(sel).textContent = "4242 4242 4242 4242  12/34  123"; }, on: () => {} }) }),' +
  '    confirmCardSetup: (secret, data) => { seen.secret = secret; seen.name = data.payment_method.billing_details.name;' +
  '      sessionStorage.setItem("seen", JSON.stringify(seen)); return Promise.resolve({ setupIntent: { status: "succeeded" } }); } };' +
  '};';
(async () => {
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
           '--disable-component-update', '--disable-sync'],
  });
  const context = await browser.newContext({ viewport: { width: 375, height: 740 }, deviceScaleFactor: 1 });
  let stripe = 'abort';
  await context.route('https://js.stripe.com/**', route => stripe === 'abort' ? route.abort() :
    route.fulfill({ contentType: 'text/javascript', body: stub }));
  const page = await context.newPage();
  await page.goto(process.env.LINK);
  const open = async () => {
    await page.goto(process.env.BASE + '/portal/billing');
    await Promise.all([page.waitForURL(/\/portal\/billing\/card$/), page.getByRole('button', { name: 'Saisir une carte' }).click()]);
  };
  await open();
  console.log('without stripe.js: ' + (await page.locator('#card-errors').innerText()) + ' | button disabled: ' +
    (await page.getByRole('button', { name: 'Enregistrer la carte' }).isDisabled()));
  stripe = 'stub';
  await open();
  await page.locator('#card-element').filter({ hasText: '4242' }).waitFor();
  if (process.env.SHOTS) await page.screenshot({ path: process.env.SHOTS + '/fr-card-stripe.png', fullPage: true });
  await Promise.all([page.waitForURL(/done=card/), page.getByRole('button', { name: 'Enregistrer la carte' }).click()]);
  console.log('back at: ' + page.url());
  console.log('stripe saw: ' + await page.evaluate(() => sessionStorage.getItem('seen')));
  console.log('notice: ' + (await page.locator('main p[role=status]').innerText()));
  await browser.close();
})().catch(e => { console.error(e); process.exit(1); });
`

// TestPortalCardPageInBrowser runs card.js in Chromium (skipped without
// it, as TestPortalInBrowser): it mounts Stripe's card field, confirms the
// SetupIntent with the page's client secret, the key and the holder's name,
// and returns to Billing with the notice; without Stripe.js it says so.
func TestPortalCardPageInBrowser(t *testing.T) {
	t.Parallel()
	chromium, modules := browserTools(t, t.Skip)
	b := setupPortal(t)
	_, err := b.db.Pool.Exec(context.Background(), `UPDATE accounts SET name = 'Atelier Lefèvre' WHERE id = 'p1'`)
	require.NoError(t, err)
	sp := stripe.New(b.db.Pool, stripe.Config{SecretKey: "sk_test_123", URL: testutil.StripeMock(t)})
	jc, err := jobs.NewInsertClient(b.db.Pool)
	require.NoError(t, err)
	srv := httptest.NewServer(httpapi.New(httpapi.Config{Pool: b.db.Pool, Jobs: jc, StripeMethods: sp, StripePublishableKey: "pk_test_portal",
		ReferralURL: "https://paas.example/r/{code}", Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}))
	t.Cleanup(srv.Close)
	_, link := b.link(t, "finance", "p1")
	dir := t.TempDir()
	script := filepath.Join(dir, "card.js")
	require.NoError(t, os.WriteFile(script, []byte(cardScript), 0o600))
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "node", script)
	cmd.Env = append(os.Environ(), "NODE_PATH="+modules, "CHROMIUM="+chromium, "LINK="+strings.Replace(link, b.srv.URL, srv.URL, 1),
		"BASE="+srv.URL, "SHOTS="+os.Getenv("PORTAL_SCREENSHOTS"))
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "%s", out)
	text := string(out)
	require.Contains(t, text, "without stripe.js: Le formulaire sécurisé de Stripe n'a pas pu être chargé")
	require.Contains(t, text, "button disabled: true")
	require.Contains(t, text, "back at: "+srv.URL+"/portal/billing?done=card")
	require.Regexp(t, `stripe saw: \{"key":"pk_test_portal","locale":"fr","mounted":"#card-element","secret":"seti_\w+_secret_\w+","name":"Atelier Lefèvre"\}`, text)
	require.Contains(t, text, "notice: Votre carte est en cours de confirmation")
}
