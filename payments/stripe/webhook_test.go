package stripe_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"
	"github.com/stripe/stripe-go/v76/webhook"

	"github.com/billingengine/engine/internal/dbtest"
	"github.com/billingengine/engine/internal/testutil"
	"github.com/billingengine/engine/payments/stripe"
)

const whsec = "whsec_test"

// logLines captures a logger's JSON lines.
type logLines struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *logLines) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *logLines) logger() *slog.Logger { return slog.New(slog.NewJSONHandler(l, nil)) }

// messages lists "LEVEL msg" of every line, with the attributes named.
func (l *logLines) messages(t *testing.T, attrs ...string) []string {
	t.Helper()
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []string
	for _, line := range strings.Split(strings.TrimSpace(l.buf.String()), "\n") {
		if line == "" {
			continue
		}
		var m map[string]any
		require.NoError(t, json.Unmarshal([]byte(line), &m))
		s := fmt.Sprintf("%s %s", m["level"], m["msg"])
		for _, a := range attrs {
			if v, ok := m[a]; ok {
				s += fmt.Sprintf(" %s=%v", a, v)
			}
		}
		out = append(out, s)
	}
	return out
}

// webhookDB is a database with invoice INV-2026-000001 of acc_1 (48.04)
// and its attempt 1, a SEPA debit processing as PaymentIntent pi_1.
func webhookDB(t *testing.T) *dbtest.DB {
	t.Helper()
	db := dbtest.New(t)
	inv := testutil.OpenInvoice(t, db.Pool, "acc_1", 1, "48.04")
	_, err := db.Pool.Exec(context.Background(), `
		INSERT INTO payment_attempts (invoice_id, attempt, idempotency_key, processor, method, payment_method_id, amount, state, processor_ref, created_at, decided_at)
		VALUES ($1, 1, 'INV-2026-000001-attempt-1', 'stripe', 'sepa_debit', 'pm_1', 48.04, 'processing', 'pi_1', now(), now())`, inv.ID)
	require.NoError(t, err)
	_, err = db.Pool.Exec(context.Background(), `UPDATE invoices SET status = 'processing'`)
	require.NoError(t, err)
	return db
}

func handleWith(t *testing.T, db *dbtest.DB, wh *stripe.Webhook, event map[string]any, at time.Time, now time.Time) (*stripe.WebhookResult, error) {
	t.Helper()
	body, err := json.Marshal(event)
	require.NoError(t, err)
	sig := webhook.GenerateTestSignedPayload(&webhook.UnsignedPayload{Payload: body, Secret: whsec, Timestamp: at}).Header
	var res *stripe.WebhookResult
	err = pgx.BeginFunc(context.Background(), db.Pool, func(tx pgx.Tx) error {
		var err error
		res, err = wh.Handle(context.Background(), tx, body, sig, now)
		return err
	})
	return res, err
}

func piEvent(id, typ, pi string) map[string]any {
	obj := map[string]any{"id": pi, "object": "payment_intent", "status": "succeeded",
		"metadata": map[string]string{"idempotency_key": "INV-2026-000001-attempt-1"}}
	if typ == "payment_intent.payment_failed" {
		obj["status"] = "requires_payment_method"
		obj["last_payment_error"] = map[string]any{"type": "invalid_request_error", "code": "insufficient_funds"}
	}
	return event(id, typ, stripe.APIVersion, obj)
}

func attemptState(t *testing.T, db *dbtest.DB) string {
	t.Helper()
	var s string
	require.NoError(t, db.Pool.QueryRow(context.Background(), `
		SELECT i.status || '/' || pa.state || ' credit=' || a.credit_balance
		FROM invoices i JOIN payment_attempts pa ON pa.invoice_id = i.id JOIN accounts a ON a.id = i.account_id`).Scan(&s))
	return s
}

// Signatures more than five minutes from now are refused, in the future as
// in the past: stripe-go only looks at the past.
func TestWebhookRefusesSignatureTimestampsOutsideFiveMinutes(t *testing.T) {
	t.Parallel()
	db := webhookDB(t)
	wh := &stripe.Webhook{Secret: whsec}
	now := time.Now()
	for i, at := range []time.Time{now.Add(6 * time.Minute), now.Add(time.Hour), now.Add(-6 * time.Minute)} {
		_, err := handleWith(t, db, wh, piEvent(fmt.Sprint("evt_", i), "payment_intent.succeeded", "pi_1"), at, now)
		require.ErrorIs(t, err, stripe.ErrBadSignature, "signed at now%+v", at.Sub(now))
		require.ErrorContains(t, err, "more than 5m0s from now")
	}
	require.Equal(t, "processing/processing credit=0.00", attemptState(t, db), "refused events change nothing")

	res, err := handleWith(t, db, wh, piEvent("evt_ok", "payment_intent.succeeded", "pi_1"), now.Add(4*time.Minute), now)
	require.NoError(t, err, "a clock a little ahead is fine")
	require.False(t, res.Replayed)
	require.Equal(t, "paid/succeeded credit=0.00", attemptState(t, db))
}

