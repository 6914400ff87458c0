package paypal_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/shopspring/decimal"
	"github.com/stretchr/testify/require"

	"github.com/billingengine/engine/billing"
	"github.com/billingengine/engine/internal/dbtest"
	"github.com/billingengine/engine/internal/testutil"
	"github.com/billingengine/engine/payments/paypal"
)

// fakePayPal answers with the shapes of PayPal's Orders v2 API.
type fakePayPal struct {
	mu       sync.Mutex
	orders   map[string]string // order id -> amount
	captures int
	bodies   []map[string]any
	headers  []http.Header
}

func (f *fakePayPal) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	var body map[string]any
	_ = json.NewDecoder(r.Body).Decode(&body)
	f.bodies = append(f.bodies, body)
	f.headers = append(f.headers, r.Header.Clone())
	switch {
	case r.URL.Path == "/v1/oauth2/token":
		fmt.Fprint(w, `{"scope":"https://uri.paypal.com/services/payments","access_token":"A21AAtest","token_type":"Bearer","app_id":"APP-1","expires_in":32400,"nonce":"n"}`)
	case r.Method == http.MethodPost && r.URL.Path == "/v2/checkout/orders":
		id := fmt.Sprintf("5O190127TN36471%dT", len(f.orders))
		pu := body["purchase_units"].([]any)[0].(map[string]any)
		f.orders[id] = pu["amount"].(map[string]any)["value"].(string)
		w.WriteHeader(http.StatusCreated)
		fmt.Fprintf(w, `{"id":%q,"status":"CREATED","links":[
			{"href":"https://api-m.sandbox.paypal.com/v2/checkout/orders/%[1]s","rel":"self","method":"GET"},
			{"href":"https://www.sandbox.paypal.com/checkoutnow?token=%[1]s","rel":"approve","method":"GET"},
			{"href":"https://api-m.sandbox.paypal.com/v2/checkout/orders/%[1]s","rel":"update","method":"PATCH"},
			{"href":"https://api-m.sandbox.paypal.com/v2/checkout/orders/%[1]s/capture","rel":"capture","method":"POST"}]}`, id)
	case r.Method == http.MethodPost && strings.HasSuffix(r.URL.Path, "/capture"):
		id := strings.TrimSuffix(strings.TrimPrefix(r.URL.Path, "/v2/checkout/orders/"), "/capture")
		amount, ok := f.orders[id]
		if !ok {
			w.WriteHeader(http.StatusNotFound)
			fmt.Fprint(w, `{"name":"RESOURCE_NOT_FOUND","message":"The specified resource does not exist."}`)
			return
		}
		f.captures++
		w.WriteHeader(http.StatusCreated)
		fmt.Fprintf(w, `{"id":%q,"status":"COMPLETED","payment_source":{"paypal":{"email_address":"buyer@example.test"}},
			"purchase_units":[{"reference_id":"acc_1","payments":{"captures":[{"id":"CAP-%[1]s","status":"COMPLETED",
			"amount":{"currency_code":"EUR","value":%q},"final_capture":true,
			"seller_protection":{"status":"ELIGIBLE"},
			"seller_receivable_breakdown":{"gross_amount":{"currency_code":"EUR","value":%[2]q},"paypal_fee":{"currency_code":"EUR","value":"0.84"},"net_amount":{"currency_code":"EUR","value":"24.16"}},
			"create_time":"2026-11-27T10:00:00Z","update_time":"2026-11-27T10:00:00Z"}]}}],
			"payer":{"name":{"given_name":"John","surname":"Doe"},"email_address":"buyer@example.test","payer_id":"QYR5Z8XDVJNXQ"}}`, id, amount)
	case r.URL.Path == "/v1/notifications/verify-webhook-signature":
		status := "FAILURE"
		if body["transmission_sig"] == "good-signature" && body["webhook_id"] == "WH-1" {
			status = "SUCCESS"
		}
		fmt.Fprintf(w, `{"verification_status":%q}`, status)
	default:
		w.WriteHeader(http.StatusNotFound)
	}
}

func setup(t *testing.T) (*dbtest.DB, *fakePayPal, *paypal.Client) {
	t.Helper()
	db := dbtest.New(t)
	testutil.OpenInvoice(t, db.Pool, "acc_1", 1, "48.04")
	fake := &fakePayPal{orders: map[string]string{}}
	srv := httptest.NewServer(fake)
	t.Cleanup(srv.Close)
	c, err := paypal.NewClient(paypal.Config{ClientID: "id", Secret: "secret", APIBase: srv.URL,
		ReturnURL: "https://billing.example.test/paypal/return", CancelURL: "https://billing.example.test/paypal/return", WebhookID: "WH-1"})
	require.NoError(t, err)
	return db, fake, c
}

func record(t *testing.T, db *dbtest.DB, c paypal.Capture) *paypal.Captured {
	t.Helper()
	var out *paypal.Captured
	require.NoError(t, pgx.BeginFunc(context.Background(), db.Pool, func(tx pgx.Tx) error {
		var err error
		out, err = paypal.RecordCapture(context.Background(), tx, c, time.Now())
		return err
	}))
	return out
}

func balance(t *testing.T, db *dbtest.DB) string {
	t.Helper()
	var b string
	require.NoError(t, db.Pool.QueryRow(context.Background(), `SELECT credit_balance::text FROM accounts WHERE id = 'acc_1'`).Scan(&b))
	return b
}

