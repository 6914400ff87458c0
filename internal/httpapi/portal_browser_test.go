package httpapi_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/billingengine/engine/jobs"
)

// portalScript is a customer in headless Chromium at phone width: it
// follows a one-time link, sees the unpaid invoice and the suspension,
// adds a working card on the Billing page with the keyboard, and waits
// for the overview to say the account is active again. Then what must
// fail: the link reused, a form with a forged CSRF token, another
// account's invoice. It saves its cookies for the expired-session step.
const portalScript = `
const { chromium } = require('playwright-core');
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
  const context = await browser.newContext({ viewport: { width: 375, height: 800 }, javaScriptEnabled: false });
  const page = await context.newPage();
  let res = await page.goto(process.env.LINK);
  console.log('link: ' + res.status() + ' ' + page.url());
  console.log('overview: ' + (await page.innerText('main')).replace(/\s+/g, ' '));
  await page.screenshot({ path: shots + '/overview-suspended.png', fullPage: true });
  await page.getByRole('navigation').getByRole('link', { name: 'Paiement' }).click();
  await page.getByLabel('Carte (mode test').selectOption('pm_card_visa');
  await page.getByRole('button', { name: 'Enregistrer la carte' }).focus();
  await Promise.all([page.waitForURL(/done=method/, { timeout: 20000 }), page.keyboard.press('Enter')]);
  console.log('after adding: ' + page.url());
  await page.screenshot({ path: shots + '/billing.png', fullPage: true });
  let status = '';
  for (let i = 0; i < 100 && status !== 'Actif'; i++) {
    await page.goto(process.env.BASE + '/portal/');
    status = (await page.innerText('#status')).trim();
    if (status !== 'Actif') await page.waitForTimeout(200);
  }
  console.log('status now: ' + status + ' ' + ((await page.locator('#all-paid').count()) ? 'all paid' : 'unpaid left'));
  await page.screenshot({ path: shots + '/overview-active.png', fullPage: true });

  const again = await browser.newContext();
  const reused = await (await again.newPage()).goto(process.env.LINK);
  console.log('reused link: ' + reused.status());

  await page.goto(process.env.BASE + '/portal/billing');
  await page.locator('form[action="/portal/billing/card"] input[name=csrf]').evaluate(e => e.value = 'forged');
  const [forged] = await Promise.all([page.waitForNavigation(), page.getByRole('button', { name: 'Enregistrer la carte' }).click()]);
  console.log('forged csrf: ' + forged.status());

  res = await page.goto(process.env.BASE + '/portal/documents/' + process.env.OTHER + '.pdf');
  console.log('other account invoice: ' + res.status());
  await context.storageState({ path: process.env.STATE });
  await browser.close();
})().catch(e => { console.error(e); process.exit(1); });
`

// TestPortalInBrowser drives the billing pages in Debian's Chromium
// (skipped without it, as TestRiverUIInBrowser). Screenshots go to
// PORTAL_SCREENSHOTS when set (outside the repository), else a temporary
// directory.
func TestPortalInBrowser(t *testing.T) {
	t.Parallel()
	chromium, err := exec.LookPath("chromium")
	if err != nil {
		t.Skip("chromium is not installed (apt-get install chromium)")
	}
	if _, err := exec.LookPath("node"); err != nil {
		t.Skip("node is not installed")
	}
	modules := playwright(t)
	b := setupPortal(t)
	ctx := context.Background()
	_, link := b.link(t, "finance", "p1")
	dir := t.TempDir()
	shots := os.Getenv("PORTAL_SCREENSHOTS")
	if shots == "" {
		shots = dir
	}
	require.NoError(t, os.MkdirAll(shots, 0o755))
	script := filepath.Join(dir, "portal.js")
	require.NoError(t, os.WriteFile(script, []byte(portalScript), 0o600))
	run := func(step string) string {
		t.Helper()
		cmdCtx, cancel := context.WithTimeout(ctx, 120*time.Second)
		defer cancel()
		cmd := exec.CommandContext(cmdCtx, "node", script)
		cmd.Env = append(os.Environ(), "NODE_PATH="+modules, "CHROMIUM="+chromium, "LINK="+link, "BASE="+b.srv.URL,
			"OTHER="+b.other.Number, "SHOTS="+shots, "STATE="+filepath.Join(dir, "state.json"), "STEP="+step)
		out, err := cmd.CombinedOutput()
		require.NoError(t, err, "%s", out)
		return string(out)
	}
	text := run("flow")
	require.Contains(t, text, "link: 200 "+b.srv.URL+"/portal/")
	require.Contains(t, text, b.own.Number)
	require.Contains(t, text, "suspendu depuis le 06/10/2026")
	require.Contains(t, text, "after adding: "+b.srv.URL+"/portal/billing?done=method")
	require.Contains(t, text, "status now: Actif all paid")
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
	for _, f := range []string{"overview-suspended.png", "billing.png", "overview-active.png"} {
		fi, err := os.Stat(filepath.Join(shots, f))
		require.NoError(t, err)
		require.Positive(t, fi.Size())
	}
}
