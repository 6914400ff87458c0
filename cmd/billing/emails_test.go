package main

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/require"
)

// Without BILLING_SMTP_URL a month's emails are recorded unsent and listed
// by `billing emails list`, filtered by account; a malformed
// BILLING_SMTP_URL stops the worker with exit 2 and says how to fix it.
func TestEmailsCommands(t *testing.T) {
	t.Parallel()
	c := newCLI(t)
	c.ok("migrate")
	c.ok("catalog", "import", writeFile(t, "catalog.ndjson", testCatalog))
	c.ok("accounts", "import", writeFile(t, "accounts.ndjson", testAccounts))
	c.ok("usage", "import", writeFile(t, "usage.ndjson",
		`{"id":"u1","account_id":"acc_1","app":"a","resource":"container:M","quantity":1,"started_at":"2026-10-01T00:00:00Z","ended_at":"2026-10-02T00:00:00Z"}`+"\n"))

	c.env["BILLING_SMTP_URL"] = "smtp://user:secret@mail.example.com"
	code, _, stderr := c.run("worker", "--until-idle")
	require.Equal(t, exitUsage, code, stderr)
	require.Contains(t, stderr, "needs a host and a port: set BILLING_SMTP_URL to smtp://user:pass@host:587")
	require.NotContains(t, stderr, "secret")
	delete(c.env, "BILLING_SMTP_URL")

	c.ok("run", "--period", "2026-10")
	c.ok("worker", "--until-idle")
	var all []map[string]any
	require.NoError(t, json.Unmarshal([]byte(c.ok("emails", "list", "--json")), &all))
	require.Len(t, all, 1, "%v", all)
	require.Equal(t, "invoice_issued", all[0]["template"])
	require.Equal(t, "acc_1", all[0]["account_id"])
	require.Equal(t, "unsent", all[0]["state"])
	require.Equal(t, "BILLING_SMTP_URL is not set", all[0]["last_error"])
	var none []map[string]any
	require.NoError(t, json.Unmarshal([]byte(c.ok("emails", "list", "--account", "nobody")), &none))
	require.Empty(t, none)
	code, _, stderr = c.run("emails", "list", "--state", "lost")
	require.Equal(t, exitUsage, code, stderr)
}
