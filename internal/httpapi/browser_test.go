package httpapi_test

import (
	"context"
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
	chromium, err := exec.LookPath("chromium")
	if err != nil {
		t.Skip("chromium is not installed (apt-get install chromium)")
	}
	if _, err := exec.LookPath("node"); err != nil {
		t.Skip("node is not installed")
	}
	modules := playwright(t)

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

// playwright installs playwright-core (the driver only: the browser is
// Debian's) into the user cache once, and returns its node_modules.
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
