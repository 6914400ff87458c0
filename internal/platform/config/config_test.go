package config

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/billingengine/engine/billing"
)

func env(kv ...string) func(string) (string, bool) {
	m := map[string]string{}
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i]] = kv[i+1]
	}
	return func(k string) (string, bool) {
		v, ok := m[k]
		return v, ok
	}
}

var fullSeller = []string{
	"BILLING_SELLER_NAME", "Cloud SAS", "BILLING_SELLER_LEGAL", "SAS", "BILLING_SELLER_CAPITAL", "10000.00", "BILLING_SELLER_RCS", "Paris",
	"BILLING_SELLER_ADDRESS", "1 rue A|75001 Paris",
	"BILLING_SELLER_VAT_NUMBER", "FR40303265045", "BILLING_SELLER_SIREN", "303265045", "BILLING_SELLER_IBAN", "FR76 3000 6000 0112 3456 7890 189",
	"BILLING_SELLER_BIC", "AGRIFRPP", "BILLING_SELLER_EMAIL", "billing@cloud.test", "BILLING_SEPA_CREDITOR_ID", "FR72ZZZ123456",
}

// sellerWith is fullSeller with the given variables replaced ("" unsets).
func sellerWith(kv ...string) []string {
	out := append([]string{"STRIPE_SECRET_KEY", "sk_live_x"}, fullSeller...)
	for i := 0; i+1 < len(kv); i += 2 {
		for j := 0; j+1 < len(out); j += 2 {
			if out[j] == kv[i] {
				out[j+1] = kv[i+1]
			}
		}
	}
	return out
}

