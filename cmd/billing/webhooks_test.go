package main

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// visibleWithin bounds the wait for events to become visible to readers:
// a long transaction anywhere on the test server (another package's
// import, a benchmark loading millions of segments) holds them back.
const visibleWithin = 3 * time.Minute

// Webhook endpoints from the CLI: add prints the secret once, list never
// does; bad input names its flag and changes nothing; deliveries and
// events list; redeliver refuses what isn't an event.
func TestWebhooksCommands(t *testing.T) {
	t.Parallel()
	c := newCLI(t)
	c.ok("catalog", "import", writeFile(t, "catalog.ndjson", testCatalog))
	c.ok("accounts", "import", writeFile(t, "accounts.ndjson", testAccounts))

	var ep struct {
		ID, URL, Secret string
		Events          []string
	}
	c.json(&ep, "webhooks", "add", "--url", "https://hooks.example.test/billing", "--events", "invoice.paid, credit.added", "--json")
	require.True(t, strings.HasPrefix(ep.ID, "we_"))
	require.True(t, strings.HasPrefix(ep.Secret, "whsec_"))
	require.Equal(t, []string{"invoice.paid", "credit.added"}, ep.Events)

	list := c.ok("webhooks", "list", "--json")
	require.Contains(t, list, ep.ID)
	require.NotContains(t, list, ep.Secret, "the secret is shown once")
	require.NotContains(t, list, "whsec_")

	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"webhooks", "add", "--url", "not a url"}, "--url: "},
		{[]string{"webhooks", "add", "--url", "ftp://hooks.example.test/x"}, `--url: scheme "ftp" is not http or https`},
		{[]string{"webhooks", "add", "--url", "hooks.example.test/x"}, "--url: "},
		{[]string{"webhooks", "add", "--url", "https://hooks.example.test", "--events", "invoice.created"}, `--events: unknown event type "invoice.created"`},
		{[]string{"webhooks", "add"}, "--url is required"},
		{[]string{"webhooks", "deliveries", "--state", "lost"}, `--state: "lost" is not pending, delivered or failed`},
		{[]string{"webhooks", "redeliver", "INV-2026-000001"}, "EVENT_ID: "},
		{[]string{"events", "list", "--type", "invoice.created"}, `--type: unknown event type "invoice.created"`},
		{[]string{"events", "list", "--after", "42"}, "--after: "},
	} {
		code, out, errs := c.run(tc.args...)
		require.Equal(t, 2, code, "%v: %s", tc.args, errs)
		require.Contains(t, errs, tc.want, "%v", tc.args)
		require.Empty(t, out, "%v", tc.args)
	}
	// Outside sandbox mode a plain-http endpoint is refused, unless on
	// this machine; in sandbox mode it is allowed.
	strict := newCLI(t)
	strict.env["BILLING_PROCESSOR"] = "stripe"
	strict.env["STRIPE_SECRET_KEY"] = "sk_test_x"
	code, _, errs := strict.run("webhooks", "add", "--url", "http://hooks.example.test/x")
	require.Equal(t, 2, code)
	require.Contains(t, errs, "--url: must be https")
	strict.ok("webhooks", "add", "--url", "http://127.0.0.1:9/x", "--json")
	c.ok("webhooks", "add", "--url", "http://hooks.example.test/x", "--json")

	// Credit added by hand is an event, with a delivery to the endpoint
	// subscribed to credit.added.
	c.ok("credit", "add", "--account", "acc_1", "--amount", "12.50", "--reference", "gift-7")
	var evs []struct {
		ID, Type string
		Data     map[string]any
	}
	// Readers see an event once every transaction older than it has ended,
	// other tests' on the same server included: wait for it.
	for deadline := time.Now().Add(visibleWithin); ; time.Sleep(20 * time.Millisecond) {
		c.json(&evs, "events", "list", "--account", "acc_1", "--json")
		if len(evs) > 0 || time.Now().After(deadline) {
			break
		}
	}
	require.Len(t, evs, 1)
	require.Equal(t, "credit.added", evs[0].Type)
	require.Equal(t, map[string]any{"amount": "12.50", "kind": "manual_credit", "reference": "gift-7"}, evs[0].Data)
	var none []any
	c.json(&none, "events", "list", "--type", "invoice.paid", "--json")
	require.Empty(t, none)
	c.json(&none, "events", "list", "--after", evs[0].ID, "--json")
	require.Empty(t, none)

	var ds []struct {
		EndpointID string `json:"endpoint_id"`
		EventID    string `json:"event_id"`
		State      string
	}
	c.json(&ds, "webhooks", "deliveries", "--endpoint", ep.ID, "--json")
	require.Len(t, ds, 1)
	require.Equal(t, evs[0].ID, ds[0].EventID)
	require.Equal(t, "pending", ds[0].State)

	var re struct {
		Endpoints []string `json:"endpoints"`
	}
	c.json(&re, "webhooks", "redeliver", evs[0].ID, "--endpoint", ep.ID)
	require.Equal(t, []string{ep.ID}, re.Endpoints)
	code, _, errs = c.run("webhooks", "redeliver", "evt_00000000000000010000000000000001")
	require.Equal(t, 1, code)
	require.Contains(t, errs, "event not found")
	code, _, errs = c.run("webhooks", "redeliver", evs[0].ID, "--endpoint", "we_nope")
	require.Equal(t, 1, code)
	require.Contains(t, errs, "webhook endpoint not found")

	c.ok("webhooks", "remove", ep.ID)
	code, _, errs = c.run("webhooks", "remove", ep.ID)
	require.Equal(t, 1, code)
	require.Contains(t, errs, "webhook endpoint not found")
	c.json(&ds, "webhooks", "deliveries", "--endpoint", ep.ID, "--json")
	require.Empty(t, ds)
}
