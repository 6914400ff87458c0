package stripe_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/shopspring/decimal"
	"github.com/stretchr/testify/require"
	"github.com/stripe/stripe-go/v76/webhook"

	"github.com/billingengine/engine/internal/dbtest"
	"github.com/billingengine/engine/internal/testutil"
	"github.com/billingengine/engine/payments"
	"github.com/billingengine/engine/payments/stripe"
)

// recorder keeps the status of every response stripe-go received.
type recorder struct {
	mu       sync.Mutex
	statuses []string
}

func (r *recorder) RoundTrip(req *http.Request) (*http.Response, error) {
	res, err := http.DefaultTransport.RoundTrip(req)
	r.mu.Lock()
	defer r.mu.Unlock()
	if err != nil {
		r.statuses = append(r.statuses, req.Method+" "+req.URL.Path+" "+err.Error())
	} else {
		r.statuses = append(r.statuses, fmt.Sprintf("%s %s %d", req.Method, req.URL.Path, res.StatusCode))
	}
	return res, err
}

func charge(pm payments.Method, key string) payments.ChargeRequest {
	return payments.ChargeRequest{IdempotencyKey: key, InvoiceNumber: "INV-2026-000001", Attempt: 1, AccountID: "acc_1",
		Amount: decimal.RequireFromString("48.04"), Currency: "EUR", Method: pm, MandateID: "mandate_1"}
}

// Every request the engine makes to Stripe is one stripe-mock accepts: it
// validates the shapes against Stripe's OpenAPI description.
func TestRequestShapesAcceptedByStripeMock(t *testing.T) {
	t.Parallel()
	db := dbtest.New(t)
	testutil.OpenInvoice(t, db.Pool, "acc_1", 1, "48.04")
	rec := &recorder{}
	p := stripe.New(db.Pool, stripe.Config{SecretKey: "sk_test_123", URL: testutil.StripeMock(t), HTTPClient: &http.Client{Transport: rec}})
	ctx := context.Background()

	_, err := p.Charge(ctx, charge(payments.Method{Type: payments.MethodCard, ID: "pm_card_visa"}, "INV-2026-000001-attempt-1"))
	require.NoError(t, err)
	_, err = p.Charge(ctx, charge(payments.Method{Type: payments.MethodSEPADebit, ID: "pm_sepa_debit_success"}, "INV-2026-000001-attempt-2"))
	require.NoError(t, err)
	_, err = p.SetUp(ctx, "acc_1", payments.Method{Type: payments.MethodSEPADebit, ID: "pm_sepa_debit_success"})
	require.NoError(t, err)
	_, err = p.SetUp(ctx, "acc_1", payments.Method{Type: payments.MethodCard, ID: "pm_card_visa"})
	require.NoError(t, err)

	rec.mu.Lock()
	defer rec.mu.Unlock()
	require.Equal(t, []string{
		"POST /v1/customers 200",
		"POST /v1/payment_intents 200",
		"POST /v1/payment_intents 200",
		"POST /v1/setup_intents 200",
		"POST /v1/setup_intents 200",
	}, rec.statuses, "the customer is created once and reused")
}

// fakeStripe answers like Stripe does for each test payment method, which
// stripe-mock (always successful) cannot.
type fakeStripe struct {
	mu       sync.Mutex
	requests map[string]int // idempotency key -> requests
	params   []url.Values
	fail500  int    // answer 500 to the first n payment intent requests
	existing string // a PaymentIntent the list endpoint returns
}

