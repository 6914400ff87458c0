// Package stripe collects payments through Stripe (stripe-go v76, API
// version 2023-10-16) when STRIPE_SECRET_KEY is set: a Customer per account,
// card charges as off-session PaymentIntents, SEPA direct debits under a
// mandate set up with a SetupIntent, and settlement through signed
// webhooks.
//
// Every PaymentIntent carries the attempt's idempotency key. stripe-go
// retries network failures itself with that same key, which is right within
// an attempt; a dunning retry is a new attempt and sends a new key.
package stripe

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"
	sg "github.com/stripe/stripe-go/v76"
	"github.com/stripe/stripe-go/v76/client"

	"github.com/billingengine/engine/internal/platform/pgdb"
	"github.com/billingengine/engine/payments"
)

// Name is the processor name recorded on attempts.
const Name = "stripe"

// APIVersion is the Stripe API version the engine speaks; webhook endpoints
// must be created with it, or their events are refused.
const APIVersion = sg.APIVersion

// Config connects to Stripe.
type Config struct {
	SecretKey string
	// URL overrides the API's address (stripe-mock in tests).
	URL string
	// HTTPClient overrides the transport.
	HTTPClient *http.Client
	// MaxNetworkRetries is stripe-go's own retry count per request (same
	// idempotency key); default 2.
	MaxNetworkRetries int64
}

// Processor charges through Stripe.
type Processor struct {
	api *client.API
	db  pgdb.DB
}

var _ payments.Processor = (*Processor)(nil)

// New returns a Stripe processor; pool keeps the account → Customer map.
func New(db pgdb.DB, cfg Config) *Processor {
	retries := cfg.MaxNetworkRetries
	if retries == 0 {
		retries = 2
	}
	bc := &sg.BackendConfig{MaxNetworkRetries: sg.Int64(retries), LeveledLogger: &sg.LeveledLogger{Level: sg.LevelNull}}
	if cfg.URL != "" {
		bc.URL = sg.String(cfg.URL)
	}
	if cfg.HTTPClient != nil {
		bc.HTTPClient = cfg.HTTPClient
	}
	return &Processor{api: client.New(cfg.SecretKey, sg.NewBackendsWithConfig(bc)), db: db}
}

func (p *Processor) Name() string { return Name }

// customer returns the account's Stripe Customer, creating it once: the
// creation's idempotency key is the account id, so two workers racing
// create one Customer.
func (p *Processor) customer(ctx context.Context, accountID string) (string, error) {
	var id string
	err := p.db.QueryRow(ctx, `SELECT customer_id FROM processor_customers WHERE account_id = $1 AND processor = $2`, accountID, Name).Scan(&id)
	if err == nil {
		return id, nil
	}
	if !errors.Is(err, pgx.ErrNoRows) {
		return "", err
	}
	var name, email string
	if err := p.db.QueryRow(ctx, `SELECT name, email FROM accounts WHERE id = $1`, accountID).Scan(&name, &email); err != nil {
		return "", err
	}
	params := &sg.CustomerParams{Name: sg.String(name), Email: sg.String(email), Metadata: map[string]string{"account_id": accountID}}
	params.Context = ctx
	params.SetIdempotencyKey("customer-" + accountID)
	c, err := p.api.Customers.New(params)
	if err != nil {
		return "", classify("create customer", err)
	}
	if _, err := p.db.Exec(ctx, `
		INSERT INTO processor_customers (account_id, processor, customer_id) VALUES ($1, $2, $3)
		ON CONFLICT (account_id, processor) DO NOTHING`, accountID, Name, c.ID); err != nil {
		return "", err
	}
	return c.ID, nil
}

// cents turns an amount in euros into Stripe's smallest unit.
func cents(req payments.ChargeRequest) int64 { return req.Amount.Shift(2).IntPart() }

