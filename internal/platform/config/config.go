// Package config reads the engine's settings from the environment (SPEC §7),
// once, into a typed value that the rest of the program receives. Nothing
// else reads os.Getenv, so every setting is listed here with its default.
package config

import (
	"errors"
	"fmt"
	"net/mail"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/shopspring/decimal"

	"github.com/billingengine/engine/billing"
)

// Config is every setting of the engine.
type Config struct {
	// DatabaseURL is the Postgres connection string (DATABASE_URL).
	DatabaseURL string
	// Location is the billing time zone (BILLING_TIMEZONE, default UTC):
	// periods start at midnight on the 1st there.
	Location *time.Location
	// SellerCountry is the seller's ISO country (SELLER_COUNTRY, default FR).
	SellerCountry string
	// VATRates is the table of standard rates, with BILLING_VAT_RATES
	// overrides ("FR=20,DE=19").
	VATRates billing.VATRates
	// Schedule is the monthly run's cron spec in the billing time zone
	// (BILLING_SCHEDULE, default "30 0 1 * *"; "off" disables it).
	Schedule string
	// ShardSize is the number of accounts drafted per job (BILLING_SHARD_SIZE,
	// default 500); FinalizeChunk the number of invoices finalized per
	// transaction (BILLING_FINALIZE_CHUNK, default 1000).
	ShardSize     int
	FinalizeChunk int
	// JobTimeout bounds one job execution (BILLING_JOB_TIMEOUT, default 30s);
	// RescueAfter is when a job left running by a killed process is retried
	// (BILLING_RESCUE_AFTER, default 45s; it must exceed JobTimeout).
	JobTimeout  time.Duration
	RescueAfter time.Duration
	// RetryMax caps the wait before any failed job is retried
	// (BILLING_RETRY_MAX, default 10m).
	RetryMax time.Duration

	// Stripe, when StripeSecretKey is set (STRIPE_SECRET_KEY,
	// STRIPE_WEBHOOK_SECRET; STRIPE_API_URL points at another server, such
	// as stripe-mock).
	StripeSecretKey     string
	StripeWebhookSecret string
	StripeAPIURL        string
	// StripePublishableKey (BILLING_STRIPE_PUBLISHABLE_KEY, pk_…) is what
	// the billing pages give Stripe.js, in which customers enter a card:
	// required with Stripe wherever the pages are served
	// (RequireStripePublishableKey). Public, unlike the secret key.
	StripePublishableKey string
	// PayPal, when both are set (PAYPAL_CLIENT_ID, PAYPAL_SECRET;
	// PAYPAL_API_URL defaults to the sandbox, PAYPAL_WEBHOOK_ID verifies
	// webhooks, PAYPAL_RETURN_URL is where buyers come back after approving).
	PayPalClientID  string
	PayPalSecret    string
	PayPalAPIURL    string
	PayPalWebhookID string
	PayPalReturnURL string
	// DunningSchedule is the daily dunning pass's cron spec
	// (BILLING_DUNNING_SCHEDULE, default "0 6 * * *"; "off" disables it).
	DunningSchedule string
	// SuspensionWebhookURL receives signed account.suspended and
	// account.reactivated events (SUSPENSION_WEBHOOK_URL,
	// SUSPENSION_WEBHOOK_SECRET).
	SuspensionWebhookURL    string
	SuspensionWebhookSecret string
	// EventsRetention is how long events are kept (BILLING_EVENTS_RETENTION,
	// default 2160h: 90 days); WebhookSweep how often due webhook
	// deliveries get a job (BILLING_WEBHOOK_SWEEP, default 5s).
	EventsRetention time.Duration
	WebhookSweep    time.Duration
	// Processor is how invoices are charged (BILLING_PROCESSOR: stripe or
	// sandbox; unset, stripe when STRIPE_SECRET_KEY is set). ProcessorUnset
	// means neither: every command that would charge refuses to start.
	Processor ProcessorMode
	// PayPal is how prepaid credit is bought (BILLING_PAYPAL: paypal,
	// sandbox or off; unset, paypal when PAYPAL_CLIENT_ID and PAYPAL_SECRET
	// are set).
	PayPal PayPalMode
	// CreditPurchaseMax bounds one credit purchase
	// (BILLING_CREDIT_PURCHASE_MAX, default 10000.00); the least is 5.00.
	CreditPurchaseMax decimal.Decimal
	// PortalURL is the base of the customer's billing pages' links
	// (BILLING_PORTAL_URL; default http://localhost:8080 in sandbox mode,
	// none otherwise): one-time links are PortalURL +
	// /portal/login?token=…, and unpaid invoices print PortalURL +
	// /portal/ as the way to pay online. ReferralURL is the referral
	// link, {code} replaced by the account's code (BILLING_REFERRAL_URL,
	// default https://example.com/signup?ref={code}).
	PortalURL   string
	ReferralURL string
	// Seller identity printed on documents (SPEC §6): BILLING_SELLER_NAME,
	// _LEGAL (the legal form, "SAS"), _CAPITAL (the share capital in euros,
	// "10000.00"), _RCS (the city of the trade register, "Paris"), _ADDRESS
	// (lines separated by "\n" or "|"), _VAT_NUMBER, _SIREN, _IBAN, _BIC,
	// _EMAIL, and BILLING_SEPA_CREDITOR_ID (SPEC §12). Required outside
	// sandbox mode, and checked (SIREN Luhn, VAT number syntax and key, IBAN
	// and creditor id mod 97, BIC syntax); in sandbox mode, with none set, a
	// demo seller that says TEST MODE (SellerDemo).
	SellerName, SellerLegal, SellerAddress, SellerVATNumber, SellerEmail string
	SellerSIREN, SellerIBAN, SellerBIC, SellerRCS, SEPACreditorID        string
	SellerCapital                                                        decimal.Decimal
	SellerDemo                                                           bool
	// sellerMissing names the seller variables left unset, sellerInvalid
	// says what is wrong with those set.
	sellerMissing, sellerInvalid []string
	// VIES is whether the accounts import asks a register about EU VAT
	// numbers (BILLING_VIES: off, vies or sandbox; default off).
	VIES VIESMode
	// PDFFallbackFont is a .ttf for scripts the embedded fonts lack
	// (BILLING_PDF_FALLBACK_FONT; default: Debian's DroidSansFallbackFull.ttf
	// when installed; "none" disables it).
	PDFFallbackFont string
	// SandboxSEPADelay is when the sandbox settles a SEPA debit
	// (SANDBOX_SEPA_DELAY, default 0s); SandboxFaults injects processor
	// faults for tests (SANDBOX_FAULTS, e.g. "before=0.1,after=0.1").
	SandboxSEPADelay time.Duration
	SandboxFaults    string
	// SMTP is where customer emails go (BILLING_SMTP_URL: smtp://user:pass@host:port,
	// STARTTLS when offered; file://DIR writes .eml files; unset, emails
	// are recorded unsent). A malformed URL is kept in smtpErr: the worker
	// refuses to start (RequireMail), other commands don't need it.
	SMTP    SMTP
	smtpErr error
	// MailFrom is the emails' From (BILLING_MAIL_FROM, default the
	// seller's BILLING_SELLER_EMAIL, else billing@localhost).
	MailFrom string
	// SEPADebitDelay is how long after the invoice, its pre-notification,
	// a SEPA debit is collected (BILLING_SEPA_DEBIT_DELAY: a number of
	// days, default 0: at issue).
	SEPADebitDelay time.Duration
}

