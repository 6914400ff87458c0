package main

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/require"
)

// The legal data of SPEC §2 goes in through the import (NDJSON and CSV),
// comes out of `accounts show`, and a re-import that changes it is one
// account_updated event on the timeline; a bad VAT number is the line's
// problem, and nothing is written.
func TestAccountsLegalData(t *testing.T) {
	t.Parallel()
	c := newCLI(t)
	c.ok("migrate")
	c.ok("accounts", "import", writeFile(t, "accounts.ndjson",
		`{"id":"acc_1","name":"Acme SAS","email":"billing@acme.test","country":"FR","vat_number":"FR40303265045","created_at":"2026-03-04T10:00:00Z",`+
			`"siren":"303265045","address":{"line1":"12 rue de la Paix","line2":"","postal_code":"75002","city":"Paris","country":"FR"}}`+"\n"+
			`{"id":"acc_2","name":"Ελληνική ΑΕ","email":"b@gr.test","country":"GR","vat_number":"EL094259216","created_at":"2026-03-04T10:00:00Z"}`+"\n"))

	var acc map[string]any
	require.NoError(t, json.Unmarshal([]byte(c.ok("accounts", "show", "acc_1", "--json")), &acc))
	require.Equal(t, map[string]any{"line1": "12 rue de la Paix", "line2": "", "postal_code": "75002", "city": "Paris", "country": "FR"}, acc["address"])
	require.Equal(t, "303265045", acc["siren"])
	require.Equal(t, "fr", acc["language"])
	require.NoError(t, json.Unmarshal([]byte(c.ok("accounts", "show", "acc_2", "--json")), &acc))
	require.Nil(t, acc["address"])
	require.Nil(t, acc["siren"])
	require.Equal(t, "en", acc["language"])
	require.Contains(t, c.ok("accounts", "show", "acc_1"), "address 12 rue de la Paix, 75002 Paris, FR")

	bad := writeFile(t, "bad.csv", "id,name,email,country,created_at,vat_number,siren\n"+
		"acc_1,Acme SAS,billing@acme.test,FR,2026-03-04T10:00:00Z,FR41303265045,303265045\n"+
		"acc_3,Gamma,g@example.test,DE,2026-03-04T10:00:00Z,DE81156986,\n")
	code, _, stderr := c.run("accounts", "import", bad)
	require.Equal(t, exitFail, code, stderr)
	require.Contains(t, stderr, bad+`:2: vat_number: "FR41303265045": the key 41 does not match the SIREN 303265045 (expected FR40303265045)`)
	require.Contains(t, stderr, bad+`:3: vat_number: "DE81156986" is not a valid DE VAT number (expected DE then 9 digits)`)
	var n int
	c.query(`SELECT count(*) FROM accounts`, &n)
	require.Equal(t, 2, n)

	// The same file again changes nothing; a new address and language do.
	c.ok("accounts", "import", writeFile(t, "same.csv", "id,name,email,country,created_at,vat_number,siren,address_line1,address_postal_code,address_city\n"+
		"acc_1,Acme SAS,billing@acme.test,FR,2026-03-04T10:00:00Z,FR40303265045,303265045,12 rue de la Paix,75002,Paris\n"))
	c.ok("accounts", "import", writeFile(t, "moved.csv", "id,name,email,country,created_at,vat_number,siren,language,address_line1,address_postal_code,address_city\n"+
		"acc_1,Acme SAS,billing@acme.test,FR,2026-03-04T10:00:00Z,FR40303265045,303265045,en,3 quai Est,69002,Lyon\n"))
	var events []struct {
		Kind string         `json:"kind"`
		Data map[string]any `json:"data"`
	}
	c.json(&events, "accounts", "timeline", "acc_1", "--json")
	require.Len(t, events, 1, "%v", events)
	require.Equal(t, "account_updated", events[0].Kind)
	require.Equal(t, []any{"address", "language"}, events[0].Data["fields"])
	changes := events[0].Data["changes"].(map[string]any)
	require.Equal(t, map[string]any{"before": "fr", "after": "en"}, changes["language"])
	require.Equal(t, "Lyon", changes["address"].(map[string]any)["after"].(map[string]any)["city"])
	require.Equal(t, "Paris", changes["address"].(map[string]any)["before"].(map[string]any)["city"])
	// Piped, the timeline is JSON without --json too (SPEC §7).
	require.JSONEq(t, c.ok("accounts", "timeline", "acc_1", "--json"), c.ok("accounts", "timeline", "acc_1"))
}

// With BILLING_VIES=sandbox the import asks the sandbox register, which
// knows no number ending in 000.
func TestAccountsImportVIESSandbox(t *testing.T) {
	t.Parallel()
	c := newCLI(t)
	c.ok("migrate")
	c.env["BILLING_VIES"] = "sandbox"
	f := writeFile(t, "accounts.ndjson", `{"id":"acc_1","name":"D","email":"d@example.test","country":"DE","vat_number":"DE123456000","created_at":"2026-03-04T10:00:00Z"}`+"\n")
	code, _, stderr := c.run("accounts", "import", f)
	require.Equal(t, exitFail, code, stderr)
	require.Contains(t, stderr, f+":1: vat_number: DE123456000 is not registered in the VIES")
	c.env["BILLING_VIES"] = "off"
	c.ok("accounts", "import", f)
}