// Charge creates and confirms an off-session PaymentIntent for the attempt.
// Resending an attempt whose outcome is unknown first asks Stripe: the
// customer's PaymentIntents since the attempt began are listed (a
// consistent read, unlike search) and one carrying the attempt's key is the
// answer. Only when there is none is the request sent again, with the same
// key. Stripe keeps the answer it gave to a key for a day, so a 500 may
// come back again; the attempt then stays pending until it clears, rather
// than risk a second charge under a new key.
func (p *Processor) Charge(ctx context.Context, req payments.ChargeRequest) (payments.ChargeResult, error) {
	cust, err := p.customer(ctx, req.AccountID)
	if err != nil {
		return payments.ChargeResult{}, err
	}
	if req.Resend {
		pi, err := p.find(ctx, cust, req)
		if err != nil {
			return payments.ChargeResult{}, err
		}
		if pi != nil {
			return outcomeOf(pi)
		}
	}
	params := &sg.PaymentIntentParams{
		Amount:             sg.Int64(cents(req)),
		Currency:           sg.String(string(sg.CurrencyEUR)),
		Customer:           sg.String(cust),
		PaymentMethod:      sg.String(req.Method.ID),
		PaymentMethodTypes: []*string{sg.String(string(req.Method.Type))},
		Confirm:            sg.Bool(true),
		OffSession:         sg.Bool(true),
		Description:        sg.String("Invoice " + req.InvoiceNumber),
		Metadata: map[string]string{
			"invoice_number": req.InvoiceNumber, "attempt": strconv.Itoa(req.Attempt),
			"idempotency_key": req.IdempotencyKey, "account_id": req.AccountID,
		},
	}
	if req.Method.Type == payments.MethodSEPADebit && req.MandateID != "" {
		params.Mandate = sg.String(req.MandateID)
	}
	params.Context = ctx
	params.SetIdempotencyKey(req.IdempotencyKey)
	pi, err := p.api.PaymentIntents.New(params)
	if err != nil {
		var se *sg.Error
		if errors.As(err, &se) && se.Type == sg.ErrorTypeCard {
			res := payments.ChargeResult{Outcome: payments.OutcomeDeclined, Code: declineCode(se)}
			if se.PaymentIntent != nil {
				res.Reference = se.PaymentIntent.ID
			}
			return res, nil
		}
		if errors.As(err, &se) && se.HTTPStatusCode == http.StatusBadRequest && se.Type == sg.ErrorTypeInvalidRequest {
			// A payment method that doesn't exist or can't be used: no retry of
			// this attempt will change it; dunning tries again later.
			return payments.ChargeResult{Outcome: payments.OutcomeDeclined, Code: string(se.Code)}, nil
		}
		return payments.ChargeResult{}, classify("create payment intent", err)
	}
	return outcomeOf(pi)
}

func declineCode(se *sg.Error) string {
	if se.DeclineCode != "" {
		return string(se.DeclineCode)
	}
	return string(se.Code)
}

// outcomeOf maps a PaymentIntent's status to an attempt's outcome.
func outcomeOf(pi *sg.PaymentIntent) (payments.ChargeResult, error) {
	res := payments.ChargeResult{Reference: pi.ID}
	switch pi.Status {
	case sg.PaymentIntentStatusSucceeded:
		res.Outcome = payments.OutcomeSucceeded
	case sg.PaymentIntentStatusProcessing:
		res.Outcome = payments.OutcomeProcessing
	case sg.PaymentIntentStatusRequiresPaymentMethod, sg.PaymentIntentStatusCanceled:
		res.Outcome, res.Code = payments.OutcomeDeclined, "requires_payment_method"
		if e := pi.LastPaymentError; e != nil {
			res.Code = declineCode(e)
		}
	case sg.PaymentIntentStatusRequiresAction:
		// Off-session charges can't authenticate: the customer must.
		res.Outcome, res.Code = payments.OutcomeDeclined, "authentication_required"
	default:
		return res, &payments.TechnicalError{Op: "payment intent", Reached: true, Err: fmt.Errorf("unexpected status %q", pi.Status)}
	}
	return res, nil
}

// classify turns a Stripe error into a technical one: an answer that says
// nothing of the payment. Rate limits and authentication errors provably
// did nothing; 5xx, 409 (the same key in flight) and network errors may
// have.
func classify(op string, err error) error {
	var se *sg.Error
	if errors.As(err, &se) {
		reached := se.HTTPStatusCode >= 500 || se.HTTPStatusCode == http.StatusConflict || se.HTTPStatusCode == 0
		return &payments.TechnicalError{Op: op, Reached: reached, Err: err}
	}
	return &payments.TechnicalError{Op: op, Reached: true, Err: err}
}

// SetUp attaches a payment method to the account's Customer for off-session
// use with a confirmed SetupIntent; for SEPA debits this creates the
// mandate (accepted offline, by the contract the customer signed), whose id
// it returns.
func (p *Processor) SetUp(ctx context.Context, accountID string, m payments.Method) (mandateID string, err error) {
	cust, err := p.customer(ctx, accountID)
	if err != nil {
		return "", err
	}
	params := &sg.SetupIntentParams{
		Customer:           sg.String(cust),
		PaymentMethod:      sg.String(m.ID),
		PaymentMethodTypes: []*string{sg.String(string(m.Type))},
		Confirm:            sg.Bool(true),
		Usage:              sg.String(string(sg.SetupIntentUsageOffSession)),
		Metadata:           map[string]string{"account_id": accountID},
	}
	if m.Type == payments.MethodSEPADebit {
		params.MandateData = &sg.SetupIntentMandateDataParams{CustomerAcceptance: &sg.SetupIntentMandateDataCustomerAcceptanceParams{
			Type: sg.MandateCustomerAcceptanceTypeOffline, Offline: &sg.SetupIntentMandateDataCustomerAcceptanceOfflineParams{},
		}}
	}
	params.Context = ctx
	params.SetIdempotencyKey(fmt.Sprintf("setup-%s-%s", accountID, m.ID))
	si, err := p.api.SetupIntents.New(params)
	if err != nil {
		return "", classify("create setup intent", err)
	}
	if si.Mandate != nil {
		return si.Mandate.ID, nil
	}
	return "", nil
}

