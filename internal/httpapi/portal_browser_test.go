package httpapi_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/billingengine/engine/internal/testutil"
	"github.com/billingengine/engine/jobs"
)

// portalScript is a customer in headless Chromium at phone width (375
// px, JavaScript off: the pages need none): it follows a one-time link,
// sees the unpaid invoice and the suspension, adds a working card on the
// Billing page with the keyboard, and waits for the overview to say the
// account is active again; it does so for the French account, then for
// the English one, screenshotting every page in both languages, and says
// of each page whether it is wider than the phone. Then what must fail:
// the link reused, a form with a forged CSRF token, another account's
// invoice. It saves its cookies for the expired-session step.
const portalScript = `
const { chromium } = require('playwright-core');
const words = {
  fr: { billing: 'Paiement', card: 'Carte (mode test', save: 'Enregistrer la carte', active: 'Actif', referrals: 'Parrainage', timeline: 'Chronologie' },
  en: { billing: 'Billing', card: 'Card (test mode', save: 'Save this card', active: 'Active', referrals: 'Referrals', timeline: 'Timeline' },
};
(async () => {
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
           '--disable-component-update', '--disable-sync'],
  });
  const shots = process.env.SHOTS;
  if (process.env.STEP === 'expired') {
    const context = await browser.newContext({ storageState: process.env.STATE });
    const page = await context.newPage();
    const res = await page.goto(process.env.BASE + '/portal/');
    console.log('expired session: ' + res.status() + ' ' + (await page.innerText('main')).trim());
    await browser.close();
    return;
  }
  const phone = { viewport: { width: 375, height: 740 }, deviceScaleFactor: 1, javaScriptEnabled: false };
  // shot saves the page whole and reports one wider than the viewport
  // (what would make a phone scroll sideways; tables scroll by themselves).
  const shot = async (page, name) => {
    const width = await page.evaluate(() => document.documentElement.scrollWidth);
    const viewport = page.viewportSize().width;
    if (width > viewport) console.log('too wide: ' + name + ' ' + width + 'px');
    await page.screenshot({ path: shots + '/' + name + '.png', fullPage: true });
  };
  const customer = async (lang, link) => {
    const w = words[lang];
    const context = await browser.newContext(phone);
    const page = await context.newPage();
    const res = await page.goto(link);
    console.log(lang + ' link: ' + res.status() + ' ' + page.url());
    console.log(lang + ' overview: ' + (await page.innerText('main')).replace(/\s+/g, ' '));
    await shot(page, lang + '-overview-suspended');
    await page.getByRole('navigation').getByRole('link', { name: w.billing }).click();
    await page.getByLabel(w.card).selectOption('pm_card_visa');
    await page.getByRole('button', { name: w.save }).focus();
    await Promise.all([page.waitForURL(/done=method/, { timeout: 20000 }), page.keyboard.press('Enter')]);
    console.log(lang + ' after adding: ' + page.url());
    let status = '';
    for (let i = 0; i < 100 && status !== w.active; i++) {
      await page.goto(process.env.BASE + '/portal/');
      status = (await page.innerText('#status')).trim();
      if (status !== w.active) await page.waitForTimeout(200);
    }
    console.log(lang + ' status now: ' + status + ' ' + ((await page.locator('#all-paid').count()) ? 'all paid' : 'unpaid left'));
    await shot(page, lang + '-overview-active');
    await page.getByRole('navigation').getByRole('link', { name: w.billing }).click();
    console.log(lang + ' billing: ' + (await page.innerText('main')).replace(/\s+/g, ' '));
    await shot(page, lang + '-billing');
    await page.getByRole('navigation').getByRole('link', { name: w.referrals }).click();
    console.log(lang + ' referrals: ' + (await page.innerText('main')).replace(/\s+/g, ' '));
    await shot(page, lang + '-referrals');
    await page.getByRole('navigation').getByRole('link', { name: w.timeline }).click();
    console.log(lang + ' timeline: ' + (await page.innerText('main')).replace(/\s+/g, ' '));
    await shot(page, lang + '-timeline');
    return { context, page };
  };
  // The desktop view of the overview, before anything is paid.
  const desk = await browser.newContext({ viewport: { width: 1024, height: 600 }, deviceScaleFactor: 1, javaScriptEnabled: false });
  const deskPage = await desk.newPage();
  await deskPage.goto(process.env.DESK_LINK);
  await shot(deskPage, 'fr-overview-desktop');
  await desk.close();

  await customer('en', process.env.EN_LINK);
  const { context, page } = await customer('fr', process.env.LINK);

  const again = await browser.newContext();
  const reused = await (await again.newPage()).goto(process.env.LINK);
  console.log('reused link: ' + reused.status());

  await page.goto(process.env.BASE + '/portal/billing');
  await page.locator('form[action="/portal/billing/card"] input[name=csrf]').evaluate(e => e.value = 'forged');
  const [forged] = await Promise.all([page.waitForNavigation(), page.getByRole('button', { name: words.fr.save }).click()]);
  console.log('forged csrf: ' + forged.status());

  const res = await page.goto(process.env.BASE + '/portal/documents/' + process.env.OTHER + '.pdf');
  console.log('other account invoice: ' + res.status());
  await context.storageState({ path: process.env.STATE });
  await browser.close();
})().catch(e => { console.error(e); process.exit(1); });
`

// portalShots are the screenshots the browser test takes: every page at
// phone width in both languages, and the overview at desktop width.
var portalShots = []string{
	"fr-overview-suspended.png", "fr-overview-active.png", "fr-billing.png", "fr-referrals.png", "fr-timeline.png",
	"en-overview-suspended.png", "en-overview-active.png", "en-billing.png", "en-referrals.png", "en-timeline.png",
	"fr-overview-desktop.png",
}