// The processor and PayPal modes are explicit or follow from their keys;
// nothing falls back to a sandbox that would take payments silently.
func TestProcessorModes(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name    string
		env     []string
		proc    ProcessorMode
		paypal  PayPalMode
		wantErr string
	}{
		{name: "nothing set", proc: ProcessorUnset, paypal: PayPalUnset},
		{name: "stripe key", env: []string{"STRIPE_SECRET_KEY", "sk_live_x"}, proc: ProcessorStripe},
		{name: "explicit sandbox", env: []string{"BILLING_PROCESSOR", "sandbox", "BILLING_PAYPAL", "sandbox"}, proc: ProcessorSandbox, paypal: PayPalSandbox},
		{name: "paypal keys", env: []string{"PAYPAL_CLIENT_ID", "id", "PAYPAL_SECRET", "s"}, paypal: PayPalLive},
		{name: "one paypal key is no paypal", env: []string{"PAYPAL_CLIENT_ID", "id"}, paypal: PayPalUnset},
		{name: "paypal off", env: []string{"BILLING_PAYPAL", "off"}, paypal: PayPalOff},
		{name: "stripe test key with sandbox paypal", env: []string{"STRIPE_SECRET_KEY", "sk_test_x", "BILLING_PAYPAL", "sandbox"},
			proc: ProcessorStripe, paypal: PayPalSandbox},
		{name: "stripe without key", env: []string{"BILLING_PROCESSOR", "stripe"}, wantErr: "BILLING_PROCESSOR=stripe needs STRIPE_SECRET_KEY"},
		{name: "unknown processor", env: []string{"BILLING_PROCESSOR", "fake"}, wantErr: `BILLING_PROCESSOR: want stripe or sandbox, got "fake"`},
		{name: "sandbox beside a live key", env: []string{"BILLING_PROCESSOR", "sandbox", "STRIPE_SECRET_KEY", "sk_live_x"}, wantErr: "live key"},
		{name: "sandbox paypal beside live stripe", env: []string{"STRIPE_SECRET_KEY", "sk_live_x", "BILLING_PAYPAL", "sandbox"},
			wantErr: "sandbox credit would pay real invoices"},
		{name: "paypal without keys", env: []string{"BILLING_PAYPAL", "paypal"}, wantErr: "BILLING_PAYPAL=paypal needs PAYPAL_CLIENT_ID and PAYPAL_SECRET"},
		{name: "unknown paypal", env: []string{"BILLING_PAYPAL", "yes"}, wantErr: `BILLING_PAYPAL: want paypal, sandbox or off, got "yes"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c, err := FromLookup(env(tc.env...))
			if tc.wantErr != "" {
				require.ErrorContains(t, err, tc.wantErr)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tc.proc, c.Processor)
			require.Equal(t, tc.paypal, c.PayPal)
			if tc.proc == ProcessorUnset {
				require.ErrorIs(t, c.RequireProcessor(), ErrNoProcessor)
				require.EqualError(t, c.RequireProcessor(), "no payment processor configured: set STRIPE_SECRET_KEY, or BILLING_PROCESSOR=sandbox for tests and demos")
			} else {
				require.NoError(t, c.RequireProcessor())
			}
			if tc.paypal == PayPalUnset {
				require.ErrorIs(t, c.RequirePayPal(), ErrNoPayPal)
			} else {
				require.NoError(t, c.RequirePayPal())
			}
			require.Equal(t, tc.proc == ProcessorSandbox, c.Sandbox())
		})
	}
}

// Outside sandbox mode every seller variable is required and each missing
// one is named; sandbox mode with none set lends a seller that says TEST
// MODE, and a partly configured seller is never completed with demo values.
func TestSellerRequired(t *testing.T) {
	t.Parallel()
	c, err := FromLookup(env("STRIPE_SECRET_KEY", "sk_live_x", "BILLING_SELLER_NAME", "Cloud SAS"))
	require.NoError(t, err)
	require.EqualError(t, c.RequireSeller(), "the seller's identity is not configured (invoices must name it, SPEC §6): set "+
		"BILLING_SELLER_LEGAL, BILLING_SELLER_CAPITAL, BILLING_SELLER_RCS, BILLING_SELLER_ADDRESS, BILLING_SELLER_VAT_NUMBER, BILLING_SELLER_SIREN, "+
		"BILLING_SELLER_IBAN, BILLING_SELLER_BIC, BILLING_SELLER_EMAIL, BILLING_SEPA_CREDITOR_ID")
	require.Error(t, c.RequireCharging())

	c, err = FromLookup(env(append([]string{"STRIPE_SECRET_KEY", "sk_live_x"}, fullSeller...)...))
	require.NoError(t, err)
	require.NoError(t, c.RequireCharging())
	require.False(t, c.SellerDemo)
	require.Equal(t, "1 rue A\n75001 Paris", c.SellerAddress)
	require.Equal(t, "FR7630006000011234567890189", c.SellerIBAN)
	require.Equal(t, "10000.00", billing.FormatMoney(c.SellerCapital))
	require.Equal(t, "Paris", c.SellerRCS)
	require.Equal(t, "FR72ZZZ123456", c.SEPACreditorID)

	c, err = FromLookup(env("BILLING_PROCESSOR", "sandbox"))
	require.NoError(t, err)
	require.NoError(t, c.RequireCharging())
	require.True(t, c.SellerDemo)
	require.Contains(t, c.SellerName, "TEST MODE")
	// The demo seller passes the checks a real one must.
	c.sellerMissing, c.SellerDemo = nil, false
	c.checkSeller(demoSellerCapital)
	require.Empty(t, c.sellerInvalid)

	c, err = FromLookup(env("BILLING_PROCESSOR", "sandbox", "BILLING_SELLER_NAME", "Cloud SAS"))
	require.NoError(t, err)
	require.False(t, c.SellerDemo)
	require.ErrorContains(t, c.RequireSeller(), "set BILLING_SELLER_LEGAL, ")
}

// A configured seller's identifiers are checked, each failure naming its
// variable; a partly wrong seller is refused like a partly missing one.
func TestSellerChecks(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		env  []string
		want string
	}{
		{"SIREN Luhn", []string{"BILLING_SELLER_SIREN", "303265046", "BILLING_SELLER_VAT_NUMBER", "FR41303265046"},
			`BILLING_SELLER_SIREN: "303265046" is not a SIREN`},
		{"French key", []string{"BILLING_SELLER_VAT_NUMBER", "FR41303265045"},
			`BILLING_SELLER_VAT_NUMBER: "FR41303265045": the key 41 does not match the SIREN 303265045 (expected FR40303265045) (SELLER_COUNTRY is FR)`},
		{"VAT of another SIREN", []string{"BILLING_SELLER_VAT_NUMBER", "FR83404833048"},
			`BILLING_SELLER_VAT_NUMBER: "FR83404833048" carries the SIREN 404833048, not the account's SIREN 303265045`},
		{"VAT of another country", []string{"BILLING_SELLER_VAT_NUMBER", "DE811569869"},
			`BILLING_SELLER_VAT_NUMBER: "DE811569869" does not start with FR`},
		{"IBAN", []string{"BILLING_SELLER_IBAN", "FR7630006000011234567890188"},
			`BILLING_SELLER_IBAN: "FR7630006000011234567890188" is not an IBAN`},
		{"BIC", []string{"BILLING_SELLER_BIC", "AGRI FRPP"}, `BILLING_SELLER_BIC: "AGRI FRPP" is not a BIC`},
		{"creditor id", []string{"BILLING_SEPA_CREDITOR_ID", "FR73ZZZ123456"},
			`BILLING_SEPA_CREDITOR_ID: "FR73ZZZ123456" is not a SEPA creditor identifier`},
		{"capital", []string{"BILLING_SELLER_CAPITAL", "10 000 €"}, `BILLING_SELLER_CAPITAL: want the share capital in euros such as 10000.00, got "10 000 €"`},
		{"missing and wrong", []string{"BILLING_SELLER_RCS", "", "BILLING_SELLER_BIC", "X"},
			`set BILLING_SELLER_RCS; BILLING_SELLER_BIC: "X" is not a BIC`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c, err := FromLookup(env(sellerWith(tc.env...)...))
			require.NoError(t, err, "a wrong seller stops only what finalizes")
			require.ErrorContains(t, c.RequireSeller(), tc.want)
			require.Error(t, c.RequireCharging())
		})
	}
	// A German seller's VAT number is checked as German.
	c, err := FromLookup(env(append(sellerWith("BILLING_SELLER_VAT_NUMBER", "DE811569869"), "SELLER_COUNTRY", "DE")...))
	require.NoError(t, err)
	require.NoError(t, c.RequireSeller())
}

