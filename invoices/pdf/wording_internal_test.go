package pdf

import (
	"strings"
	"testing"
	"time"

	"github.com/shopspring/decimal"
	"github.com/stretchr/testify/require"

	"github.com/billingengine/engine/billing"
)

// Dates and periods in each language: French "1er novembre 2026", "2
// novembre 2026", "du 1er au 31 octobre 2026"; English "2 November 2026".
func TestDatesInBothLanguages(t *testing.T) {
	t.Parallel()
	day := func(y int, m time.Month, d int) time.Time { return time.Date(y, m, d, 0, 0, 0, 0, time.UTC) }
	for _, tc := range []struct {
		w          *wording
		t          time.Time
		start, end time.Time
		date, span string
	}{
		{french, day(2026, 11, 1), day(2026, 10, 1), day(2026, 11, 1), "1er novembre 2026", "du 1er au 31 octobre 2026"},
		{french, day(2026, 11, 2), day(2026, 2, 1), day(2026, 3, 1), "2 novembre 2026", "du 1er au 28 février 2026"},
		{french, day(2026, 8, 15), day(2026, 12, 15), day(2027, 1, 15), "15 août 2026", "du 15 décembre 2026 au 14 janvier 2027"},
		{english, day(2026, 11, 2), day(2026, 10, 1), day(2026, 11, 1), "2 November 2026", "1–31 October 2026"},
		{english, day(2026, 1, 1), day(2026, 12, 15), day(2027, 1, 15), "1 January 2026", "15 December 2026 – 14 January 2027"},
	} {
		require.Equal(t, tc.date, tc.w.date(tc.t))
		require.Equal(t, tc.span, tc.w.span(tc.start, tc.end))
	}
}

// A document is in its language; one issued before languages were stored
// reads as its buyer's country decides (French for France).
func TestWordingFor(t *testing.T) {
	t.Parallel()
	require.Same(t, english, wordingFor(&Document{Language: billing.LanguageEnglish, BuyerCountry: "FR"}))
	require.Same(t, french, wordingFor(&Document{Language: billing.LanguageFrench, BuyerCountry: "DE"}))
	require.Same(t, french, wordingFor(&Document{BuyerCountry: "FR"}))
	require.Same(t, english, wordingFor(&Document{BuyerCountry: "DE"}))
}

// French amounts: thousands grouped by no-break spaces (which the Go
// fonts draw), a decimal comma, the sign kept, no rounding (Money is
// already to the cent).
func TestFrenchNumbers(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"0.00": "0,00", "-0.50": "-0,50", "999.99": "999,99", "1000.00": "1 000,00", "-1234.56": "-1 234,56",
		"123456789.01": "123 456 789,01", "100000": "100 000",
	} {
		require.Equal(t, nb(want), groupFR(in), in)
	}
	require.Equal(t, nb("1 234,56 €"), FormatEUR(billing.MustParseMoney("1234.56")))
	require.Equal(t, nb("0,0278 €/h"), formatUnitPrice(decimal.RequireFromString("0.0278")))
	require.Equal(t, "5,5", formatRate(decimal.RequireFromString("5.50")))
	fonts, err := LoadFonts("", nil)
	require.NoError(t, err)
	require.True(t, fonts.allGo(FormatEUR(billing.MustParseMoney("-1234.56"))+" « » – · ’ Łódź Rīga"), "every character in the Go fonts")
}

// The seller's legal mention in each language.
func TestSellerMentionInBothLanguages(t *testing.T) {
	t.Parallel()
	s := Seller{Legal: "SAS", Capital: decimal.RequireFromString("50000"), RCS: "Paris", SIREN: "303265045"}
	require.Equal(t, "SAS au capital de "+nb("50 000,00 €")+" · RCS Paris 303 265 045", french.sellerMention(s))
	require.Equal(t, "SAS share capital "+nb("50 000,00 €")+" · RCS Paris 303 265 045", english.sellerMention(s))
	require.Equal(t, "SAS au capital de 10 000 €", french.sellerMention(Seller{Legal: "SAS au capital de 10 000 €"}))
}

// nb writes the spaces of an expected amount as the no-break spaces the
// formatters use.
func nb(s string) string { return strings.ReplaceAll(s, " ", nbsp) }
