// Package config reads the engine's settings from the environment (SPEC §7),
// once, into a typed value that the rest of the program receives. Nothing
// else reads os.Getenv, so every setting is listed here with its default.
package config

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

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
	// Seller identity printed on PDFs: BILLING_SELLER_NAME, _LEGAL (legal
	// form, capital, registration), _ADDRESS (lines separated by "\n" or
	// "|"), _VAT_NUMBER, _EMAIL.
	SellerName, SellerLegal, SellerAddress, SellerVATNumber, SellerEmail string
	// PDFFallbackFont is a .ttf for scripts the embedded fonts lack
	// (BILLING_PDF_FALLBACK_FONT; default: Debian's DroidSansFallbackFull.ttf
	// when installed; "none" disables it).
	PDFFallbackFont string
	// SandboxSEPADelay is when the sandbox settles a SEPA debit
	// (SANDBOX_SEPA_DELAY, default 0s); SandboxFaults injects processor
	// faults for tests (SANDBOX_FAULTS, e.g. "before=0.1,after=0.1").
	SandboxSEPADelay time.Duration
	SandboxFaults    string
}

// Sandbox reports whether payments go to the sandbox processors.
func (c *Config) Sandbox() bool { return c.StripeSecretKey == "" }

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
	c.PayPalClientID = get("PAYPAL_CLIENT_ID", "")
	c.PayPalSecret = get("PAYPAL_SECRET", "")
	c.PayPalAPIURL = get("PAYPAL_API_URL", "https://api-m.sandbox.paypal.com")
	c.PayPalWebhookID = get("PAYPAL_WEBHOOK_ID", "")
	c.PayPalReturnURL = get("PAYPAL_RETURN_URL", "http://localhost:8080/paypal/return")
	c.SandboxFaults = get("SANDBOX_FAULTS", "")
	c.DunningSchedule = get("BILLING_DUNNING_SCHEDULE", "0 6 * * *")
	if c.DunningSchedule == "off" {
		c.DunningSchedule = ""
	}
	c.SellerName = get("BILLING_SELLER_NAME", "Nuage Libre SAS")
	c.SellerLegal = get("BILLING_SELLER_LEGAL", "SAS au capital de 50 000 € · RCS Paris 303 265 045")
	c.SellerAddress = strings.ReplaceAll(get("BILLING_SELLER_ADDRESS", "12 rue de la Paix|75002 Paris|France"), "|", "\n")
	c.SellerVATNumber = get("BILLING_SELLER_VAT_NUMBER", "FR40303265045")
	c.SellerEmail = get("BILLING_SELLER_EMAIL", "billing@nuage-libre.example")
	c.PDFFallbackFont = get("BILLING_PDF_FALLBACK_FONT", "")
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
	}
	for _, d := range durations {
		v, err := time.ParseDuration(get(d.name, d.def))
		if err != nil || v < 0 || (v == 0 && d.name != "SANDBOX_SEPA_DELAY") {
			return nil, fmt.Errorf("%s: want a duration such as 30s", d.name)
		}
		*d.dst = v
	}
	if c.RescueAfter <= c.JobTimeout {
		return nil, fmt.Errorf("BILLING_RESCUE_AFTER (%s) must exceed BILLING_JOB_TIMEOUT (%s)", c.RescueAfter, c.JobTimeout)
	}
	return c, nil
}