// SMTPKind is how emails leave.
type SMTPKind string

const (
	SMTPOff  SMTPKind = ""
	SMTPSend SMTPKind = "smtp"
	SMTPFile SMTPKind = "file"
)

// SMTP is BILLING_SMTP_URL read.
type SMTP struct {
	Kind           SMTPKind
	Host           string
	Port           int
	User, Password string
	// Dir is file://DIR's directory.
	Dir string
}

// ParseSMTPURL reads BILLING_SMTP_URL: smtp://[user:pass@]host:port or
// file://DIR ("" is off).
func ParseSMTPURL(raw string) (SMTP, error) {
	const fix = "set BILLING_SMTP_URL to smtp://user:pass@host:587 (user and password optional, escaped as in a URL), or file:///path/to/dir, or unset it"
	if raw == "" {
		return SMTP{}, nil
	}
	u, err := url.Parse(raw)
	if err != nil {
		return SMTP{}, fmt.Errorf("BILLING_SMTP_URL is not a URL: %s", fix)
	}
	switch u.Scheme {
	case "file":
		dir := u.Path
		if u.Host != "" && u.Host != "localhost" {
			dir = u.Host + u.Path // file://out/mail: a relative directory
		}
		if dir == "" {
			return SMTP{}, fmt.Errorf("BILLING_SMTP_URL %q names no directory: %s", raw, fix)
		}
		return SMTP{Kind: SMTPFile, Dir: dir}, nil
	case "smtp":
		host, portStr := u.Hostname(), u.Port()
		port, err := strconv.Atoi(portStr)
		if host == "" || err != nil || port < 1 || port > 65535 {
			return SMTP{}, fmt.Errorf("BILLING_SMTP_URL %q needs a host and a port: %s", redact(u), fix)
		}
		s := SMTP{Kind: SMTPSend, Host: host, Port: port}
		if u.User != nil {
			s.User = u.User.Username()
			s.Password, _ = u.User.Password()
		}
		return s, nil
	}
	return SMTP{}, fmt.Errorf("BILLING_SMTP_URL: scheme %q is not smtp or file: %s", u.Scheme, fix)
}

