package httpapi_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/shopspring/decimal"
	"github.com/stretchr/testify/require"
	"github.com/stripe/stripe-go/v76/webhook"

	"github.com/billingengine/engine/billing"
	"github.com/billingengine/engine/internal/dbtest"
	"github.com/billingengine/engine/internal/httpapi"
	"github.com/billingengine/engine/internal/testutil"
	"github.com/billingengine/engine/jobs"
	"github.com/billingengine/engine/payments/paypal"
	"github.com/billingengine/engine/payments/stripe"
)

const whsec = "whsec_test"

type webhookBundle struct {
	db  *dbtest.DB
	srv *httptest.Server
}

func setupWebhooks(t *testing.T) *webhookBundle {
	t.Helper()
	db := dbtest.New(t)
	client, err := jobs.NewInsertClient(db.Pool)
	require.NoError(t, err)
	api := httpapi.New(httpapi.Config{Pool: db.Pool, Jobs: client, StripeWebhookSecret: whsec, PayPal: paypal.Sandbox{},
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	srv := httptest.NewServer(api)
	t.Cleanup(srv.Close)
	return &webhookBundle{db: db, srv: srv}
}

func post(t *testing.T, url, body string, header map[string]string) (int, map[string]any) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url, strings.NewReader(body))
	require.NoError(t, err)
	for k, v := range header {
		req.Header.Set(k, v)
	}
	res, err := apiClient(t).Do(req)
	require.NoError(t, err)
	defer res.Body.Close()
	var out map[string]any
	_ = json.NewDecoder(res.Body).Decode(&out)
	return res.StatusCode, out
}

func TestStripeWebhookOverHTTP(t *testing.T) {
	t.Parallel()
	b := setupWebhooks(t)
	ctx := context.Background()
	inv := testutil.OpenInvoice(t, b.db.Pool, "acc_1", 1, "20.00")
	_, err := b.db.Pool.Exec(ctx, `
		INSERT INTO payment_attempts (invoice_id, attempt, idempotency_key, processor, method, payment_method_id, amount, state, processor_ref, created_at, decided_at)
		VALUES ($1, 1, 'INV-2026-000001-attempt-1', 'stripe', 'sepa_debit', 'pm_1', 20.00, 'processing', 'pi_1', now(), now())`, inv.ID)
	require.NoError(t, err)

	payload, _ := json.Marshal(map[string]any{"id": "evt_1", "object": "event", "type": "payment_intent.succeeded", "api_version": stripe.APIVersion,
		"created": time.Now().Unix(), "data": map[string]any{"object": map[string]any{"id": "pi_1", "object": "payment_intent", "status": "succeeded"}}})
	sig := webhook.GenerateTestSignedPayload(&webhook.UnsignedPayload{Payload: payload, Secret: whsec}).Header

	status, body := post(t, b.srv.URL+"/webhooks/stripe", string(payload), map[string]string{"Stripe-Signature": "t=1,v1=forged"})
	require.Equal(t, http.StatusBadRequest, status)
	require.Equal(t, "bad_signature", body["error"].(map[string]any)["code"])
	var state string
	require.NoError(t, b.db.Pool.QueryRow(ctx, `SELECT state FROM payment_attempts`).Scan(&state))
	require.Equal(t, "processing", state, "a refused webhook changes nothing")

	status, body = post(t, b.srv.URL+"/webhooks/stripe", string(payload), map[string]string{"Stripe-Signature": sig})
	require.Equal(t, http.StatusOK, status)
	require.Equal(t, false, body["replayed"])
	require.NoError(t, b.db.Pool.QueryRow(ctx, `SELECT state FROM payment_attempts`).Scan(&state))
	require.Equal(t, "succeeded", state)

	status, body = post(t, b.srv.URL+"/webhooks/stripe", string(payload), map[string]string{"Stripe-Signature": sig})
	require.Equal(t, http.StatusOK, status)
	require.Equal(t, true, body["replayed"])

	status, _ = post(t, b.srv.URL+"/webhooks/stripe", strings.Repeat("x", 2<<20), map[string]string{"Stripe-Signature": sig})
	require.Equal(t, http.StatusRequestEntityTooLarge, status)
}

