package billing

import (
	"testing"
	"time"

	"github.com/shopspring/decimal"
	"github.com/stretchr/testify/require"
)

func TestVATDecide(t *testing.T) {
	t.Parallel()
	rates := DefaultVATRates()
	require.Len(t, rates, 27)
	cases := []struct {
		seller, country string
		vatNumber       bool
		treatment       VATTreatment
		rate, mention   string
	}{
		{"FR", "FR", false, VATDomestic, "20", ""},
		{"FR", "FR", true, VATDomestic, "20", ""},
		{"FR", "DE", true, VATReverseCharge, "0", MentionReverseCharge},
		{"FR", "DE", false, VATOSS, "19", ""},
		{"FR", "FI", false, VATOSS, "25.5", ""},
		{"FR", "GR", true, VATReverseCharge, "0", MentionReverseCharge},
		{"FR", "US", false, VATOutsideEU, "0", MentionNotApplicable},
		{"FR", "GB", true, VATOutsideEU, "0", MentionNotApplicable},
		{"FR", "CH", false, VATOutsideEU, "0", MentionNotApplicable},
		{"DE", "DE", false, VATDomestic, "19", ""},
		{"DE", "FR", false, VATOSS, "20", ""},
	}
	for _, tc := range cases {
		v, err := rates.Decide(tc.seller, tc.country, tc.vatNumber)
		require.NoError(t, err)
		require.Equal(t, tc.treatment, v.Treatment, "%+v", tc)
		require.True(t, d(tc.rate).Equal(v.Rate), "%+v: rate %s", tc, v.Rate)
		require.Equal(t, tc.mention, v.Mention, "%+v", tc)
	}
	_, err := rates.Decide("US", "FR", false)
	require.ErrorContains(t, err, `seller country "US" has no VAT rate`)
}

func TestParseVATRates(t *testing.T) {
	t.Parallel()
	r, err := ParseVATRates("FR=5.5, DE=16")
	require.NoError(t, err)
	require.Equal(t, "5.5", r["FR"].String())
	require.Equal(t, "16", r["DE"].String())
	require.Equal(t, "21", r["BE"].String())
	for _, bad := range []string{"FR", "US=10", "FR=-1", "FR=100", "FR=abc"} {
		_, err := ParseVATRates(bad)
		require.Error(t, err, bad)
	}
}

func TestReferralWindow(t *testing.T) {
	t.Parallel()
	paris, _ := time.LoadLocation("Europe/Paris")
	created := ts("2025-11-15T10:00:00Z")
	require.False(t, InReferralWindow(created, MustPeriod("2025-10"), time.UTC))
	require.True(t, InReferralWindow(created, MustPeriod("2025-11"), time.UTC), "1st referral period")
	require.True(t, InReferralWindow(created, MustPeriod("2026-10"), time.UTC), "12th referral period")
	require.False(t, InReferralWindow(created, MustPeriod("2026-11"), time.UTC), "13th is over")
	// Created at 23:30 UTC on 31 October is November in Paris: the window
	// follows the billing time zone.
	late := ts("2025-10-31T23:30:00Z")
	require.True(t, InReferralWindow(late, MustPeriod("2026-09"), time.UTC))
	require.False(t, InReferralWindow(late, MustPeriod("2026-10"), time.UTC))
	require.True(t, InReferralWindow(late, MustPeriod("2026-10"), paris))
	require.False(t, InReferralWindow(late, MustPeriod("2025-10"), paris))
}

func TestReferralReward(t *testing.T) {
	t.Parallel()
	for s, want := range map[string]string{"21.53": "4.31", "0.02": "0.00", "0.03": "0.01", "0.025": "0.01", "10.00": "2.00", "12.34": "2.47", "0": "0"} {
		require.True(t, d(want).Equal(ReferralReward(d(s))), "20%% of %s", s)
	}
}

