package httpapi_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/stripe/stripe-go/v76/webhook"

	"github.com/billingengine/engine/billing"
	"github.com/billingengine/engine/internal/dbtest"
	"github.com/billingengine/engine/internal/httpapi"
	"github.com/billingengine/engine/internal/platform/auth"
	"github.com/billingengine/engine/internal/testutil"
	"github.com/billingengine/engine/jobs"
	"github.com/billingengine/engine/payments/paypal"
	"github.com/billingengine/engine/payments/stripe"
)

// What a new payment method implies (SPEC §5), as the CLI's
// set-payment-method leaves it (cmd/billing's tests expect the same).
const methodChangedTimeline = `[{"kind":"payment_method_changed","data":{}}]`

// trustingPayPal is the PayPal sandbox with webhooks it vouches for: the
// real purchaser asks PayPal to verify them, which a test cannot.
type trustingPayPal struct{ paypal.Sandbox }

func (trustingPayPal) VerifyWebhook(context.Context, *http.Request) error { return nil }

type effectsBundle struct {
	db      *dbtest.DB
	srv     *httptest.Server
	finance string
	inv     testutil.Invoice
}

// setupEffects serves the API with an account "acc_1" that has an open
// invoice and no payment method, with PayPal's webhooks trusted.
func setupEffects(t *testing.T) *effectsBundle { return setupEffectsWith(t, trustingPayPal{}) }