func TestBuyAndCaptureCreditOnce(t *testing.T) {
	t.Parallel()
	db, fake, c := setup(t)
	ctx := context.Background()
	p, err := paypal.Buy(ctx, db.Pool, c, "acc_1", decimal.RequireFromString("25.00"), billing.DefaultCreditPurchaseMax)
	require.NoError(t, err)
	require.Equal(t, "https://www.sandbox.paypal.com/checkoutnow?token="+p.OrderID, p.ApprovalLink)
	require.Equal(t, "CREATED", p.Status)

	fake.mu.Lock()
	order := fake.bodies[1]
	require.Equal(t, "CAPTURE", order["intent"])
	pu := order["purchase_units"].([]any)[0].(map[string]any)
	require.Equal(t, map[string]any{"currency_code": "EUR", "value": "25.00"}, pu["amount"])
	require.Equal(t, "acc_1", pu["custom_id"])
	require.NotEmpty(t, fake.headers[1].Get("PayPal-Request-Id"), "order creation is idempotent")
	require.Equal(t, "Bearer A21AAtest", fake.headers[1].Get("Authorization"))
	fake.mu.Unlock()

	capture, err := paypal.CaptureOrder(ctx, c, p.OrderID)
	require.NoError(t, err)
	require.Equal(t, paypal.Capture{OrderID: p.OrderID, ID: "CAP-" + p.OrderID, Status: "COMPLETED", Amount: decimal.RequireFromString("25.00")}, capture)

	got := record(t, db, capture)
	require.True(t, got.Credited)
	require.Equal(t, "25.00", balance(t, db))
	// The buyer reloads the return page: captured again, credited once.
	capture, err = paypal.CaptureOrder(ctx, c, p.OrderID)
	require.NoError(t, err)
	require.False(t, record(t, db, capture).Credited)

	// And the webhook reports the same capture, twice.
	ev := fmt.Sprintf(`{"id":"WH-EVT-1","event_type":"PAYMENT.CAPTURE.COMPLETED","resource":{"id":"CAP-%s","status":"COMPLETED",
		"amount":{"currency_code":"EUR","value":"25.00"},"supplementary_data":{"related_ids":{"order_id":%q}}}}`, p.OrderID, p.OrderID)
	for i := range 2 {
		require.NoError(t, pgx.BeginFunc(ctx, db.Pool, func(tx pgx.Tx) error {
			c, replayed, err := paypal.HandleWebhook(ctx, tx, []byte(ev), time.Now())
			require.Equal(t, i == 1, replayed)
			if i == 0 {
				require.False(t, c.Credited)
			}
			return err
		}))
	}
	require.Equal(t, "25.00", balance(t, db))
	var entries int
	require.NoError(t, db.Pool.QueryRow(ctx, `SELECT count(*) FROM credit_ledger WHERE kind = 'paypal_purchase'`).Scan(&entries))
	require.Equal(t, 1, entries)
}

func TestCaptureNotCompletedCreditsNothing(t *testing.T) {
	t.Parallel()
	db, _, c := setup(t)
	p, err := paypal.Buy(context.Background(), db.Pool, c, "acc_1", decimal.RequireFromString("10.00"), billing.DefaultCreditPurchaseMax)
	require.NoError(t, err)
	got := record(t, db, paypal.Capture{OrderID: p.OrderID, ID: "CAP-X", Status: "PENDING", Amount: decimal.RequireFromString("10.00")})
	require.False(t, got.Credited)
	require.Equal(t, "0.00", balance(t, db))
	var err2 error
	_ = pgx.BeginFunc(context.Background(), db.Pool, func(tx pgx.Tx) error {
		_, err2 = paypal.RecordCapture(context.Background(), tx, paypal.Capture{OrderID: "NOPE", ID: "C", Status: "COMPLETED"}, time.Now())
		return err2
	})
	require.ErrorIs(t, err2, paypal.ErrUnknownOrder)
}

// The client serialises its calls: plutov/paypal's isn't safe for
// concurrent captures (run with -race to see it otherwise).
func TestConcurrentCaptures(t *testing.T) {
	t.Parallel()
	db, fake, c := setup(t)
	ctx := context.Background()
	var ids []string
	for range 8 {
		p, err := paypal.Buy(ctx, db.Pool, c, "acc_1", decimal.RequireFromString("5.00"), billing.DefaultCreditPurchaseMax)
		require.NoError(t, err)
		ids = append(ids, p.OrderID)
	}
	var wg sync.WaitGroup
	for _, id := range ids {
		wg.Add(1)
		go func() {
			defer wg.Done()
			capture, err := paypal.CaptureOrder(ctx, c, id)
			require.NoError(t, err)
			record(t, db, capture)
		}()
	}
	wg.Wait()
	require.Equal(t, "40.00", balance(t, db))
	fake.mu.Lock()
	defer fake.mu.Unlock()
	require.Equal(t, 8, fake.captures)
}

func TestVerifyWebhook(t *testing.T) {
	t.Parallel()
	_, _, c := setup(t)
	req := func(sig string) *http.Request {
		r := httptest.NewRequest(http.MethodPost, "/webhooks/paypal", strings.NewReader(`{"id":"WH-1","event_type":"PAYMENT.CAPTURE.COMPLETED"}`))
		r.Header.Set("PAYPAL-TRANSMISSION-SIG", sig)
		return r
	}
	require.NoError(t, c.VerifyWebhook(context.Background(), req("good-signature")))
	require.ErrorIs(t, c.VerifyWebhook(context.Background(), req("forged")), paypal.ErrBadSignature)
	require.ErrorIs(t, paypal.Sandbox{}.VerifyWebhook(context.Background(), req("good-signature")), paypal.ErrBadSignature)
}