func redact(u *url.URL) string {
	if u.User == nil {
		return u.String()
	}
	c := *u
	c.User = url.User(u.User.Username())
	return c.String()
}

// RequireMail reports a malformed BILLING_SMTP_URL or BILLING_MAIL_FROM:
// a worker would otherwise record every email as failing.
func (c *Config) RequireMail() error {
	if c.smtpErr != nil {
		return c.smtpErr
	}
	if _, err := mail.ParseAddress(c.MailFrom); err != nil {
		return fmt.Errorf("BILLING_MAIL_FROM %q is not an email address: set it to billing@example.com or \"Billing <billing@example.com>\"", c.MailFrom)
	}
	return nil
}

// ProcessorMode says where charges go.
type ProcessorMode string

const (
	ProcessorUnset   ProcessorMode = ""
	ProcessorStripe  ProcessorMode = "stripe"
	ProcessorSandbox ProcessorMode = "sandbox"
)

// VIESMode says which register the accounts import asks about VAT numbers.
type VIESMode string

const (
	VIESOff     VIESMode = "off"
	VIESLive    VIESMode = "vies"
	VIESSandbox VIESMode = "sandbox"
)

// PayPalMode says where credit purchases go.
type PayPalMode string

const (
	PayPalUnset   PayPalMode = ""
	PayPalLive    PayPalMode = "paypal"
	PayPalSandbox PayPalMode = "sandbox"
	PayPalOff     PayPalMode = "off"
)

// ErrNoProcessor and ErrNoPayPal are the refusals of a command that would
// charge, or sell credit, without knowing where the money goes.
var (
	ErrNoProcessor = errors.New("no payment processor configured: set STRIPE_SECRET_KEY, or BILLING_PROCESSOR=sandbox for tests and demos")
	ErrNoPayPal    = errors.New("no PayPal configured: set PAYPAL_CLIENT_ID and PAYPAL_SECRET, BILLING_PAYPAL=off to sell no credit, or BILLING_PAYPAL=sandbox for tests and demos")
)

// Sandbox reports whether payments go to the sandbox processors: sandbox
// mode (SPEC §4), in which documents say TEST MODE.
func (c *Config) Sandbox() bool { return c.Processor == ProcessorSandbox }

// RequireProcessor is nil when the processor mode is known.
func (c *Config) RequireProcessor() error {
	if c.Processor == ProcessorUnset {
		return ErrNoProcessor
	}
	return nil
}

// RequirePayPal is nil when the PayPal mode is known (off included).
func (c *Config) RequirePayPal() error {
	if c.PayPal == PayPalUnset {
		return ErrNoPayPal
	}
	return nil
}

// RequireSeller is nil when documents can name their seller: every seller
// variable is set, or sandbox mode lends a demo seller.
func (c *Config) RequireSeller() error {
	if c.SellerDemo || (len(c.sellerMissing) == 0 && len(c.sellerInvalid) == 0) {
		return nil
	}
	var parts []string
	if len(c.sellerMissing) > 0 {
		parts = append(parts, "set "+strings.Join(c.sellerMissing, ", "))
	}
	parts = append(parts, c.sellerInvalid...)
	return fmt.Errorf("the seller's identity is not configured (invoices must name it, SPEC §6): %s", strings.Join(parts, "; "))
}