func (f *fakeStripe) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	form, _ := url.ParseQuery(string(body))
	if r.Method == http.MethodGet {
		form = r.URL.Query()
	}
	f.mu.Lock()
	key := r.Header.Get("Idempotency-Key")
	f.requests[key]++
	f.params = append(f.params, form)
	fail := r.URL.Path == "/v1/payment_intents" && f.fail500 > 0
	if fail {
		f.fail500--
	}
	f.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	if r.Header.Get("Stripe-Version") != stripe.APIVersion {
		w.WriteHeader(400)
		fmt.Fprintf(w, `{"error":{"type":"invalid_request_error","message":"version %s"}}`, r.Header.Get("Stripe-Version"))
		return
	}
	switch {
	case r.Method == http.MethodGet && r.URL.Path == "/v1/payment_intents":
		fmt.Fprintf(w, `{"object":"list","url":"/v1/payment_intents","has_more":false,"data":[%s]}`, f.existing)
	case r.URL.Path == "/v1/customers":
		fmt.Fprint(w, `{"id":"cus_1","object":"customer"}`)
	case fail:
		w.WriteHeader(500)
		fmt.Fprint(w, `{"error":{"type":"api_error","message":"boom"}}`)
	case form.Get("payment_method") == "pm_card_visa":
		fmt.Fprint(w, `{"id":"pi_ok","object":"payment_intent","status":"succeeded"}`)
	case form.Get("payment_method") == "pm_card_chargeDeclinedInsufficientFunds":
		w.WriteHeader(402)
		fmt.Fprint(w, `{"error":{"type":"card_error","code":"card_declined","decline_code":"insufficient_funds","message":"Your card has insufficient funds.",
			"payment_intent":{"id":"pi_declined","object":"payment_intent","status":"requires_payment_method"}}}`)
	case form.Get("payment_method") == "pm_sepa_debit_success":
		fmt.Fprint(w, `{"id":"pi_sepa","object":"payment_intent","status":"processing"}`)
	case form.Get("payment_method") == "pm_card_authenticationRequired":
		fmt.Fprint(w, `{"id":"pi_3ds","object":"payment_intent","status":"requires_action"}`)
	default:
		w.WriteHeader(400)
		fmt.Fprint(w, `{"error":{"type":"invalid_request_error","code":"resource_missing","message":"No such PaymentMethod"}}`)
	}
}

func TestChargeOutcomes(t *testing.T) {
	t.Parallel()
	db := dbtest.New(t)
	testutil.OpenInvoice(t, db.Pool, "acc_1", 1, "48.04")
	fake := &fakeStripe{requests: map[string]int{}, fail500: 1}
	srv := httptest.NewServer(fake)
	defer srv.Close()
	p := stripe.New(db.Pool, stripe.Config{SecretKey: "sk_test_123", URL: srv.URL, MaxNetworkRetries: 2})
	ctx := context.Background()

	// The first answer is a 500, which stripe-go does not resend (Stripe
	// keeps a POST's answer per key): the attempt's outcome is unknown.
	visa := payments.Method{Type: payments.MethodCard, ID: "pm_card_visa"}
	_, err := p.Charge(ctx, charge(visa, "INV-2026-000001-attempt-1"))
	require.True(t, payments.IsTechnical(err), "%v", err)

	cases := []struct {
		pm      payments.Method
		outcome payments.Outcome
		code    string
		ref     string
	}{
		{visa, payments.OutcomeSucceeded, "", "pi_ok"},
		{payments.Method{Type: payments.MethodCard, ID: "pm_card_chargeDeclinedInsufficientFunds"}, payments.OutcomeDeclined, "insufficient_funds", "pi_declined"},
		{payments.Method{Type: payments.MethodSEPADebit, ID: "pm_sepa_debit_success"}, payments.OutcomeProcessing, "", "pi_sepa"},
		{payments.Method{Type: payments.MethodCard, ID: "pm_card_authenticationRequired"}, payments.OutcomeDeclined, "authentication_required", "pi_3ds"},
		{payments.Method{Type: payments.MethodCard, ID: "pm_unknown"}, payments.OutcomeDeclined, "resource_missing", ""},
	}
	for i, tc := range cases {
		req := charge(tc.pm, fmt.Sprintf("INV-2026-000001-attempt-%d", i+1))
		req.Resend = i == 0 // the retry of the attempt that got a 500
		res, err := p.Charge(ctx, req)
		require.NoError(t, err, tc.pm.ID)
		require.Equal(t, payments.ChargeResult{Outcome: tc.outcome, Code: tc.code, Reference: tc.ref}, res, tc.pm.ID)
	}

	fake.mu.Lock()
	defer fake.mu.Unlock()
	// The resend looked the payment up first, found none, and sent the
	// request again with the same key.
	require.Equal(t, 2, fake.requests["INV-2026-000001-attempt-1"])
	require.Equal(t, 1, fake.requests["INV-2026-000001-attempt-2"])
	require.Equal(t, 1, fake.requests["customer-acc_1"], "one Customer per account")
	pi := fake.params[3] // customer, the 500, the lookup, the resend
	require.Equal(t, "4804", pi.Get("amount"))
	require.Equal(t, "eur", pi.Get("currency"))
	require.Equal(t, "true", pi.Get("off_session"))
	require.Equal(t, "true", pi.Get("confirm"))
	require.Equal(t, "card", pi.Get("payment_method_types[0]"))
	require.Equal(t, "INV-2026-000001-attempt-1", pi.Get("metadata[idempotency_key]"))
	sepa := fake.params[5]
	require.Equal(t, "sepa_debit", sepa.Get("payment_method_types[0]"))
	require.Equal(t, "mandate_1", sepa.Get("mandate"))
}