func TestPayPalReturnCapturesOnce(t *testing.T) {
	t.Parallel()
	b := setupWebhooks(t)
	ctx := context.Background()
	inv := testutil.OpenInvoice(t, b.db.Pool, "acc_1", 1, "20.00")
	p, err := paypal.Buy(ctx, b.db.Pool, paypal.Sandbox{}, "acc_1", mustDecimal("30.00"), billing.DefaultCreditPurchaseMax)
	require.NoError(t, err)
	for range 2 {
		res, err := apiClient(t).Get(b.srv.URL + "/paypal/return?token=" + p.OrderID)
		require.NoError(t, err)
		page, _ := io.ReadAll(res.Body)
		res.Body.Close()
		require.Equal(t, http.StatusOK, res.StatusCode, string(page))
		require.Contains(t, string(page), "30.00 EUR of prepaid credit")
	}
	var balance string
	var collections int
	require.NoError(t, b.db.Pool.QueryRow(ctx, `SELECT credit_balance::text FROM accounts WHERE id = 'acc_1'`).Scan(&balance))
	require.NoError(t, b.db.Pool.QueryRow(ctx, `
		SELECT count(*) FROM river_job
		WHERE (kind = 'collect_invoice' AND args->>'invoice_number' = $1)
		   OR (kind = 'collect_invoices' AND args->'invoices' @> jsonb_build_array(jsonb_build_object('number', $1::text)))`, inv.Number).Scan(&collections))
	require.Equal(t, "30.00", balance)
	require.Equal(t, 1, collections, "the new credit collects the open invoice, once")

	res, err := apiClient(t).Get(b.srv.URL + "/paypal/return?token=UNKNOWN")
	require.NoError(t, err)
	res.Body.Close()
	require.Equal(t, http.StatusNotFound, res.StatusCode)

	status, body := post(t, b.srv.URL+"/webhooks/paypal", `{"id":"WH-1","event_type":"PAYMENT.CAPTURE.COMPLETED"}`, nil)
	require.Equal(t, http.StatusBadRequest, status, "the sandbox vouches for no webhook")
	require.Equal(t, "bad_signature", body["error"].(map[string]any)["code"])
}

func mustDecimal(s string) decimal.Decimal { return decimal.RequireFromString(s) }

// A Stripe event for a PaymentIntent that carries one of the engine's keys
// but that no attempt has is acknowledged (200, "ignored"), not a 500 that
// Stripe would retry for days; its replays are acknowledged too.
func TestStripeWebhookAcknowledgesUnknownPaymentIntent(t *testing.T) {
	t.Parallel()
	b := setupWebhooks(t)
	payload, _ := json.Marshal(map[string]any{"id": "evt_unknown", "object": "event", "type": "payment_intent.succeeded", "api_version": stripe.APIVersion,
		"created": time.Now().Unix(), "data": map[string]any{"object": map[string]any{"id": "pi_other", "object": "payment_intent", "status": "succeeded",
			"metadata": map[string]string{"idempotency_key": "INV-2026-000042-attempt-1"}}}})
	sig := webhook.GenerateTestSignedPayload(&webhook.UnsignedPayload{Payload: payload, Secret: whsec}).Header
	status, body := post(t, b.srv.URL+"/webhooks/stripe", string(payload), map[string]string{"Stripe-Signature": sig})
	require.Equal(t, http.StatusOK, status, "%v", body)
	require.Equal(t, "unknown_payment_intent", body["ignored"])
	status, body = post(t, b.srv.URL+"/webhooks/stripe", string(payload), map[string]string{"Stripe-Signature": sig})
	require.Equal(t, http.StatusOK, status)
	require.Equal(t, true, body["replayed"])

	// A signature from the future is refused like a stale one.
	future := webhook.GenerateTestSignedPayload(&webhook.UnsignedPayload{Payload: payload, Secret: whsec, Timestamp: time.Now().Add(10 * time.Minute)}).Header
	status, body = post(t, b.srv.URL+"/webhooks/stripe", string(payload), map[string]string{"Stripe-Signature": future})
	require.Equal(t, http.StatusBadRequest, status)
	require.Equal(t, "bad_signature", body["error"].(map[string]any)["code"])
}