// RequireCharging is what a command that finalizes or charges needs: a
// processor and a seller.
func (c *Config) RequireCharging() error {
	if err := c.RequireProcessor(); err != nil {
		return err
	}
	return c.RequireSeller()
}

// The demo seller of sandbox mode: plainly not a real company, with a
// SIREN and VAT number that pass their checks but belong to nobody we bill.
const (
	demoSellerName    = "Demo Seller SAS (TEST MODE)"
	demoSellerLegal   = "SAS"
	demoSellerCapital = "1000.00"
	demoSellerRCS     = "Paris"
	demoSellerAddress = "1 rue de l'Exemple|75001 Paris|France"
	demoSellerVAT     = "FR12000000000"
	demoSellerSIREN   = "000000000"
	demoSellerIBAN    = "FR7630006000011234567890189"
	demoSellerBIC     = "AGRIFRPPXXX"
	demoSellerEmail   = "billing@seller.invalid"
	demoSEPACreditor  = "FR72ZZZ123456"
)

// FromEnv reads the configuration from the process environment.
func FromEnv() (*Config, error) { return FromLookup(os.LookupEnv) }

// FromLookup reads the configuration through lookup, so that tests can pass
// an environment of their own.
func FromLookup(lookup func(string) (string, bool)) (*Config, error) {
	get := func(k, def string) string {
		if v, ok := lookup(k); ok && v != "" {
			return v
		}
		return def
	}
	c := &Config{
		DatabaseURL:   get("DATABASE_URL", ""),
		SellerCountry: get("SELLER_COUNTRY", "FR"),
	}
	tz := get("BILLING_TIMEZONE", "UTC")
	loc, err := time.LoadLocation(tz)
	if err != nil {
		return nil, fmt.Errorf("BILLING_TIMEZONE: unknown time zone %q", tz)
	}
	c.Location = loc
	if c.VATRates, err = billing.ParseVATRates(get("BILLING_VAT_RATES", "")); err != nil {
		return nil, fmt.Errorf("BILLING_VAT_RATES: %w", err)
	}
	if _, ok := c.VATRates[c.SellerCountry]; !ok {
		return nil, fmt.Errorf("SELLER_COUNTRY: %q is not an EU member with a VAT rate", c.SellerCountry)
	}
	c.Schedule = get("BILLING_SCHEDULE", "30 0 1 * *")
	if c.Schedule == "off" {
		c.Schedule = ""
	}
	ints := []struct {
		name string
		def  string
		dst  *int
	}{
		{"BILLING_SHARD_SIZE", "500", &c.ShardSize},
		{"BILLING_FINALIZE_CHUNK", "1000", &c.FinalizeChunk},
	}
	for _, i := range ints {
		if *i.dst, err = strconv.Atoi(get(i.name, i.def)); err != nil || *i.dst < 1 {
			return nil, fmt.Errorf("%s: want a positive integer", i.name)
		}
	}
	c.StripeSecretKey = get("STRIPE_SECRET_KEY", "")
	c.StripeWebhookSecret = get("STRIPE_WEBHOOK_SECRET", "")
	c.StripeAPIURL = get("STRIPE_API_URL", "")
	c.StripePublishableKey = strings.TrimSpace(get("BILLING_STRIPE_PUBLISHABLE_KEY", ""))
	c.PayPalClientID = get("PAYPAL_CLIENT_ID", "")
	c.PayPalSecret = get("PAYPAL_SECRET", "")
	c.PayPalAPIURL = get("PAYPAL_API_URL", "https://api-m.sandbox.paypal.com")
	c.PayPalWebhookID = get("PAYPAL_WEBHOOK_ID", "")
	c.PayPalReturnURL = get("PAYPAL_RETURN_URL", "http://localhost:8080/paypal/return")
	c.SandboxFaults = get("SANDBOX_FAULTS", "")
	c.DunningSchedule = get("BILLING_DUNNING_SCHEDULE", "0 6 * * *")
	c.ReferralURL = get("BILLING_REFERRAL_URL", "https://example.com/signup?ref={code}")
	if !strings.Contains(c.ReferralURL, "{code}") {
		return nil, fmt.Errorf("BILLING_REFERRAL_URL: %q has no {code} to replace", c.ReferralURL)
	}
	if c.DunningSchedule == "off" {
		c.DunningSchedule = ""
	}
	if err := c.readModes(get); err != nil {
		return nil, err
	}
	c.readSeller(get)
	switch m := VIESMode(get("BILLING_VIES", string(VIESOff))); m {
	case VIESOff, VIESLive, VIESSandbox:
		c.VIES = m
	default:
		return nil, fmt.Errorf("BILLING_VIES: want off, vies or sandbox, got %q", m)
	}
	c.PDFFallbackFont = get("BILLING_PDF_FALLBACK_FONT", "")
	// The portal's address is where customers reach the worker's HTTP
	// server: only sandbox mode may assume it is this machine. Unset
	// elsewhere, documents print the transfer instructions alone and no
	// portal link can be minted (RequirePortal).
	portalDefault := ""
	if c.Sandbox() {
		portalDefault = "http://localhost:8080"
	}
	c.PortalURL = strings.TrimRight(get("BILLING_PORTAL_URL", portalDefault), "/")
	if c.PortalURL != "" {
		if u, err := url.Parse(c.PortalURL); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			return nil, fmt.Errorf("BILLING_PORTAL_URL: want an http(s) URL, got %q", c.PortalURL)
		}
	}
	c.SuspensionWebhookURL = get("SUSPENSION_WEBHOOK_URL", "")
	c.SuspensionWebhookSecret = get("SUSPENSION_WEBHOOK_SECRET", "")
	if c.SuspensionWebhookURL != "" && c.SuspensionWebhookSecret == "" {
		return nil, fmt.Errorf("SUSPENSION_WEBHOOK_SECRET must be set with SUSPENSION_WEBHOOK_URL: receivers verify the signature")
	}
	durations := []struct {
		name string
		def  string
		dst  *time.Duration
	}{
		{"BILLING_JOB_TIMEOUT", "30s", &c.JobTimeout},
		{"BILLING_RESCUE_AFTER", "45s", &c.RescueAfter},
		{"BILLING_RETRY_MAX", "10m", &c.RetryMax},
		{"SANDBOX_SEPA_DELAY", "0s", &c.SandboxSEPADelay},
		{"BILLING_EVENTS_RETENTION", "2160h", &c.EventsRetention},
		{"BILLING_WEBHOOK_SWEEP", "5s", &c.WebhookSweep},
	}
	for _, d := range durations {
		v, err := time.ParseDuration(get(d.name, d.def))
		if err != nil || v < 0 || (v == 0 && d.name != "SANDBOX_SEPA_DELAY") {
			return nil, fmt.Errorf("%s: want a duration such as 30s", d.name)
		}
		*d.dst = v
	}
	c.SMTP, c.smtpErr = ParseSMTPURL(get("BILLING_SMTP_URL", ""))
	mailDefault := "billing@localhost"
	if c.SellerEmail != "" {
		mailDefault = c.SellerEmail
	}
	c.MailFrom = get("BILLING_MAIL_FROM", mailDefault)
	days, err := strconv.Atoi(get("BILLING_SEPA_DEBIT_DELAY", "0"))
	if err != nil || days < 0 || days > 60 {
		return nil, fmt.Errorf("BILLING_SEPA_DEBIT_DELAY: want a number of days from 0 to 60")
	}
	c.SEPADebitDelay = time.Duration(days) * 24 * time.Hour
	if c.RescueAfter <= c.JobTimeout {
		return nil, fmt.Errorf("BILLING_RESCUE_AFTER (%s) must exceed BILLING_JOB_TIMEOUT (%s)", c.RescueAfter, c.JobTimeout)
	}
	return c, nil
}

