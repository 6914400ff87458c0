package httpapi

import (
	"bytes"
	"errors"
	"fmt"
	"html"
	"io"
	"net/http"

	"github.com/jackc/pgx/v5"

	"github.com/billingengine/engine/billing"
	"github.com/billingengine/engine/jobs"
	"github.com/billingengine/engine/payments/paypal"
	"github.com/billingengine/engine/payments/stripe"
)

func readAll(r *http.Request) ([]byte, error) { return io.ReadAll(r.Body) }

// stripeWebhook applies a Stripe event: 400 for a bad signature (nothing
// changes), 200 for a replay (ignored) and for an event that changed
// nothing and never will (an unknown payment, a stale event: logged), 500
// when applying it failed (Stripe sends it again).
func (s *Server) stripeWebhook(w http.ResponseWriter, r *http.Request) {
	body, ok := readBody(w, r)
	if !ok {
		return
	}
	if s.cfg.StripeWebhookSecret == "" {
		writeError(w, http.StatusBadRequest, "not_configured", "STRIPE_WEBHOOK_SECRET is not set")
		return
	}
	ctx := r.Context()
	var res *stripe.WebhookResult
	err := pgx.BeginFunc(ctx, s.cfg.Pool, func(tx pgx.Tx) error {
		var err error
		wh := &stripe.Webhook{Secret: s.cfg.StripeWebhookSecret, API: s.cfg.StripeAPI, Logger: s.cfg.Logger}
		res, err = wh.Handle(ctx, tx, body, r.Header.Get("Stripe-Signature"), s.cfg.Now())
		if err != nil {
			return err
		}
		// A new payment method, or credit from a payment reconciled with
		// Stripe: its timeline event, and collecting the account's open
		// invoices (SPEC §5), as from every other entry point. Applied
		// before the outcome's follow-up, so the timeline keeps the order
		// the event's changes were made in.
		if _, err := jobs.Enqueue(ctx, tx, s.cfg.Jobs, res.Effects); err != nil {
			return err
		}
		return jobs.AfterOutcome(ctx, tx, s.cfg.Jobs, res.Settled, s.cfg.Now())
	})
	if errors.Is(err, stripe.ErrBadSignature) {
		writeError(w, http.StatusBadRequest, "bad_signature", plainMessage(err))
		return
	}
	if errors.Is(err, stripe.ErrBadEvent) {
		writeError(w, http.StatusBadRequest, "bad_event", plainMessage(err))
		return
	}
	if err != nil {
		s.internalError(w, r, err)
		return
	}
	out := map[string]any{"received": true, "event": res.EventID, "replayed": res.Replayed}
	if res.Ignored != "" {
		out["ignored"] = res.Ignored
	}
	writeJSON(w, http.StatusOK, out)
}

// paypalWebhook verifies the event with PayPal, then applies it.
func (s *Server) paypalWebhook(w http.ResponseWriter, r *http.Request) {
	if s.cfg.PayPal == nil {
		writeError(w, http.StatusNotFound, "not_found", paypal.ErrPurchasesOff.Error())
		return
	}
	body, ok := readBody(w, r)
	if !ok {
		return
	}
	ctx := r.Context()
	r.Body = io.NopCloser(bytes.NewReader(body))
	if err := s.cfg.PayPal.VerifyWebhook(ctx, r); err != nil {
		writeError(w, http.StatusBadRequest, "bad_signature", plainMessage(err))
		return
	}
	var replayed bool
	err := pgx.BeginFunc(ctx, s.cfg.Pool, func(tx pgx.Tx) error {
		c, rep, err := paypal.HandleWebhook(ctx, tx, body, s.cfg.Now())
		if err != nil {
			return err
		}
		replayed = rep
		if c != nil {
			_, err = jobs.Enqueue(ctx, tx, s.cfg.Jobs, c.Effects)
		}
		return err
	})
	if errors.Is(err, paypal.ErrBadEvent) || errors.Is(err, paypal.ErrUnknownOrder) {
		writeError(w, http.StatusBadRequest, "bad_event", plainMessage(err))
		return
	}
	if err != nil {
		s.internalError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"received": true, "replayed": replayed})
}

// paypalReturn is where the buyer lands after approving an order: capture
// it and credit the account (once, even if the webhook got there first).
func (s *Server) paypalReturn(w http.ResponseWriter, r *http.Request) {
	if s.cfg.PayPal == nil {
		writeError(w, http.StatusNotFound, "not_found", paypal.ErrPurchasesOff.Error())
		return
	}
	orderID := r.URL.Query().Get("token")
	if orderID == "" {
		writeError(w, http.StatusBadRequest, "bad_request", "missing token (the PayPal order id)")
		return
	}
	ctx := r.Context()
	c, err := paypal.CaptureOrder(ctx, s.cfg.PayPal, orderID)
	if err != nil {
		s.internalError(w, r, err)
		return
	}
	var captured *paypal.Captured
	err = pgx.BeginFunc(ctx, s.cfg.Pool, func(tx pgx.Tx) error {
		var err error
		captured, err = paypal.RecordCapture(ctx, tx, c, s.cfg.Now())
		if err != nil {
			return err
		}
		_, err = jobs.Enqueue(ctx, tx, s.cfg.Jobs, captured.Effects)
		return err
	})
	if errors.Is(err, paypal.ErrUnknownOrder) {
		writeError(w, http.StatusNotFound, "not_found", err.Error())
		return
	}
	if err != nil {
		s.internalError(w, r, err)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	fmt.Fprintf(w, "<!doctype html><title>Credit added</title><p>Thank you: %s EUR of prepaid credit (PayPal %s, %s).</p>",
		html.EscapeString(billing.FormatMoney(captured.Amount)), html.EscapeString(c.ID), html.EscapeString(c.Status))
}
