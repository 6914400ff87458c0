package main

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/billingengine/engine/internal/platform/pgdb"
	"github.com/billingengine/engine/internal/testutil"
)

// What a new payment method implies (SPEC §5), from whichever entry point:
// the internal/httpapi tests of Stripe's setup_intent.succeeded webhook
// expect the same.
const methodChangedTimeline = `[{"kind":"payment_method_changed","data":{}}]`

func (c *cli) pool() *pgxpool.Pool {
	c.t.Helper()
	pool, err := pgdb.Open(context.Background(), c.url, nil)
	require.NoError(c.t, err)
	c.t.Cleanup(pool.Close)
	return pool
}

// `accounts set-payment-method` records payment_method_changed and queues
// the account's open invoice for collection, in its transaction; setting
// the method already current implies nothing more.
func TestSetPaymentMethodConsequencesCLI(t *testing.T) {
	t.Parallel()
	c := newCLI(t)
	pool := c.pool()
	inv := testutil.OpenInvoice(t, pool, "acc_9", 1, "12.00")

	var res map[string]any
	for _, want := range []bool{true, false} {
		require.NoError(t, json.Unmarshal([]byte(c.ok("accounts", "set-payment-method", "acc_9", "--type", "card", "--id", "pm_card_visa")), &res))
		require.Equal(t, want, res["changed"])
	}
	got := testutil.ConsequencesOf(t, pool, "acc_9")
	require.JSONEq(t, methodChangedTimeline, got.Timeline)
	require.Equal(t, []string{inv.Number}, got.Collected)
}

// `accounts import` with a payment method has the consequences
// set-payment-method has.
func TestImportPaymentMethodConsequencesCLI(t *testing.T) {
	t.Parallel()
	c := newCLI(t)
	pool := c.pool()
	inv := testutil.OpenInvoice(t, pool, "acc_1", 1, "12.00")
	c.ok("accounts", "import", writeFile(t, "accounts.ndjson",
		`{"id":"acc_1","name":"Acme SAS","email":"billing@acme.test","country":"FR","created_at":"2026-01-01T00:00:00Z","payment_method":{"type":"card","id":"pm_card_visa"}}`+"\n"))

	got := testutil.ConsequencesOf(t, pool, "acc_1")
	require.JSONEq(t, methodChangedTimeline, got.Timeline)
	require.Equal(t, []string{inv.Number}, got.Collected)
}

// `credit add` records credit_added with finance's reference and queues
// the account's open invoice for collection; its replay adds nothing.
func TestCreditAddConsequencesCLI(t *testing.T) {
	t.Parallel()
	c := newCLI(t)
	pool := c.pool()
	inv := testutil.OpenInvoice(t, pool, "acc_9", 1, "12.00")

	var res map[string]any
	for _, want := range []float64{1, 0} {
		require.NoError(t, json.Unmarshal([]byte(c.ok("credit", "add", "--account", "acc_9", "--amount", "25.00", "--reference", "GIFT-1")), &res))
		require.Equal(t, want, res["collections_enqueued"])
	}
	got := testutil.ConsequencesOf(t, pool, "acc_9")
	require.JSONEq(t, `[{"kind":"credit_added","data":{"amount":"25.00","kind":"manual_credit","reference":"GIFT-1"}}]`, got.Timeline)
	require.Equal(t, []string{inv.Number}, got.Collected)
}

// `credit buy` in sandbox mode captures at once: credit_added with the
// PayPal capture id, and the open invoice queued for collection, as the
// HTTP return and the PayPal webhook do.
func TestCreditBuyConsequencesCLI(t *testing.T) {
	t.Parallel()
	c := newCLI(t)
	pool := c.pool()
	inv := testutil.OpenInvoice(t, pool, "acc_9", 1, "12.00")
	c.ok("credit", "buy", "--account", "acc_9", "--amount", "10")

	var capture string
	require.NoError(t, pool.QueryRow(context.Background(), `SELECT capture_id FROM paypal_orders WHERE account_id = 'acc_9'`).Scan(&capture))
	got := testutil.ConsequencesOf(t, pool, "acc_9")
	require.JSONEq(t, `[{"kind":"credit_added","data":{"amount":"10.00","kind":"paypal_purchase","reference":"`+capture+`"}}]`, got.Timeline)
	require.Equal(t, []string{inv.Number}, got.Collected)
}