// readModes reads the processor and PayPal modes and the purchase bound.
// Each mode is explicit or follows from its credentials; a mode whose
// credentials are missing, and a sandbox beside a live processor, are
// refused: either would take money, or pretend to, in the wrong place.
func (c *Config) readModes(get func(k, def string) string) error {
	switch m := ProcessorMode(get("BILLING_PROCESSOR", "")); m {
	case ProcessorStripe:
		if c.StripeSecretKey == "" {
			return errors.New("BILLING_PROCESSOR=stripe needs STRIPE_SECRET_KEY")
		}
		c.Processor = m
	case ProcessorSandbox:
		if liveStripeKey(c.StripeSecretKey) {
			return errors.New("BILLING_PROCESSOR=sandbox while STRIPE_SECRET_KEY is a live key: unset one of them")
		}
		c.Processor = m
	case ProcessorUnset:
		if c.StripeSecretKey != "" {
			c.Processor = ProcessorStripe
		}
	default:
		return fmt.Errorf("BILLING_PROCESSOR: want stripe or sandbox, got %q", m)
	}
	switch m := PayPalMode(get("BILLING_PAYPAL", "")); m {
	case PayPalLive:
		if c.PayPalClientID == "" || c.PayPalSecret == "" {
			return errors.New("BILLING_PAYPAL=paypal needs PAYPAL_CLIENT_ID and PAYPAL_SECRET")
		}
		c.PayPal = m
	case PayPalSandbox:
		if c.Processor == ProcessorStripe && liveStripeKey(c.StripeSecretKey) {
			// Credit bought for nothing would pay real invoices.
			return errors.New("BILLING_PAYPAL=sandbox with a live Stripe key: sandbox credit would pay real invoices; configure PayPal (PAYPAL_CLIENT_ID, PAYPAL_SECRET) or BILLING_PAYPAL=off")
		}
		c.PayPal = m
	case PayPalOff:
		c.PayPal = m
	case PayPalUnset:
		if c.PayPalClientID != "" && c.PayPalSecret != "" {
			c.PayPal = PayPalLive
		}
	default:
		return fmt.Errorf("BILLING_PAYPAL: want paypal, sandbox or off, got %q", m)
	}
	if k := c.StripePublishableKey; k != "" {
		// A secret key pasted here would be printed into every card page,
		// and a test key beside a live one (or the reverse) makes Stripe.js
		// set cards up in the other mode, where no charge can use them.
		live := strings.HasPrefix(k, "pk_live_")
		if !live && !strings.HasPrefix(k, "pk_test_") {
			return errors.New("BILLING_STRIPE_PUBLISHABLE_KEY: want Stripe's publishable key, pk_live_… or pk_test_… (never the secret key)")
		}
		if c.StripeSecretKey != "" && live != liveStripeKey(c.StripeSecretKey) {
			return errors.New("BILLING_STRIPE_PUBLISHABLE_KEY and STRIPE_SECRET_KEY are of different modes (live and test): give both keys of the same mode")
		}
	}
	raw := get("BILLING_CREDIT_PURCHASE_MAX", "10000.00")
	limit, err := billing.ParseAmount(raw)
	if err != nil || limit.LessThan(billing.MinCreditPurchase) {
		return fmt.Errorf("BILLING_CREDIT_PURCHASE_MAX: want an amount of at least %s such as 10000.00, got %q", billing.FormatMoney(billing.MinCreditPurchase), raw)
	}
	c.CreditPurchaseMax = limit
	return nil
}