func TestVIESMode(t *testing.T) {
	t.Parallel()
	c, err := FromLookup(env())
	require.NoError(t, err)
	require.Equal(t, VIESOff, c.VIES)
	for _, m := range []VIESMode{VIESOff, VIESLive, VIESSandbox} {
		c, err := FromLookup(env("BILLING_VIES", string(m)))
		require.NoError(t, err)
		require.Equal(t, m, c.VIES)
	}
	_, err = FromLookup(env("BILLING_VIES", "on"))
	require.EqualError(t, err, `BILLING_VIES: want off, vies or sandbox, got "on"`)
}

func TestCreditPurchaseMax(t *testing.T) {
	t.Parallel()
	c, err := FromLookup(env())
	require.NoError(t, err)
	require.Equal(t, "10000.00", c.CreditPurchaseMax.StringFixed(2))
	c, err = FromLookup(env("BILLING_CREDIT_PURCHASE_MAX", "250.00"))
	require.NoError(t, err)
	require.Equal(t, "250", c.CreditPurchaseMax.String())
	for _, bad := range []string{"4.99", "abc", "-1", "1e9"} {
		_, err := FromLookup(env("BILLING_CREDIT_PURCHASE_MAX", bad))
		require.ErrorContains(t, err, "BILLING_CREDIT_PURCHASE_MAX", bad)
	}
}