// PaymentIntent reads a PaymentIntent as Stripe has it now (webhook
// reconciliation).
func (p *Processor) PaymentIntent(ctx context.Context, id string) (*sg.PaymentIntent, error) {
	params := &sg.PaymentIntentParams{}
	params.Context = ctx
	pi, err := p.api.PaymentIntents.Get(id, params)
	if err != nil {
		return nil, classify("get payment intent", err)
	}
	return pi, nil
}

// find looks for the attempt's PaymentIntent among the customer's recent ones.
func (p *Processor) find(ctx context.Context, customer string, req payments.ChargeRequest) (*sg.PaymentIntent, error) {
	params := &sg.PaymentIntentListParams{
		Customer:     sg.String(customer),
		CreatedRange: &sg.RangeQueryParams{GreaterThanOrEqual: req.AttemptedAt.Add(-10 * time.Minute).Unix()},
	}
	params.Context = ctx
	it := p.api.PaymentIntents.List(params)
	for it.Next() {
		if pi := it.PaymentIntent(); pi.Metadata["idempotency_key"] == req.IdempotencyKey {
			return pi, nil
		}
	}
	if err := it.Err(); err != nil {
		return nil, classify("list payment intents", err)
	}
	return nil, nil
}

// NewSetupIntent starts a SetupIntent for a card the customer enters in
// Stripe.js (SPEC §14) and returns its client secret; Stripe's
// setup_intent.succeeded webhook then makes the card the account's method.
func (p *Processor) NewSetupIntent(ctx context.Context, accountID string) (clientSecret string, err error) {
	cust, err := p.customer(ctx, accountID)
	if err != nil {
		return "", err
	}
	params := &sg.SetupIntentParams{
		Customer:           sg.String(cust),
		PaymentMethodTypes: []*string{sg.String(string(payments.MethodCard))},
		Usage:              sg.String(string(sg.SetupIntentUsageOffSession)),
		Metadata:           map[string]string{"account_id": accountID},
	}
	params.Context = ctx
	si, err := p.api.SetupIntents.New(params)
	if err != nil {
		return "", classify("create setup intent", err)
	}
	return si.ClientSecret, nil
}

// SEPASetup is a SEPA debit to set up at Stripe with a mandate the debtor
// accepted online (SPEC §14).
type SEPASetup struct {
	AccountID, IBAN, HolderName, Email string
	// IP and UserAgent are the acceptance's, as Stripe's online mandates
	// record them; Reference is the engine's mandate reference, which keys
	// both calls: a retried request creates nothing twice.
	IP, UserAgent, Reference string
}

// SetUpSEPA creates the SEPA debit payment method and confirms a SetupIntent
// for it with the mandate accepted online, returning the method and
// Stripe's mandate ids.
func (p *Processor) SetUpSEPA(ctx context.Context, s SEPASetup) (methodID, mandateID string, err error) {
	cust, err := p.customer(ctx, s.AccountID)
	if err != nil {
		return "", "", err
	}
	pmParams := &sg.PaymentMethodParams{
		Type:           sg.String(string(sg.PaymentMethodTypeSEPADebit)),
		SEPADebit:      &sg.PaymentMethodSEPADebitParams{IBAN: sg.String(s.IBAN)},
		BillingDetails: &sg.PaymentMethodBillingDetailsParams{Name: sg.String(s.HolderName)},
	}
	if s.Email != "" {
		pmParams.BillingDetails.Email = sg.String(s.Email)
	}
	pmParams.Context = ctx
	pmParams.SetIdempotencyKey("sepa-pm-" + s.Reference)
	pm, err := p.api.PaymentMethods.New(pmParams)
	if err != nil {
		return "", "", classify("create payment method", err)
	}
	params := &sg.SetupIntentParams{
		Customer:           sg.String(cust),
		PaymentMethod:      sg.String(pm.ID),
		PaymentMethodTypes: []*string{sg.String(string(payments.MethodSEPADebit))},
		Confirm:            sg.Bool(true),
		Usage:              sg.String(string(sg.SetupIntentUsageOffSession)),
		Metadata:           map[string]string{"account_id": s.AccountID, "mandate_reference": s.Reference},
		MandateData: &sg.SetupIntentMandateDataParams{CustomerAcceptance: &sg.SetupIntentMandateDataCustomerAcceptanceParams{
			Type: sg.MandateCustomerAcceptanceTypeOnline,
			Online: &sg.SetupIntentMandateDataCustomerAcceptanceOnlineParams{
				IPAddress: sg.String(s.IP), UserAgent: sg.String(s.UserAgent)},
		}},
	}
	params.Context = ctx
	params.SetIdempotencyKey("sepa-setup-" + s.Reference)
	si, err := p.api.SetupIntents.New(params)
	if err != nil {
		return "", "", classify("create setup intent", err)
	}
	if si.Mandate != nil {
		mandateID = si.Mandate.ID
	}
	return pm.ID, mandateID, nil
}