// liveStripeKey reports whether key moves real money: Stripe's test-mode
// keys say so in their prefix.
func liveStripeKey(key string) bool {
	return key != "" && !strings.HasPrefix(key, "sk_test_") && !strings.HasPrefix(key, "rk_test_")
}

// readSeller reads the seller's identity; sandbox mode, with none of it
// set, lends the demo seller. A partly configured seller is never topped up
// with demo values: every missing variable is named instead, and every one
// whose value fails its check.
func (c *Config) readSeller(get func(k, def string) string) {
	var capital string
	vars := []struct {
		name string
		dst  *string
		demo string
	}{
		{"BILLING_SELLER_NAME", &c.SellerName, demoSellerName},
		{"BILLING_SELLER_LEGAL", &c.SellerLegal, demoSellerLegal},
		{"BILLING_SELLER_CAPITAL", &capital, demoSellerCapital},
		{"BILLING_SELLER_RCS", &c.SellerRCS, demoSellerRCS},
		{"BILLING_SELLER_ADDRESS", &c.SellerAddress, demoSellerAddress},
		{"BILLING_SELLER_VAT_NUMBER", &c.SellerVATNumber, demoSellerVAT},
		{"BILLING_SELLER_SIREN", &c.SellerSIREN, demoSellerSIREN},
		{"BILLING_SELLER_IBAN", &c.SellerIBAN, demoSellerIBAN},
		{"BILLING_SELLER_BIC", &c.SellerBIC, demoSellerBIC},
		{"BILLING_SELLER_EMAIL", &c.SellerEmail, demoSellerEmail},
		{"BILLING_SEPA_CREDITOR_ID", &c.SEPACreditorID, demoSEPACreditor},
	}
	for _, v := range vars {
		*v.dst = strings.TrimSpace(get(v.name, ""))
		if *v.dst == "" {
			c.sellerMissing = append(c.sellerMissing, v.name)
		}
	}
	if c.Sandbox() && len(c.sellerMissing) == len(vars) {
		for _, v := range vars {
			*v.dst = v.demo
		}
		c.SellerDemo, c.sellerMissing = true, nil
	}
	c.SellerAddress = strings.ReplaceAll(c.SellerAddress, "|", "\n")
	// IBANs are often written in groups of four.
	c.SellerIBAN = strings.ToUpper(strings.ReplaceAll(c.SellerIBAN, " ", ""))
	c.checkSeller(capital)
}

