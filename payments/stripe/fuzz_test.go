package stripe_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stripe/stripe-go/v76/webhook"

	"github.com/billingengine/engine/internal/dbtest"
	"github.com/billingengine/engine/payments/stripe"
)

// FuzzHandleWebhook feeds the webhook handler arbitrary payloads, signed or
// not, each in a transaction rolled back afterwards. Whatever the payload:
// no panic; unsigned input is always refused; an error is one the HTTP
// layer answers 400 for (a bad signature or event), never a database error
// (a payment the engine does not know is acknowledged, not retried
// forever); and an accepted event id is ignored the second time.
func FuzzHandleWebhook(f *testing.F) {
	db := dbtest.New(f)
	const secret = "whsec_fuzz"
	v := `"api_version":"` + stripe.APIVersion + `"`
	for _, s := range []string{
		`{"id":"evt_1","object":"event","type":"payment_intent.succeeded",` + v + `,"data":{"object":{"id":"pi_1","object":"payment_intent","metadata":{"idempotency_key":"INV-2026-000001-attempt-1"}}}}`,
		`{"id":"evt_2","object":"event","type":"payment_intent.payment_failed",` + v + `,"data":{"object":{"id":"pi_2","object":"payment_intent","last_payment_error":{"decline_code":"insufficient_funds"}}}}`,
		`{"id":"evt_3","object":"event","type":"setup_intent.succeeded",` + v + `,"data":{"object":{"id":"seti_1","object":"setup_intent","payment_method":"pm_1","payment_method_types":["sepa_debit"],"metadata":{"account_id":"acc_x"},"mandate":"mandate_1"}}}`,
		`{"id":"evt_4","object":"event","type":"charge.refunded",` + v + `,"data":{"object":{}}}`,
		`{"id":"evt_\u0000","object":"event","type":"payment_intent.succeeded",` + v + `,"data":{"object":"not an object"}}`,
		`{"id":"evt_5","object":"event","type":"payment_intent.succeeded","api_version":"2020-08-27","data":{"object":{}}}`,
		`not json`,
	} {
		f.Add([]byte(s), true)
		f.Add([]byte(s), false)
	}
	f.Fuzz(func(t *testing.T, payload []byte, sign bool) {
		ctx := context.Background()
		sig := "t=1,v1=0000"
		if sign {
			sig = webhook.GenerateTestSignedPayload(&webhook.UnsignedPayload{Payload: payload, Secret: secret}).Header
		}
		tx, err := db.Pool.Begin(ctx)
		if err != nil {
			t.Fatal(err)
		}
		defer tx.Rollback(ctx) //nolint:errcheck // the point
		res, err := stripe.HandleWebhook(ctx, tx, payload, sig, secret, time.Now())
		switch {
		case err == nil:
			if !sign {
				t.Fatal("an unsigned payload was accepted")
			}
			again, err := stripe.HandleWebhook(ctx, tx, payload, sig, secret, time.Now())
			if err != nil || !again.Replayed {
				t.Fatalf("event %q handled twice: %+v, %v", res.EventID, again, err)
			}
		case errors.Is(err, stripe.ErrBadSignature), errors.Is(err, stripe.ErrBadEvent):
		default:
			t.Fatalf("a bad payload must be refused as such, not fail as %v", err)
		}
	})
}
