package httpapi_test

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/require"
)

// GET /v1/accounts/{id} carries the legal data of SPEC §2 beside the
// fields it always had: null address and SIREN until imported, and the
// language every account has.
func TestAccountLegalDataInAPI(t *testing.T) {
	t.Parallel()
	b := setupAPI(t)
	_, err := b.db.Pool.Exec(context.Background(), `UPDATE accounts SET siren = '303265045', language = 'en',
		address_line1 = '12 rue de la Paix', address_postal_code = '75002', address_city = 'Paris', address_country = 'FR'
		WHERE id = 'a1'`)
	require.NoError(t, err)

	res, body := b.do(t, "account", "GET", "/v1/accounts/a1", "")
	require.Equal(t, 200, res.StatusCode, "%s", body)
	var acc map[string]any
	require.NoError(t, json.Unmarshal(body, &acc))
	require.Equal(t, map[string]any{"line1": "12 rue de la Paix", "line2": "", "postal_code": "75002", "city": "Paris", "country": "FR"}, acc["address"])
	require.Equal(t, "303265045", acc["siren"])
	require.Equal(t, "en", acc["language"])
	require.Equal(t, "a1", acc["id"])
	require.Contains(t, acc, "credit_balance")

	res, body = b.do(t, "finance", "GET", "/v1/accounts/a2", "")
	require.Equal(t, 200, res.StatusCode, "%s", body)
	acc = nil
	require.NoError(t, json.Unmarshal(body, &acc))
	require.Contains(t, acc, "address")
	require.Nil(t, acc["address"])
	require.Nil(t, acc["siren"])
	require.Equal(t, "fr", acc["language"], "a French account's default")
}
