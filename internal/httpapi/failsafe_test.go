package httpapi_test

import (
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/billingengine/engine/billing"
)

// POST /v1/runs bills only ended periods: the current and future ones are
// 422 period_not_ended and write nothing; the current period's dry run is a
// partial preview; an empty account_ids is every account.
func TestRunsRefuseUnendedPeriod(t *testing.T) {
	t.Parallel()
	b := setupAPI(t)
	current := billing.PeriodOf(time.Now(), time.UTC)
	var before int
	require.NoError(t, b.db.Pool.QueryRow(t.Context(), `SELECT count(*) FROM billing_runs`).Scan(&before))
	for _, p := range []billing.Period{current, current.Add(1), billing.MustPeriod("2030-01")} {
		res, body := b.do(t, "finance", "POST", "/v1/runs", fmt.Sprintf(`{"period":%q}`, p))
		require.Equal(t, 422, res.StatusCode, "%s", body)
		require.Contains(t, string(body), `"code":"period_not_ended"`)
		require.Contains(t, string(body), fmt.Sprintf("period %s has not ended (it ends ", p))
	}
	var after int
	require.NoError(t, b.db.Pool.QueryRow(t.Context(), `SELECT count(*) FROM billing_runs`).Scan(&after))
	require.Equal(t, before, after)

	res, body := b.do(t, "finance", "POST", "/v1/runs", fmt.Sprintf(`{"period":%q,"dry_run":true}`, current))
	require.Equal(t, 200, res.StatusCode, "%s", body)
	var preview struct {
		Partial bool    `json:"partial"`
		AsOf    *string `json:"as_of"`
	}
	require.NoError(t, json.Unmarshal(body, &preview))
	require.True(t, preview.Partial)
	require.NotNil(t, preview.AsOf)
	res, body = b.do(t, "finance", "POST", "/v1/runs", fmt.Sprintf(`{"period":%q,"dry_run":true}`, current.Add(1)))
	require.Equal(t, 422, res.StatusCode, "%s", body)
	require.Contains(t, string(body), `"code":"period_not_ended"`)

	res, body = b.do(t, "finance", "POST", "/v1/runs", `{"period":"2026-08","account_ids":[]}`)
	require.Equal(t, 202, res.StatusCode, "%s", body)
	require.Contains(t, string(body), `"account_ids":null`, "an empty list is every account")
}

// A credit purchase through an account's own token is bounded: 5.00 to
// the configured maximum (10000.00 by default).
func TestPayPalCreditBounds(t *testing.T) {
	t.Parallel()
	b := setupAPI(t)
	for _, amount := range []string{"4.99", "10000.01", "50000.00", "999999999"} {
		res, body := b.do(t, "account", "POST", "/v1/accounts/a1/credit/paypal", fmt.Sprintf(`{"amount":%q}`, amount))
		require.Equal(t, 422, res.StatusCode, "%s: %s", amount, body)
		require.Contains(t, string(body), `"code":"amount_out_of_range"`)
		require.Contains(t, string(body), "between 5.00 and 10000.00 EUR")
	}
	var n int
	require.NoError(t, b.db.Pool.QueryRow(t.Context(), `SELECT count(*) FROM paypal_orders`).Scan(&n))
	require.Zero(t, n, "no order was created for an amount out of bounds")
	res, body := b.do(t, "account", "POST", "/v1/accounts/a1/credit/paypal", `{"amount":"10000.00"}`)
	require.Equal(t, 201, res.StatusCode, "%s", body)
}

// GET /v1/runs/{id} lists the accounts a run could not bill, as `billing
// runs show` does.
func TestRunOverHTTPListsAccountsItCouldNotBill(t *testing.T) {
	t.Parallel()
	b := setupAPI(t)
	_, err := b.db.Pool.Exec(t.Context(), `INSERT INTO billing_run_failures (run_id, account_id, shard, message) VALUES ($1, 'a2', 0, 'no price in force')`, b.runID)
	require.NoError(t, err)
	res, body := b.do(t, "finance", "GET", fmt.Sprintf("/v1/runs/%d", b.runID), "")
	require.Equal(t, 200, res.StatusCode, "%s", body)
	require.Contains(t, string(body), `"failures":[{"kind":"account","state":"failed","account_id":"a2","error":"no price in force"}]`)
}
