package main

import (
	"encoding/json"
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"
)

// `billing invoices render` renders new versions of documents, by number
// or by period, only where the rendering changed; every earlier version
// stays, and what the document says comes from the issued invoice.
func TestInvoicesRender(t *testing.T) {
	t.Parallel()
	c := newCLI(t)
	c.ok("catalog", "import", writeFile(t, "catalog.ndjson", testCatalog))
	c.ok("accounts", "import", writeFile(t, "accounts.ndjson",
		`{"id":"acc_1","name":"Acme SAS","email":"billing@acme.test","country":"FR","vat_number":"FR40303265045","siren":"303265045","created_at":"2026-03-04T10:00:00Z",`+
			`"address":{"line1":"12 rue de la Paix","line2":"","postal_code":"75002","city":"Paris","country":"FR"}}`+"\n"))
	c.ok("usage", "import", writeFile(t, "usage.ndjson",
		`{"id":"s1","account_id":"acc_1","app":"web","resource":"container:M","quantity":2,"started_at":"2026-10-03T12:00:00Z","ended_at":"2026-10-05T12:00:00Z"}`+"\n"))
	c.ok("run", "--period", "2026-10")
	c.ok("worker", "--until-idle") // bills, renders, collects (no method: the invoice stays open)
	var list []struct{ Number string }
	c.json(&list, "invoices", "list", "--period", "2026-10", "--json")
	require.Len(t, list, 1)
	number := list[0].Number
	c.ok("invoices", "pdf", number, "-o", writeFile(t, "v1.pdf", ""))

	type result struct {
		Documents []struct {
			Number  string `json:"number"`
			Version int    `json:"version"`
			New     bool   `json:"new"`
		} `json:"documents"`
		New int `json:"new"`
	}
	var res result
	require.NoError(t, json.Unmarshal([]byte(c.ok("invoices", "render", number)), &res))
	require.Equal(t, 0, res.New, "the same rendering is no new version")
	require.Equal(t, 1, res.Documents[0].Version)

	// The portal appears: the unpaid invoice's rendering gives its link.
	c.env["BILLING_PORTAL_URL"] = "https://billing.example/portal/"
	require.NoError(t, json.Unmarshal([]byte(c.ok("invoices", "render", "--period", "2026-10")), &res))
	require.Equal(t, 1, res.New)
	require.Equal(t, number, res.Documents[0].Number)
	require.Equal(t, 2, res.Documents[0].Version)
	var versions int
	c.query(fmt.Sprintf(`SELECT count(*) FROM documents WHERE number = '%s'`, number), &versions)
	require.Equal(t, 2, versions, "version 1 stays")

	code, _, stderr := c.run("invoices", "render")
	require.Equal(t, exitUsage, code, stderr)
	code, _, stderr = c.run("invoices", "render", number, "--period", "2026-10")
	require.Equal(t, exitUsage, code, stderr)
	c.env["BILLING_PORTAL_URL"] = "not a url"
	code, _, stderr = c.run("invoices", "render", number)
	require.NotEqual(t, 0, code)
	require.Contains(t, stderr, "BILLING_PORTAL_URL")
}