func TestMailSettings(t *testing.T) {
	c, err := FromLookup(env("BILLING_PROCESSOR", "sandbox"))
	require.NoError(t, err)
	require.Equal(t, SMTPOff, c.SMTP.Kind, "no BILLING_SMTP_URL: emails are recorded unsent")
	require.NoError(t, c.RequireMail())
	require.Equal(t, "billing@seller.invalid", c.MailFrom, "the demo seller's address")
	require.Zero(t, c.SEPADebitDelay)
	require.Equal(t, "http://localhost:8080", c.PortalURL, "in sandbox mode the billing pages are this machine's")
	c, err = FromLookup(env("BILLING_PROCESSOR", "stripe", "STRIPE_SECRET_KEY", "sk_test_x"))
	require.NoError(t, err)
	require.Empty(t, c.PortalURL, "outside sandbox mode no address is assumed")
	require.ErrorContains(t, c.RequirePortal(), "BILLING_PORTAL_URL is not set")

	c, err = FromLookup(env("BILLING_PROCESSOR", "sandbox", "BILLING_SMTP_URL", "smtp://me%40x.com:p%3Ass@mail.example.com:587",
		"BILLING_MAIL_FROM", "Billing <billing@example.com>", "BILLING_SEPA_DEBIT_DELAY", "3", "BILLING_PORTAL_URL", "https://p.example/"))
	require.NoError(t, err)
	require.NoError(t, c.RequireMail())
	require.Equal(t, SMTP{Kind: SMTPSend, Host: "mail.example.com", Port: 587, User: "me@x.com", Password: "p:ss"}, c.SMTP)
	require.Equal(t, 72*time.Hour, c.SEPADebitDelay)
	require.Equal(t, "https://p.example", c.PortalURL, "kept without its trailing slash")

	for raw, want := range map[string]SMTP{"file:///tmp/mail": {Kind: SMTPFile, Dir: "/tmp/mail"}, "file://out/mail": {Kind: SMTPFile, Dir: "out/mail"}} {
		s, err := ParseSMTPURL(raw)
		require.NoError(t, err)
		require.Equal(t, want, s, raw)
	}

	for _, bad := range []string{"smtp://mail.example.com", "mail.example.com:25", "http://x:25", "smtp://:25", "smtp://h:99999", "file://", "smtp://u:secret@h"} {
		c, err := FromLookup(env("BILLING_PROCESSOR", "sandbox", "BILLING_SMTP_URL", bad))
		require.NoError(t, err, "only the worker needs mail")
		err = c.RequireMail()
		require.Error(t, err, bad)
		require.Contains(t, err.Error(), "set BILLING_SMTP_URL to smtp://user:pass@host:587", bad)
		require.NotContains(t, err.Error(), "secret", "the password is not repeated")
	}
	c, err = FromLookup(env("BILLING_PROCESSOR", "sandbox", "BILLING_MAIL_FROM", "not an address"))
	require.NoError(t, err)
	require.ErrorContains(t, c.RequireMail(), "BILLING_MAIL_FROM")
	for _, bad := range []string{"-1", "x", "61"} {
		_, err := FromLookup(env("BILLING_PROCESSOR", "sandbox", "BILLING_SEPA_DEBIT_DELAY", bad))
		require.ErrorContains(t, err, "BILLING_SEPA_DEBIT_DELAY", bad)
	}
}

// With Stripe, the billing pages need a publishable key, of the secret
// key's mode; a secret key is never taken for one.
func TestStripePublishableKey(t *testing.T) {
	t.Parallel()
	c, err := FromLookup(env("STRIPE_SECRET_KEY", "sk_test_x"))
	require.NoError(t, err, "only the pages need it: other commands start")
	require.ErrorContains(t, c.RequireStripePublishableKey(), "BILLING_STRIPE_PUBLISHABLE_KEY is not set")
	c, err = FromLookup(env("STRIPE_SECRET_KEY", "sk_test_x", "BILLING_STRIPE_PUBLISHABLE_KEY", "pk_test_abc"))
	require.NoError(t, err)
	require.NoError(t, c.RequireStripePublishableKey())
	require.Equal(t, "pk_test_abc", c.StripePublishableKey)
	c, err = FromLookup(env("BILLING_PROCESSOR", "sandbox"))
	require.NoError(t, err)
	require.NoError(t, c.RequireStripePublishableKey(), "sandbox cards are test ids: no Stripe.js")

	for _, tc := range []struct{ secret, key, want string }{
		{"sk_test_x", "sk_test_x", "never the secret key"},
		{"sk_live_x", "pk_test_abc", "different modes"},
		{"sk_test_x", "pk_live_abc", "different modes"},
	} {
		_, err := FromLookup(env("STRIPE_SECRET_KEY", tc.secret, "BILLING_STRIPE_PUBLISHABLE_KEY", tc.key))
		require.ErrorContains(t, err, tc.want, tc.key)
		require.ErrorContains(t, err, "BILLING_STRIPE_PUBLISHABLE_KEY", tc.key)
	}
}