// A resent attempt whose PaymentIntent exists is answered from it: no
// second request, no second charge.
func TestResendFindsThePayment(t *testing.T) {
	t.Parallel()
	db := dbtest.New(t)
	testutil.OpenInvoice(t, db.Pool, "acc_1", 1, "48.04")
	fake := &fakeStripe{requests: map[string]int{},
		existing: `{"id":"pi_found","object":"payment_intent","status":"succeeded","metadata":{"idempotency_key":"INV-2026-000001-attempt-1"}}`}
	srv := httptest.NewServer(fake)
	defer srv.Close()
	p := stripe.New(db.Pool, stripe.Config{SecretKey: "sk_test_123", URL: srv.URL})
	req := charge(payments.Method{Type: payments.MethodCard, ID: "pm_card_visa"}, "INV-2026-000001-attempt-1")
	req.Resend, req.AttemptedAt = true, time.Now()
	res, err := p.Charge(context.Background(), req)
	require.NoError(t, err)
	require.Equal(t, payments.ChargeResult{Outcome: payments.OutcomeSucceeded, Reference: "pi_found"}, res)
	fake.mu.Lock()
	defer fake.mu.Unlock()
	require.Zero(t, fake.requests["INV-2026-000001-attempt-1"], "no PaymentIntent was created again")
	require.Equal(t, fmt.Sprint(req.AttemptedAt.Add(-10*time.Minute).Unix()), fake.params[1].Get("created[gte]"))
}

func TestTechnicalErrors(t *testing.T) {
	t.Parallel()
	db := dbtest.New(t)
	testutil.OpenInvoice(t, db.Pool, "acc_1", 1, "48.04")
	fake := &fakeStripe{requests: map[string]int{}, fail500: 100}
	srv := httptest.NewServer(fake)
	defer srv.Close()
	p := stripe.New(db.Pool, stripe.Config{SecretKey: "sk_test_123", URL: srv.URL, MaxNetworkRetries: 1})
	_, err := p.Charge(context.Background(), charge(payments.Method{Type: payments.MethodCard, ID: "pm_card_visa"}, "k-1"))
	require.True(t, payments.IsTechnical(err), "%v", err)
	var te *payments.TechnicalError
	require.ErrorAs(t, err, &te)
	require.False(t, te.SafeToRetry(), "a 500 may have charged: resend with the same key")

	srv.Close()
	_, err = p.Charge(context.Background(), charge(payments.Method{Type: payments.MethodCard, ID: "pm_card_visa"}, "k-2"))
	require.True(t, payments.IsTechnical(err), "%v", err)
}

// signed builds a webhook request body and signature for event.
func signed(t *testing.T, secret string, event map[string]any) ([]byte, string) {
	t.Helper()
	body, err := json.Marshal(event)
	require.NoError(t, err)
	sp := webhook.GenerateTestSignedPayload(&webhook.UnsignedPayload{Payload: body, Secret: secret})
	return body, sp.Header
}

func event(id, typ, version string, object map[string]any) map[string]any {
	return map[string]any{"id": id, "object": "event", "type": typ, "api_version": version, "created": time.Now().Unix(),
		"data": map[string]any{"object": object}}
}