func setupEffectsWith(t *testing.T, pp paypal.Purchaser) *effectsBundle {
	t.Helper()
	db := dbtest.New(t)
	client, err := jobs.NewInsertClient(db.Pool)
	require.NoError(t, err)
	api := httpapi.New(httpapi.Config{Pool: db.Pool, Jobs: client, StripeWebhookSecret: whsec, PayPal: pp,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	srv := httptest.NewServer(api)
	t.Cleanup(srv.Close)
	_, finance, err := auth.Create(context.Background(), db.Pool, "finance", auth.ScopeFinance)
	require.NoError(t, err)
	return &effectsBundle{db: db, srv: srv, finance: finance, inv: testutil.OpenInvoice(t, db.Pool, "acc_1", 1, "20.00")}
}

// creditAdded is the timeline of one PayPal purchase of amount.
func creditAdded(amount, capture string) string {
	return fmt.Sprintf(`[{"kind":"credit_added","data":{"amount":%q,"kind":"paypal_purchase","reference":%q}}]`, amount, capture)
}

func (b *effectsBundle) capture(t *testing.T) string {
	t.Helper()
	var id string
	require.NoError(t, b.db.Pool.QueryRow(context.Background(), `SELECT capture_id FROM paypal_orders WHERE account_id = 'acc_1'`).Scan(&id))
	return id
}

// Stripe's setup_intent.succeeded sets the method with the consequences
// the CLI's set-payment-method has: payment_method_changed on the timeline
// (which it used to leave out) and the open invoice queued for collection.
// Its replay adds nothing.
func TestSetupIntentWebhookConsequences(t *testing.T) {
	t.Parallel()
	b := setupEffects(t)
	payload, err := json.Marshal(map[string]any{"id": "evt_setup", "object": "event", "type": "setup_intent.succeeded", "api_version": stripe.APIVersion,
		"created": time.Now().Unix(), "data": map[string]any{"object": map[string]any{"id": "seti_1", "object": "setup_intent", "status": "succeeded",
			"payment_method": "pm_card_visa", "payment_method_types": []string{"card"}, "metadata": map[string]string{"account_id": "acc_1"}}}})
	require.NoError(t, err)
	sig := webhook.GenerateTestSignedPayload(&webhook.UnsignedPayload{Payload: payload, Secret: whsec}).Header
	for _, replayed := range []bool{false, true} {
		status, body := post(t, b.srv.URL+"/webhooks/stripe", string(payload), map[string]string{"Stripe-Signature": sig})
		require.Equal(t, http.StatusOK, status, body)
		require.Equal(t, replayed, body["replayed"])
	}
	got := testutil.ConsequencesOf(t, b.db.Pool, "acc_1")
	require.JSONEq(t, methodChangedTimeline, got.Timeline)
	require.Equal(t, []string{b.inv.Number}, got.Collected)
}

// The buyer's return from PayPal captures the order: credit_added with the
// capture id, and the open invoice queued for collection, once however
// often the buyer comes back.
func TestPayPalReturnConsequences(t *testing.T) {
	t.Parallel()
	b := setupEffects(t)
	p, err := paypal.Buy(context.Background(), b.db.Pool, paypal.Sandbox{}, "acc_1", mustDecimal("30.00"), billing.DefaultCreditPurchaseMax)
	require.NoError(t, err)
	for range 2 {
		res, err := apiClient(t).Get(b.srv.URL + "/paypal/return?token=" + p.OrderID)
		require.NoError(t, err)
		res.Body.Close()
		require.Equal(t, http.StatusOK, res.StatusCode)
	}
	got := testutil.ConsequencesOf(t, b.db.Pool, "acc_1")
	require.JSONEq(t, creditAdded("30.00", b.capture(t)), got.Timeline)
	require.Equal(t, []string{b.inv.Number}, got.Collected)
}

// POST /v1/accounts/{id}/credit/paypal with the sandbox captures at once,
// with the consequences the return has.
func TestPayPalCreditOverHTTPConsequences(t *testing.T) {
	t.Parallel()
	b := setupEffectsWith(t, paypal.Sandbox{}) // the sandbox, which captures at once
	req, err := http.NewRequest(http.MethodPost, b.srv.URL+"/v1/accounts/acc_1/credit/paypal", strings.NewReader(`{"amount":"15.00"}`))
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+b.finance)
	res, err := apiClient(t).Do(req)
	require.NoError(t, err)
	res.Body.Close()
	require.Equal(t, http.StatusCreated, res.StatusCode)

	got := testutil.ConsequencesOf(t, b.db.Pool, "acc_1")
	require.JSONEq(t, creditAdded("15.00", b.capture(t)), got.Timeline)
	require.Equal(t, []string{b.inv.Number}, got.Collected)
}

// PayPal's PAYMENT.CAPTURE.COMPLETED webhook credits the order's account
// with the consequences the return has; its replay, and the return coming
// after it, add nothing.
func TestPayPalWebhookConsequences(t *testing.T) {
	t.Parallel()
	b := setupEffects(t)
	p, err := paypal.Buy(context.Background(), b.db.Pool, trustingPayPal{}, "acc_1", mustDecimal("40.00"), billing.DefaultCreditPurchaseMax)
	require.NoError(t, err)
	capture, err := paypal.CaptureOrder(context.Background(), paypal.Sandbox{}, p.OrderID)
	require.NoError(t, err)
	event := fmt.Sprintf(`{"id":"WH-1","event_type":"PAYMENT.CAPTURE.COMPLETED","resource":{"id":%q,"status":"COMPLETED",
		"amount":{"currency_code":"EUR","value":"40.00"},"supplementary_data":{"related_ids":{"order_id":%q}}}}`, capture.ID, p.OrderID)
	for _, replayed := range []bool{false, true} {
		status, body := post(t, b.srv.URL+"/webhooks/paypal", event, nil)
		require.Equal(t, http.StatusOK, status, body)
		require.Equal(t, replayed, body["replayed"])
	}
	res, err := apiClient(t).Get(b.srv.URL + "/paypal/return?token=" + p.OrderID)
	require.NoError(t, err)
	res.Body.Close()
	require.Equal(t, http.StatusOK, res.StatusCode)

	got := testutil.ConsequencesOf(t, b.db.Pool, "acc_1")
	require.JSONEq(t, creditAdded("40.00", capture.ID), got.Timeline)
	require.Equal(t, []string{b.inv.Number}, got.Collected)
}
