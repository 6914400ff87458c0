package jobs

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/require"
)

// Malformed args are refused in JSON's terms, without Go types.
func TestArgsErrorsNameNoGoTypes(t *testing.T) {
	for _, c := range []struct {
		args string
		v    any
		want string
	}{
		{`{"period":["2026-10"]}`, &BillingRunArgs{}, `billing_run args: period: expected a string "YYYY-MM", got array`},
		{`[]`, &BillingRunArgs{}, `billing_run args: expected a JSON object, got array`},
		{`{"account_ids":"acc_1"}`, &BillingRunArgs{}, `billing_run args: account_ids: expected an array of account ids (strings), got string`},
		{`{"invoice_number":42}`, &CollectInvoiceArgs{}, `collect_invoice args: invoice_number: expected a string "INV-YYYY-NNNNNN", got number`},
		{`{"now":"yesterday"}`, &CollectInvoiceArgs{}, `collect_invoice args: now: expected an RFC 3339 time, got "yesterday"`},
	} {
		err := json.Unmarshal([]byte(c.args), c.v)
		require.EqualError(t, err, c.want, c.args)
		require.NotContains(t, err.Error(), "Go ")
	}
	var a BillingRunArgs
	require.NoError(t, json.Unmarshal([]byte(`{"period":"2026-10","account_ids":["a"]}`), &a))
	require.Equal(t, BillingRunArgs{Period: "2026-10", AccountIDs: []string{"a"}}, a)
}
