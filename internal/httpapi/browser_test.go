package httpapi_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/billingengine/engine/jobs"
)

// browserScript logs in to the River UI the way a person does (HTTP basic
// auth, the token as the password) in headless Chromium driven by
// Playwright, waits for the jobs list, and prints what it shows.
const browserScript = `
const { chromium } = require('playwright-core');
(async () => {
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
           '--disable-component-update', '--disable-sync'],
  });
  const anonymous = await browser.newContext();
  const refused = await anonymous.request.get(process.env.URL);
  console.log('without credentials: ' + refused.status() + ' ' + refused.headers()['www-authenticate']);
  const context = await browser.newContext({ httpCredentials: { username: 'finance', password: process.env.TOKEN } });
  const page = await context.newPage();
  const res = await page.goto(process.env.URL);
  console.log('with a finance token: ' + res.status());
  await page.getByText('collect_invoice').first().waitFor({ timeout: 20000 });
  await page.screenshot({ path: process.env.SCREENSHOT, fullPage: true });
  console.log(await page.innerText('body'));
  await browser.close();
})().catch(e => { console.error(e); process.exit(1); });
`

// TestRiverUIInBrowser needs Debian's chromium and Node.js (with npm to
// fetch playwright-core once); without them it is skipped.
func TestRiverUIInBrowser(t *testing.T) {
	t.Parallel()
	chromium, modules := browserTools(t, t.Skip)

	b := setupAPI(t)
	ctx := context.Background()
	client, err := jobs.NewInsertClient(b.db.Pool)
	require.NoError(t, err)
	_, err = client.Insert(ctx, jobs.CollectInvoiceArgs{InvoiceNumber: b.inv["a1"].Number}, nil)
	require.NoError(t, err)

	dir := t.TempDir()
	script := filepath.Join(dir, "ui.js")
	require.NoError(t, os.WriteFile(script, []byte(browserScript), 0o600))
	shot := os.Getenv("RIVERUI_SCREENSHOT")
	if shot == "" {
		shot = filepath.Join(dir, "riverui.png")
	}
	cmdCtx, cancel := context.WithTimeout(ctx, 90*time.Second)
	defer cancel()
	cmd := exec.CommandContext(cmdCtx, "node", script)
	cmd.Env = append(os.Environ(), "NODE_PATH="+modules, "CHROMIUM="+chromium, "TOKEN="+b.tokens["finance"],
		"URL="+b.srv.URL+"/riverui/jobs?state=available", "SCREENSHOT="+shot)
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "%s", out)
	text := string(out)
	require.Contains(t, text, "without credentials: 401")
	require.Contains(t, text, "with a finance token: 200")
	require.Contains(t, text, "collect_invoice")
	require.Contains(t, text, b.inv["a1"].Number, "the job's args are listed")
	fi, err := os.Stat(shot)
	require.NoError(t, err)
	require.Positive(t, fi.Size())
}

// forgeryScript logs in to the River UI, then opens pages of other sites
// whose forms post to its cancel endpoint the way a CSRF attack does
// (text/plain, no preflight, the browser's cached credentials), then cancels
// a job from the UI's own page with fetch, as the UI does.
const forgeryScript = `
const { chromium } = require('playwright-core');
(async () => {
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
           '--disable-component-update', '--disable-sync'],
  });
  const context = await browser.newContext({ httpCredentials: { username: 'finance', password: process.env.TOKEN } });
  const page = await context.newPage();
  const res = await page.goto(process.env.UI + '/riverui/jobs?state=available');
  console.log('logged in: ' + res.status());
  for (const evil of process.env.FORGERS.split(' ')) {
    const forged = await context.newPage();
    const [answer] = await Promise.all([
      forged.waitForResponse(r => r.url().endsWith('/riverui/api/jobs/cancel'), { timeout: 20000 }),
      forged.goto(evil),
    ]);
    console.log('forged from ' + evil + ': ' + answer.status() + ' ' + (await answer.text()).trim());
    await forged.close();
  }
  const own = await page.evaluate(async (id) => {
    const r = await fetch('/riverui/api/jobs/cancel', { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ ids: [id] }) });
    return r.status;
  }, process.env.OWN_JOB);
  console.log('from its own page: ' + own);
  await browser.close();
})().catch(e => { console.error(e); process.exit(1); });
`