// An event for a PaymentIntent that carries one of the engine's keys but
// that no attempt has is acknowledged and logged, not answered with an
// error that Stripe would retry for days.
func TestWebhookAcknowledgesUnknownPaymentIntentWithOurKey(t *testing.T) {
	t.Parallel()
	db := webhookDB(t)
	logs := &logLines{}
	wh := &stripe.Webhook{Secret: whsec, Logger: logs.logger()}
	ev := event("evt_unknown", "payment_intent.succeeded", stripe.APIVersion, map[string]any{"id": "pi_other", "object": "payment_intent",
		"status": "succeeded", "metadata": map[string]string{"idempotency_key": "INV-2026-000099-attempt-1"}})
	res, err := handleWith(t, db, wh, ev, time.Now(), time.Now())
	require.NoError(t, err)
	require.Equal(t, stripe.IgnoredUnknownPayment, res.Ignored)
	require.Nil(t, res.Settled)
	require.Equal(t, []string{
		"WARN stripe webhook: a PaymentIntent carries one of our idempotency keys but no attempt has it; acknowledged, nothing changed payment_intent=pi_other idempotency_key=INV-2026-000099-attempt-1",
	}, logs.messages(t, "payment_intent", "idempotency_key"))
	require.Equal(t, "processing/processing credit=0.00", attemptState(t, db))

	res, err = handleWith(t, db, wh, ev, time.Now(), time.Now())
	require.NoError(t, err)
	require.True(t, res.Replayed, "the event is recorded: Stripe's retries are replays")
}

// A succeeded after a payment_failed for the same PaymentIntent is logged
// and checked with Stripe (stripe-mock, whose PaymentIntents are all
// requires_payment_method): Stripe agrees with the failure, so the event
// was stale and the record stands.
func TestWebhookReconcilesSucceededAfterFailedWithStripe(t *testing.T) {
	t.Parallel()
	db := webhookDB(t)
	logs := &logLines{}
	api := stripe.New(db.Pool, stripe.Config{SecretKey: "sk_test_123", URL: testutil.StripeMock(t)})
	wh := &stripe.Webhook{Secret: whsec, API: api, Logger: logs.logger()}

	_, err := handleWith(t, db, wh, piEvent("evt_failed", "payment_intent.payment_failed", "pi_1"), time.Now(), time.Now())
	require.NoError(t, err)
	require.Equal(t, "open/failed credit=0.00", attemptState(t, db))
	require.Empty(t, logs.messages(t), "an event that agrees with nothing recorded yet is not news")

	res, err := handleWith(t, db, wh, piEvent("evt_succeeded", "payment_intent.succeeded", "pi_1"), time.Now(), time.Now())
	require.NoError(t, err)
	require.Equal(t, stripe.IgnoredStale, res.Ignored)
	require.Empty(t, res.Credited)
	require.Equal(t, "open/failed credit=0.00", attemptState(t, db))
	require.Equal(t, []string{
		"WARN stripe webhook: the event contradicts the outcome recorded for its payment; asking Stripe for the PaymentIntent's current state recorded=failed event_says=succeeded",
		"INFO stripe webhook: reconciled: Stripe's current state agrees with the recorded outcome; the event was stale and is ignored recorded=failed event_says=succeeded stripe_status=requires_payment_method",
	}, logs.messages(t, "recorded", "event_says", "stripe_status"))

	// Without an API to ask, the contradiction is logged for a person.
	logs2 := &logLines{}
	res, err = handleWith(t, db, &stripe.Webhook{Secret: whsec, Logger: logs2.logger()},
		piEvent("evt_succeeded_2", "payment_intent.succeeded", "pi_1"), time.Now(), time.Now())
	require.NoError(t, err)
	require.Equal(t, stripe.IgnoredNeedsReview, res.Ignored)
	require.Contains(t, logs2.messages(t), "ERROR stripe webhook: cannot ask Stripe (no API configured); acknowledged, a person must check the payment in the Stripe dashboard")
}

