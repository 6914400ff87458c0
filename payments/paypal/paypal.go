// Package paypal sells prepaid credit through PayPal's Orders v2 API
// (plutov/paypal v4): create an order, the buyer approves it, capture it.
// A capture credits the ledger once per capture id, whether it arrives by
// the buyer's return to the engine or by the PAYMENT.CAPTURE.COMPLETED
// webhook, in either order and however many times.
//
// Without PAYPAL_CLIENT_ID and PAYPAL_SECRET the Sandbox purchaser stands in:
// its orders are approved and captured at once.
package paypal

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"sync"

	pp "github.com/plutov/paypal/v4"
	"github.com/shopspring/decimal"

	"github.com/billingengine/engine/billing"
)

// Order is a PayPal order for credit.
type Order struct {
	ID         string
	Status     string // CREATED, APPROVED, COMPLETED…
	ApproveURL string
}

// Capture is the money an order captured.
type Capture struct {
	OrderID string
	ID      string
	Status  string // COMPLETED, PENDING, DECLINED…
	Amount  decimal.Decimal
}

// Purchaser talks to PayPal.
type Purchaser interface {
	Name() string
	// CreateOrder creates an order for amount EUR of credit for the
	// account; requestID makes a repeated creation return the same order.
	CreateOrder(ctx context.Context, accountID string, amount decimal.Decimal, requestID string) (Order, error)
	// Capture captures an approved order (idempotent per order).
	Capture(ctx context.Context, orderID string) (Capture, error)
	// VerifyWebhook checks a webhook's signature with PayPal.
	VerifyWebhook(ctx context.Context, r *http.Request) error
}

// Config connects to PayPal.
type Config struct {
	ClientID, Secret string
	// APIBase is https://api-m.paypal.com, or the sandbox's.
	APIBase string
	// ReturnURL and CancelURL are where the buyer goes after approving.
	ReturnURL, CancelURL string
	// WebhookID identifies the webhook whose signatures are verified.
	WebhookID  string
	HTTPClient *http.Client
}

// Client is the real PayPal. plutov/paypal's client is not safe for
// concurrent captures (it flips a shared header flag), so every call holds
// a mutex: credit purchases are rare, serialising them costs nothing.
type Client struct {
	mu  sync.Mutex
	c   *pp.Client
	cfg Config
}

var _ Purchaser = (*Client)(nil)

// NewClient returns a PayPal client.
func NewClient(cfg Config) (*Client, error) {
	c, err := pp.NewClient(cfg.ClientID, cfg.Secret, cfg.APIBase)
	if err != nil {
		return nil, err
	}
	if cfg.HTTPClient != nil {
		c.SetHTTPClient(cfg.HTTPClient)
	}
	return &Client{c: c, cfg: cfg}, nil
}

func (c *Client) Name() string { return "paypal" }

func (c *Client) CreateOrder(ctx context.Context, accountID string, amount decimal.Decimal, requestID string) (Order, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	o, err := c.c.CreateOrderWithPaypalRequestID(ctx, "CAPTURE", []pp.PurchaseUnitRequest{{
		ReferenceID: accountID,
		CustomID:    accountID,
		Description: "Prepaid credit",
		Amount:      &pp.PurchaseUnitAmount{Currency: "EUR", Value: billing.FormatMoney(amount)},
	}}, nil, &pp.ApplicationContext{ReturnURL: c.cfg.ReturnURL, CancelURL: c.cfg.CancelURL, UserAction: pp.UserActionPayNow}, requestID)
	if err != nil {
		return Order{}, fmt.Errorf("paypal: creating order: %w", err)
	}
	out := Order{ID: o.ID, Status: o.Status}
	for _, l := range o.Links {
		if l.Rel == "approve" || l.Rel == "payer-action" {
			out.ApproveURL = l.Href
		}
	}
	return out, nil
}

func (c *Client) Capture(ctx context.Context, orderID string) (Capture, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	res, err := c.c.CaptureOrderWithPaypalRequestId(ctx, orderID, pp.CaptureOrderRequest{}, "capture-"+orderID, nil)
	if err != nil {
		return Capture{}, fmt.Errorf("paypal: capturing order %s: %w", orderID, err)
	}
	for _, pu := range res.PurchaseUnits {
		if pu.Payments == nil {
			continue
		}
		for _, cp := range pu.Payments.Captures {
			if cp.Amount == nil || cp.Amount.Currency != "EUR" {
				return Capture{}, fmt.Errorf("paypal: order %s captured in another currency", orderID)
			}
			amount, err := decimal.NewFromString(cp.Amount.Value)
			if err != nil {
				return Capture{}, fmt.Errorf("paypal: order %s: capture amount %q: %w", orderID, cp.Amount.Value, err)
			}
			return Capture{OrderID: orderID, ID: cp.ID, Status: cp.Status, Amount: amount}, nil
		}
	}
	return Capture{}, fmt.Errorf("paypal: order %s: the capture response holds no capture (status %s)", orderID, res.Status)
}

// ErrBadSignature is returned for a webhook PayPal does not vouch for.
var ErrBadSignature = errors.New("paypal webhook: signature not verified")

func (c *Client) VerifyWebhook(ctx context.Context, r *http.Request) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.cfg.WebhookID == "" {
		return fmt.Errorf("%w: PAYPAL_WEBHOOK_ID is not set", ErrBadSignature)
	}
	res, err := c.c.VerifyWebhookSignature(ctx, r, c.cfg.WebhookID)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrBadSignature, err)
	}
	if res.VerificationStatus != "SUCCESS" {
		return fmt.Errorf("%w: %s", ErrBadSignature, res.VerificationStatus)
	}
	return nil
}

// Sandbox approves and captures orders at once (SPEC §4).
type Sandbox struct{}

var _ Purchaser = Sandbox{}

func (Sandbox) Name() string { return "paypal-sandbox" }

func sandboxID(prefix, s string) string {
	h := sha256.Sum256([]byte(s))
	return prefix + hex.EncodeToString(h[:8])
}

func (Sandbox) CreateOrder(_ context.Context, accountID string, amount decimal.Decimal, requestID string) (Order, error) {
	id := sandboxID("SBX-ORDER-", requestID)
	return Order{ID: id, Status: "APPROVED", ApproveURL: "https://www.sandbox.paypal.com/checkoutnow?token=" + id}, nil
}

// Capture captures the order; the amount is the order's, which the caller
// knows, so the sandbox leaves it zero.
func (Sandbox) Capture(_ context.Context, orderID string) (Capture, error) {
	return Capture{OrderID: orderID, ID: sandboxID("SBX-CAPTURE-", orderID), Status: "COMPLETED"}, nil
}

// VerifyWebhook refuses everything: the sandbox sends no webhooks.
func (Sandbox) VerifyWebhook(context.Context, *http.Request) error {
	return fmt.Errorf("%w: the PayPal sandbox sends no webhooks", ErrBadSignature)
}