func TestCompute(t *testing.T) {
	t.Parallel()
	fr := VAT{Treatment: VATDomestic, Rate: d("20")}
	usage := []UsageLine{
		{App: "web", Resource: "container:M", Hours: d("192"), Amount: d("5.55")},
		{App: "web", Resource: "addon:redis", Hours: d("744"), Amount: d("5.13")},
	}

	t.Run("the contract's referrer", func(t *testing.T) {
		// subtotal 10.68; reward 4.31 from a2; VAT 20 % of 6.37 = 1.274 -> 1.27
		got := Compute(Input{Usage: usage, Rewards: []Reward{{"a2", d("4.31")}}, VAT: fr})
		require.Equal(t, "10.68 4.31 1.27 7.64 0", got.Subtotal.String()+" "+got.Discount.String()+" "+got.Tax.String()+" "+got.Total.String()+" "+got.Carryover.String())
		require.Len(t, got.Lines, 3)
		require.Equal(t, Line{Type: LineReferral, RefereeAccountID: "a2", Amount: d("-4.31")}, got.Lines[2])
	})

	t.Run("rewards beyond the subtotal carry over", func(t *testing.T) {
		got := Compute(Input{Usage: usage, Rewards: []Reward{{"r2", d("8.00")}, {"r1", d("5.00")}}, VAT: fr})
		require.True(t, got.Discount.Equal(d("10.68")))
		require.True(t, got.Carryover.Equal(d("2.32")))
		require.True(t, got.Tax.IsZero())
		require.True(t, got.Total.IsZero())
		require.Equal(t, []LineType{LineUsage, LineUsage, LineReferral, LineReferral, LineReferralCarryover}, lineTypes(got.Lines))
		require.Equal(t, "r1", got.Lines[2].RefereeAccountID, "referral lines sorted by referee")
		require.True(t, sumLines(got.Lines).Equal(got.Subtotal.Sub(got.Discount)))
	})

	t.Run("a referrer with no invoice gets it all as credit", func(t *testing.T) {
		got := Compute(Input{Rewards: []Reward{{"r1", d("3.00")}}, VAT: fr})
		require.True(t, got.Subtotal.IsZero())
		require.True(t, got.Discount.IsZero())
		require.True(t, got.Carryover.Equal(d("3.00")))
	})

	t.Run("reverse charge", func(t *testing.T) {
		got := Compute(Input{Usage: usage, VAT: VAT{Treatment: VATReverseCharge, Rate: decimal.Zero, Mention: MentionReverseCharge}})
		require.True(t, got.Tax.IsZero())
		require.True(t, got.Total.Equal(d("10.68")))
	})

	t.Run("tax at x.xx5 rounds up", func(t *testing.T) {
		// 20 % of 0.15 (after a 0.10 discount) is 0.03; 5.5 % of 0.90 is 0.0495 -> 0.05
		got := Compute(Input{Usage: []UsageLine{{Amount: d("0.90")}}, VAT: VAT{Rate: d("5.5")}})
		require.Equal(t, "0.05", got.Tax.StringFixed(2))
		require.Equal(t, "0.95", got.Total.StringFixed(2))
	})

	t.Run("a reversal is charged and taxed, and rewards may absorb it", func(t *testing.T) {
		// usage 10.68 + reversal 2.00 = 12.68; VAT 20 % = 2.536 -> 2.54
		got := Compute(Input{Usage: usage, Reversals: []Reversal{{"r9", d("2.00")}}, VAT: fr})
		require.Equal(t, "12.68 0 2.54 15.22", got.Subtotal.String()+" "+got.Discount.String()+" "+got.Tax.String()+" "+got.Total.String())
		require.Equal(t, Line{Type: LineReferralReversal, RefereeAccountID: "r9", Amount: d("2.00")}, got.Lines[2])
		got = Compute(Input{Usage: usage, Reversals: []Reversal{{"r9", d("2.00")}}, Rewards: []Reward{{"r1", d("13.00")}}, VAT: fr})
		require.True(t, got.Discount.Equal(d("12.68")))
		require.True(t, got.Carryover.Equal(d("0.32")))
		require.True(t, got.Total.IsZero())
		require.Equal(t, []LineType{LineUsage, LineUsage, LineReferralReversal, LineReferral, LineReferralCarryover}, lineTypes(got.Lines))
	})
}

func lineTypes(ls []Line) []LineType {
	var out []LineType
	for _, l := range ls {
		out = append(out, l.Type)
	}
	return out
}

func sumLines(ls []Line) decimal.Decimal {
	var s decimal.Decimal
	for _, l := range ls {
		s = s.Add(l.Amount)
	}
	return s
}

func TestRoundMoney(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{"0.005": "0.01", "0.0049999": "0", "2.345": "2.35", "-2.345": "-2.35", "1.999": "2", "7": "7"} {
		require.True(t, d(want).Equal(RoundMoney(d(in))), in)
	}
	require.Equal(t, "5.00", FormatMoney(d("5")))
	require.Equal(t, "-0.50", FormatMoney(d("-0.5")))
}