// piServer answers GET /v1/payment_intents/{id} with the given statuses.
func piServer(t *testing.T, status map[string]string) string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := strings.TrimPrefix(r.URL.Path, "/v1/payment_intents/")
		w.Header().Set("Content-Type", "application/json")
		st, ok := status[id]
		if r.Method != http.MethodGet || !ok {
			w.WriteHeader(http.StatusNotFound)
			fmt.Fprint(w, `{"error":{"type":"invalid_request_error","code":"resource_missing","message":"No such payment_intent"}}`)
			return
		}
		fmt.Fprintf(w, `{"id":%q,"object":"payment_intent","status":%q,"amount":4804,"amount_received":4804,"currency":"eur"}`, id, st)
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

// When Stripe says the PaymentIntent of an attempt recorded as failed did
// succeed, the money it took becomes the account's prepaid credit (the
// attempt itself is final), once, and the caller is told to collect the
// account's open invoices with it.
func TestWebhookCreditsAPaymentStripeTookAfterAFailure(t *testing.T) {
	t.Parallel()
	db := webhookDB(t)
	logs := &logLines{}
	api := stripe.New(db.Pool, stripe.Config{SecretKey: "sk_test_123", URL: piServer(t, map[string]string{"pi_1": "succeeded"}), MaxNetworkRetries: 1})
	wh := &stripe.Webhook{Secret: whsec, API: api, Logger: logs.logger()}

	_, err := handleWith(t, db, wh, piEvent("evt_failed", "payment_intent.payment_failed", "pi_1"), time.Now(), time.Now())
	require.NoError(t, err)
	res, err := handleWith(t, db, wh, piEvent("evt_succeeded", "payment_intent.succeeded", "pi_1"), time.Now(), time.Now())
	require.NoError(t, err)
	require.Equal(t, []string{"acc_1"}, res.Credited)
	require.Empty(t, res.Ignored)
	require.Equal(t, "open/failed credit=48.04", attemptState(t, db))
	require.Contains(t, logs.messages(t, "amount"),
		"WARN stripe webhook: reconciled: Stripe took a payment recorded as not taken; its amount is now the account's prepaid credit, which pays its open invoices amount=48.04")

	// Stripe sending the succeeded event again (another id) credits nothing more.
	_, err = handleWith(t, db, wh, piEvent("evt_succeeded_again", "payment_intent.succeeded", "pi_1"), time.Now(), time.Now())
	require.NoError(t, err)
	require.Equal(t, "open/failed credit=48.04", attemptState(t, db))
	var entries int
	require.NoError(t, db.Pool.QueryRow(context.Background(),
		`SELECT count(*) FROM credit_ledger WHERE reference = 'late_payment:INV-2026-000001-attempt-1'`).Scan(&entries))
	require.Equal(t, 1, entries)
}

// A stale payment_failed after a recorded success, confirmed by Stripe,
// changes nothing; one Stripe contradicts is logged as an error for a
// person, never applied over the recorded payment.
func TestWebhookPaymentFailedAfterSucceeded(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ stripeStatus, ignored, log string }{
		{"succeeded", stripe.IgnoredStale, "INFO stripe webhook: reconciled: Stripe's current state agrees with the recorded outcome; the event was stale and is ignored"},
		{"requires_payment_method", stripe.IgnoredNeedsReview, "ERROR stripe webhook: Stripe says a payment recorded as succeeded has not succeeded; acknowledged, a person must check it (refund, dispute)"},
	} {
		t.Run(tc.stripeStatus, func(t *testing.T) {
			t.Parallel()
			db := webhookDB(t)
			logs := &logLines{}
			api := stripe.New(db.Pool, stripe.Config{SecretKey: "sk_test_123", URL: piServer(t, map[string]string{"pi_1": tc.stripeStatus}), MaxNetworkRetries: 1})
			wh := &stripe.Webhook{Secret: whsec, API: api, Logger: logs.logger()}
			_, err := handleWith(t, db, wh, piEvent("evt_succeeded", "payment_intent.succeeded", "pi_1"), time.Now(), time.Now())
			require.NoError(t, err)
			res, err := handleWith(t, db, wh, piEvent("evt_failed", "payment_intent.payment_failed", "pi_1"), time.Now(), time.Now())
			require.NoError(t, err)
			require.Equal(t, tc.ignored, res.Ignored)
			require.Equal(t, "paid/succeeded credit=0.00", attemptState(t, db))
			require.Contains(t, logs.messages(t), tc.log)
		})
	}
}