func TestWebhooks(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := dbtest.New(t)
	const secret = "whsec_test"
	inv := testutil.OpenInvoice(t, db.Pool, "acc_1", 1, "48.04")
	inv2 := testutil.OpenInvoice(t, db.Pool, "acc_2", 2, "10.00")
	_, err := db.Pool.Exec(ctx, `
		INSERT INTO payment_attempts (invoice_id, attempt, idempotency_key, processor, method, payment_method_id, amount, state, processor_ref, created_at, decided_at)
		VALUES ($1, 1, 'INV-2026-000001-attempt-1', 'stripe', 'sepa_debit', 'pm_1', 48.04, 'processing', 'pi_1', now(), now()),
		       ($2, 1, 'INV-2026-000002-attempt-1', 'stripe', 'sepa_debit', 'pm_2', 10.00, 'processing', 'pi_2', now(), now())`, inv.ID, inv2.ID)
	require.NoError(t, err)
	_, err = db.Pool.Exec(ctx, `UPDATE invoices SET status = 'processing'`)
	require.NoError(t, err)

	handle := func(body []byte, sig string) (*stripe.WebhookResult, error) {
		var res *stripe.WebhookResult
		err := pgx.BeginFunc(ctx, db.Pool, func(tx pgx.Tx) error {
			var err error
			res, err = stripe.HandleWebhook(ctx, tx, body, sig, secret, time.Now())
			return err
		})
		return res, err
	}
	statuses := func() string {
		var s string
		require.NoError(t, db.Pool.QueryRow(ctx, `SELECT string_agg(i.status || '/' || pa.state || '/' || pa.code, ' ' ORDER BY i.number)
			FROM invoices i JOIN payment_attempts pa ON pa.invoice_id = i.id`).Scan(&s))
		return s
	}

	succeeded := event("evt_1", "payment_intent.succeeded", stripe.APIVersion,
		map[string]any{"id": "pi_1", "object": "payment_intent", "status": "succeeded", "metadata": map[string]string{"idempotency_key": "INV-2026-000001-attempt-1"}})
	body, sig := signed(t, secret, succeeded)

	// A wrong signature, a tampered body, a missing header: refused, nothing changes.
	_, err = handle(body, strings.Replace(sig, "v1=", "v1=00", 1))
	require.ErrorIs(t, err, stripe.ErrBadSignature)
	_, err = handle(append([]byte(" "), body...), sig)
	require.ErrorIs(t, err, stripe.ErrBadSignature)
	_, err = handle(body, "")
	require.ErrorIs(t, err, stripe.ErrBadSignature)
	_, wrongSig := signed(t, "whsec_other", succeeded)
	_, err = handle(body, wrongSig)
	require.ErrorIs(t, err, stripe.ErrBadSignature)
	require.Equal(t, "processing/processing/ processing/processing/", statuses())

	// An event of another API version is refused too: its payload has
	// other shapes.
	old, oldSig := signed(t, secret, event("evt_0", "payment_intent.succeeded", "2020-08-27", map[string]any{"id": "pi_1"}))
	_, err = handle(old, oldSig)
	require.ErrorIs(t, err, stripe.ErrBadSignature)

	res, err := handle(body, sig)
	require.NoError(t, err)
	require.False(t, res.Replayed)
	require.Equal(t, "paid/succeeded/ processing/processing/", statuses())

	res, err = handle(body, sig)
	require.NoError(t, err)
	require.True(t, res.Replayed, "the same event again is ignored")

	failed := event("evt_2", "payment_intent.payment_failed", stripe.APIVersion,
		map[string]any{"id": "pi_2", "object": "payment_intent", "status": "requires_payment_method",
			"last_payment_error": map[string]any{"type": "card_error", "code": "insufficient_funds"}})
	body, sig = signed(t, secret, failed)
	_, err = handle(body, sig)
	require.NoError(t, err)
	require.Equal(t, "paid/succeeded/ open/failed/insufficient_funds", statuses())

	var amountPaid string
	require.NoError(t, db.Pool.QueryRow(ctx, `SELECT amount_paid::text FROM invoices WHERE id = $1`, inv.ID).Scan(&amountPaid))
	require.Equal(t, "48.04", amountPaid)

	// A SetupIntent confirmed by the customer sets the payment method.
	setup := event("evt_3", "setup_intent.succeeded", stripe.APIVersion, map[string]any{"id": "seti_1", "object": "setup_intent",
		"status": "succeeded", "payment_method": "pm_new", "payment_method_types": []string{"sepa_debit"},
		"mandate": "mandate_9", "metadata": map[string]string{"account_id": "acc_2"}})
	body, sig = signed(t, secret, setup)
	res, err = handle(body, sig)
	require.NoError(t, err)
	require.Equal(t, []string{"acc_2"}, res.MethodChanged)
	var pm, mandate string
	require.NoError(t, db.Pool.QueryRow(ctx, `SELECT external_id, mandate_id FROM payment_methods WHERE account_id = 'acc_2' AND replaced_at IS NULL`).Scan(&pm, &mandate))
	require.Equal(t, "pm_new mandate_9", pm+" "+mandate)
}