// TestPortalInBrowser drives the billing pages in Debian's Chromium
// (skipped without it, as TestRiverUIInBrowser, unless screenshots are
// asked for). Screenshots go to a temporary directory, or to
// PORTAL_SCREENSHOTS when set: `make portal-screenshots` sets it to
// docs/portal, the set the README shows.
func TestPortalInBrowser(t *testing.T) {
	t.Parallel()
	shots := os.Getenv("PORTAL_SCREENSHOTS")
	skip := t.Skip
	if shots != "" {
		skip = t.Fatal // asked for screenshots: none is a failure, not a skip
	}
	chromium, modules := browserTools(t, skip)
	b := setupPortal(t)
	ctx := context.Background()
	// An English account beside the French one, both suspended with an
	// invoice to pay, and each with a referee and a reward, so that every
	// page has something to show.
	own3 := testutil.OpenInvoice(t, b.db.Pool, "p3", 3, "30.00")
	_, err := b.db.Pool.Exec(ctx, `
		INSERT INTO accounts (id, name, email, country, created_at, referred_by) VALUES
		('p5', 'Boulangerie Martin', 'p5@example.test', 'FR', '2026-03-10Z', 'p1'),
		('p6', 'Contoso Labs', 'p6@example.test', 'FR', '2026-03-10Z', 'p3')`)
	require.NoError(t, err)
	ref5 := testutil.OpenInvoice(t, b.db.Pool, "p5", 5, "20.00")
	ref6 := testutil.OpenInvoice(t, b.db.Pool, "p6", 6, "15.00")
	_, err = b.db.Pool.Exec(ctx, `
		UPDATE accounts SET name = 'Atelier Lefèvre' WHERE id = 'p1';
		UPDATE accounts SET name = 'Northwind Ltd', language = 'en', status = 'suspended' WHERE id = 'p3';
		INSERT INTO account_events (account_id, at, kind) VALUES ('p3', '2026-10-06T06:00:00Z', 'suspended');`)
	require.NoError(t, err)
	_, err = b.db.Pool.Exec(ctx, `
		INSERT INTO referral_rewards (referee_invoice_id, referee_account_id, referrer_account_id, period, amount, state)
		VALUES ($1, 'p5', 'p1', '2026-10', 2.00, 'pending'), ($2, 'p6', 'p3', '2026-10', 1.50, 'pending')`, ref5.ID, ref6.ID)
	require.NoError(t, err)
	_, link := b.link(t, "finance", "p1")
	_, deskLink := b.link(t, "finance", "p1")
	_, enLink := b.link(t, "finance", "p3")
	dir := t.TempDir()
	if shots == "" {
		shots = dir
	}
	require.NoError(t, os.MkdirAll(shots, 0o755))
	script := filepath.Join(dir, "portal.js")
	require.NoError(t, os.WriteFile(script, []byte(portalScript), 0o600))
	run := func(step string) string {
		t.Helper()
		cmdCtx, cancel := context.WithTimeout(ctx, 180*time.Second)
		defer cancel()
		cmd := exec.CommandContext(cmdCtx, "node", script)
		cmd.Env = append(os.Environ(), "NODE_PATH="+modules, "CHROMIUM="+chromium, "LINK="+link, "DESK_LINK="+deskLink,
			"EN_LINK="+enLink, "BASE="+b.srv.URL, "OTHER="+b.other.Number, "SHOTS="+shots,
			"STATE="+filepath.Join(dir, "state.json"), "STEP="+step)
		out, err := cmd.CombinedOutput()
		require.NoError(t, err, "%s", out)
		return string(out)
	}
	text := run("flow")
	require.NotContains(t, text, "too wide:", "no page makes a phone scroll sideways")
	require.Contains(t, text, "fr link: 200 "+b.srv.URL+"/portal/")
	require.Contains(t, text, b.own.Number)
	require.Contains(t, text, "suspendu depuis le 06/10/2026")
	require.Contains(t, text, "fr after adding: "+b.srv.URL+"/portal/billing?done=method")
	require.Contains(t, text, "fr status now: Actif all paid")
	require.Contains(t, text, "en link: 200 "+b.srv.URL+"/portal/")
	require.Contains(t, text, own3.Number)
	require.Contains(t, text, "suspended since 6 Oct 2026")
	require.Contains(t, text, "en status now: Active all paid")
	require.Regexp(t, `fr referrals: .*Boulangerie Martin .*2,00 €`, text)
	require.Regexp(t, `en referrals: .*Contoso Labs .*€1\.50`, text)
	require.Regexp(t, `en timeline: .*Account reactivated`, text)
	require.Regexp(t, `fr timeline: .*Compte réactivé`, text)
	require.Contains(t, text, "reused link: 410")
	require.Contains(t, text, "forged csrf: 403")
	require.Contains(t, text, "other account invoice: 404")
	require.NoError(t, jobs.WaitIdle(ctx, b.db.Pool, time.Minute, 50*time.Millisecond))
	var methods int
	require.NoError(t, b.db.Pool.QueryRow(ctx, `SELECT count(*) FROM payment_methods WHERE account_id = 'p1'`).Scan(&methods))
	require.Equal(t, 1, methods, "the forged form added nothing")

	_, err = b.db.Pool.Exec(ctx, `UPDATE portal_sessions SET last_seen_at = last_seen_at - interval '61 minutes'`)
	require.NoError(t, err)
	text = run("expired")
	require.Contains(t, text, "expired session: 401")
	for _, f := range portalShots {
		fi, err := os.Stat(filepath.Join(shots, f))
		require.NoError(t, err)
		require.Positive(t, fi.Size())
	}
}