// TestRiverUIRefusesForgedFormsInBrowser: a logged-in Chromium that opens
// another site's page (cross-site, or same-site on another port) whose form
// posts to the River UI gets a 403 and the job stays as it was; the UI's own
// page still cancels a job. Skipped like TestRiverUIInBrowser.
func TestRiverUIRefusesForgedFormsInBrowser(t *testing.T) {
	t.Parallel()
	chromium, modules := browserTools(t, t.Skip)

	b := setupAPI(t)
	ctx := context.Background()
	client, err := jobs.NewInsertClient(b.db.Pool)
	require.NoError(t, err)
	target, err := client.Insert(ctx, jobs.CollectInvoiceArgs{InvoiceNumber: b.inv["a1"].Number}, nil)
	require.NoError(t, err)
	own, err := client.Insert(ctx, jobs.CollectInvoiceArgs{InvoiceNumber: b.inv["a2"].Number}, nil)
	require.NoError(t, err)
	// The form's text/plain body is name=value: {"ids":["N"],"pad":"="}.
	evil := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		fmt.Fprintf(w, `<form id="f" method="POST" enctype="text/plain" action="%s/riverui/api/jobs/cancel">`+
			`<input name='{"ids":["%d"],"pad":"' value='"}'></form><script>document.getElementById("f").submit()</script>`, b.srv.URL, target.Job.ID)
	}))
	t.Cleanup(evil.Close)
	// localhost is another site than 127.0.0.1; another port of 127.0.0.1
	// is the same site, but another origin.
	crossSite := strings.Replace(evil.URL, "127.0.0.1", "localhost", 1)

	dir := t.TempDir()
	script := filepath.Join(dir, "forgery.js")
	require.NoError(t, os.WriteFile(script, []byte(forgeryScript), 0o600))
	cmdCtx, cancel := context.WithTimeout(ctx, 90*time.Second)
	defer cancel()
	cmd := exec.CommandContext(cmdCtx, "node", script)
	cmd.Env = append(os.Environ(), "NODE_PATH="+modules, "CHROMIUM="+chromium, "TOKEN="+b.tokens["finance"],
		"UI="+b.srv.URL, "FORGERS="+crossSite+" "+evil.URL, fmt.Sprintf("OWN_JOB=%d", own.Job.ID))
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "%s", out)
	text := string(out)
	require.Contains(t, text, "logged in: 200")
	require.Contains(t, text, "forged from "+crossSite+": 403 ")
	require.Contains(t, text, "forged from "+evil.URL+": 403 ")
	require.Contains(t, text, `"code":"cross_origin"`)
	require.Contains(t, text, "from its own page: 200")
	state := func(id int64) string {
		var s string
		require.NoError(t, b.db.Pool.QueryRow(ctx, `SELECT state FROM river_job WHERE id = $1`, id).Scan(&s))
		return s
	}
	require.Equal(t, "available", state(target.Job.ID), "the forged forms cancelled nothing")
	require.Equal(t, "cancelled", state(own.Job.ID))
}

// playwright installs playwright-core (the driver only: the browser is
// Debian's) into the user cache once, and returns its node_modules.
// browserTools finds Debian's chromium and Node.js, calling skip (t.Skip,
// or t.Fatal where the browser is required) without them, and returns
// chromium's path and playwright-core's modules.
func browserTools(t *testing.T, skip func(args ...any)) (chromium, modules string) {
	t.Helper()
	chromium, err := exec.LookPath("chromium")
	if err != nil {
		skip("chromium is not installed (apt-get install chromium)")
	}
	if _, err := exec.LookPath("node"); err != nil {
		skip("node is not installed")
	}
	return chromium, playwright(t)
}

func playwright(t *testing.T) string {
	t.Helper()
	cache, err := os.UserCacheDir()
	if err != nil {
		cache = os.TempDir()
	}
	dir := filepath.Join(cache, "billing-test-tools", "playwright-core-1.64.1")
	modules := filepath.Join(dir, "node_modules")
	if _, err := os.Stat(filepath.Join(modules, "playwright-core")); err == nil {
		return modules
	}
	require.NoError(t, os.MkdirAll(dir, 0o755))
	cmd := exec.Command("npm", "install", "--silent", "--no-audit", "--no-fund", "--prefix", dir, "playwright-core@1.64.1")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Skipf("installing playwright-core with npm failed: %v\n%s", err, strings.TrimSpace(string(out)))
	}
	return modules
}