// checkSeller records what is wrong with each seller variable that is set.
func (c *Config) checkSeller(capital string) {
	bad := func(name, format string, args ...any) {
		c.sellerInvalid = append(c.sellerInvalid, name+": "+fmt.Sprintf(format, args...))
	}
	if capital != "" {
		d, err := billing.ParseAmount(capital)
		if err != nil {
			bad("BILLING_SELLER_CAPITAL", "want the share capital in euros such as 10000.00, got %q", capital)
		}
		c.SellerCapital = d
	}
	if s := c.SellerSIREN; s != "" && !billing.ValidSIREN(s) {
		bad("BILLING_SELLER_SIREN", "%q is not a SIREN: 9 digits whose last is the Luhn check digit", s)
	}
	if v := c.SellerVATNumber; v != "" {
		siren := c.SellerSIREN
		if !billing.ValidSIREN(siren) {
			siren = ""
		}
		if err := billing.CheckVATNumber(c.SellerCountry, v, siren); err != nil {
			bad("BILLING_SELLER_VAT_NUMBER", "%v (SELLER_COUNTRY is %s)", err, c.SellerCountry)
		}
	}
	if s := c.SellerIBAN; s != "" && !billing.ValidIBAN(s) {
		bad("BILLING_SELLER_IBAN", "%q is not an IBAN (country, check digits and account number, mod-97 check)", s)
	}
	if s := c.SellerBIC; s != "" && !billing.ValidBIC(s) {
		bad("BILLING_SELLER_BIC", "%q is not a BIC: 8 or 11 letters and digits such as AGRIFRPPXXX", s)
	}
	if s := c.SEPACreditorID; s != "" && !billing.ValidSEPACreditorID(s) {
		bad("BILLING_SEPA_CREDITOR_ID", "%q is not a SEPA creditor identifier such as FR72ZZZ123456 (mod-97 check)", s)
	}
	if s := c.SellerEmail; s != "" && !strings.Contains(s, "@") {
		bad("BILLING_SELLER_EMAIL", "%q is not an email address", s)
	}
}

// RequireStripePublishableKey stops a server of the billing pages (billing
// worker --http) with Stripe but no publishable key: its customers could
// not enter a card (Stripe.js needs the key), and would only learn it on
// the page.
func (c *Config) RequireStripePublishableKey() error {
	if c.Processor == ProcessorStripe && c.StripePublishableKey == "" {
		return errors.New("BILLING_STRIPE_PUBLISHABLE_KEY is not set: the billing pages (billing worker --http) take cards with Stripe.js, which needs the publishable key (pk_live_… or pk_test_…) of the account STRIPE_SECRET_KEY belongs to, from the Stripe dashboard's API keys")
	}
	return nil
}

// RequirePortal says how to fix a missing BILLING_PORTAL_URL, for the
// commands and routes that mint portal links.
func (c *Config) RequirePortal() error {
	if c.PortalURL == "" {
		return errors.New("BILLING_PORTAL_URL is not set: give the address customers reach the billing pages at (the worker's --http server), e.g. https://billing.example.com")
	}
	return nil
}
