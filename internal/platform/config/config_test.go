package config

import (
	"testing"

	"github.com/stretchr/testify/require"
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
	"BILLING_SELLER_NAME", "Cloud SAS", "BILLING_SELLER_LEGAL", "SAS au capital de 10 000 €", "BILLING_SELLER_ADDRESS", "1 rue A|75001 Paris",
	"BILLING_SELLER_VAT_NUMBER", "FR40303265045", "BILLING_SELLER_SIREN", "303265045", "BILLING_SELLER_IBAN", "FR7630006000011234567890189",
	"BILLING_SELLER_BIC", "AGRIFRPP", "BILLING_SELLER_EMAIL", "billing@cloud.test",
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
		"BILLING_SELLER_LEGAL, BILLING_SELLER_ADDRESS, BILLING_SELLER_VAT_NUMBER, BILLING_SELLER_SIREN, BILLING_SELLER_IBAN, BILLING_SELLER_BIC, BILLING_SELLER_EMAIL")
	require.Error(t, c.RequireCharging())

	c, err = FromLookup(env(append([]string{"STRIPE_SECRET_KEY", "sk_live_x"}, fullSeller...)...))
	require.NoError(t, err)
	require.NoError(t, c.RequireCharging())
	require.False(t, c.SellerDemo)
	require.Equal(t, "1 rue A\n75001 Paris", c.SellerAddress)

	c, err = FromLookup(env("BILLING_PROCESSOR", "sandbox"))
	require.NoError(t, err)
	require.NoError(t, c.RequireCharging())
	require.True(t, c.SellerDemo)
	require.Contains(t, c.SellerName, "TEST MODE")

	c, err = FromLookup(env("BILLING_PROCESSOR", "sandbox", "BILLING_SELLER_NAME", "Cloud SAS"))
	require.NoError(t, err)
	require.False(t, c.SellerDemo)
	require.ErrorContains(t, c.RequireSeller(), "set BILLING_SELLER_LEGAL, ")
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
