package invoices

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/shopspring/decimal"
	"github.com/stretchr/testify/require"
	"pgregory.net/rapid"

	"github.com/billingengine/engine/internal/dbtest"
)

// The prices Postgres gives back read as encoding/json reads them, for
// the canonical form read directly and for any other JSON.
func TestPricesReadAsJSONReadsThem(t *testing.T) {
	t.Parallel()
	db := dbtest.New(t)
	ctx := context.Background()
	num := rapid.Custom(func(t *rapid.T) string {
		d := decimal.New(rapid.Int64Range(0, 1e12).Draw(t, "coef"), -rapid.Int32Range(0, 8).Draw(t, "exp"))
		return d.StringFixed(rapid.Int32Range(0, 8).Draw(t, "fixed"))
	})
	rapid.Check(t, func(t *rapid.T) {
		n := rapid.IntRange(0, 4).Draw(t, "prices")
		var parts []string
		for range n {
			parts = append(parts, fmt.Sprintf(`{"price_per_hour": %q, "hours": %q}`, num.Draw(t, "per_hour"), num.Draw(t, "hours")))
		}
		written := "[" + strings.Join(parts, ",") + "]"
		var stored []byte
		require.NoError(t, db.Pool.QueryRow(ctx, `SELECT $1::jsonb`, written).Scan(&stored))
		for _, b := range [][]byte{stored, []byte(written)} {
			var want []DocumentPrice
			require.NoError(t, json.Unmarshal(b, &want))
			got, err := parsePrices(b)
			require.NoError(t, err)
			require.Equal(t, len(want), len(got), "%s", b)
			for i := range want {
				require.True(t, want[i].PerHour.Equal(got[i].PerHour) && want[i].Hours.Equal(got[i].Hours), "%s", b)
				require.Equal(t, want[i].PerHour.String(), got[i].PerHour.String(), "%s", b)
				require.Equal(t, want[i].Hours.Exponent(), got[i].Hours.Exponent(), "%s: the digits written are kept", b)
			}
		}
		if n > 0 {
			_, ok := parseCanonicalPrices(stored)
			require.True(t, ok, "what Postgres gives back is read directly: %s", stored)
		}
	})
	_, err := parsePrices([]byte(`[{"hours": "1", "price_per_hour": "x"}]`))
	require.Error(t, err, "not a number: encoding/json's error")
}
