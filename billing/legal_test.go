package billing

import (
	"fmt"
	"slices"
	"testing"

	"github.com/stretchr/testify/require"
	"pgregory.net/rapid"
)

func TestValidSIREN(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		siren string
		want  bool
	}{
		{"303265045", true},
		{"552081317", true},
		{"404833048", true},
		{"000000000", true},
		{"356000000", true}, // La Poste: not Luhn-valid, yet real
		{"356000001", false},
		{"303265046", false},
		{"431451183", false},
		{"30326504", false},
		{"3032650450", false},
		{"30326504a", false},
		{" 303265045", false},
		{"", false},
	} {
		require.Equal(t, tc.want, ValidSIREN(tc.siren), tc.siren)
	}
}

func TestCheckVATNumber(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		country, vat, siren string
		wantErr             string
	}{
		{country: "FR", vat: "FR40303265045"},
		{country: "FR", vat: "FR40303265045", siren: "303265045"},
		{country: "FR", vat: "FR83404833048"},
		{country: "FR", vat: "FR12000000000"},
		{country: "FR", vat: "FRXA303265045"}, // an alphabetic key has no formula
		{country: "DE", vat: "DE811569869"},
		{country: "BE", vat: "BE0403170701"},
		{country: "IT", vat: "IT00743110157"},
		{country: "AT", vat: "ATU13585627"},
		{country: "BG", vat: "BG175074752"},
		{country: "CZ", vat: "CZ25596641"},
		{country: "GR", vat: "EL094259216"},
		{country: "IE", vat: "IE6388047V"},
		{country: "IE", vat: "IE1234567WA"},
		{country: "PL", vat: "PL5260250274"},
		{country: "NL", vat: "NL004495445B01"},
		{country: "ES", vat: "ESA12345674"},
		{country: "ES", vat: "ES12345678Z"},
		{country: "SE", vat: "SE556036079301"},
		{country: "CY", vat: "CY10259033P"},
		{country: "GB", vat: "GB980780684"},
		{country: "GB", vat: "XI980780684"},
		{country: "CH", vat: "CHE123456789"},

		{country: "FR", vat: "FR41303265045", wantErr: `"FR41303265045": the key 41 does not match the SIREN 303265045 (expected FR40303265045)`},
		{country: "FR", vat: "FR40303265045", siren: "404833048", wantErr: "carries the SIREN 303265045, not the account's SIREN 404833048"},
		{country: "FR", vat: "FR62431451183", wantErr: "431451183 is not a valid SIREN"},
		{country: "FR", vat: "FR4030326504", wantErr: "is not a valid FR VAT number (expected FR then a 2-character key and the 9-digit SIREN)"},
		{country: "FR", vat: "DE811569869", wantErr: `"DE811569869" does not start with FR, the prefix of the account's country FR`},
		{country: "GR", vat: "GR094259216", wantErr: "Greek VAT numbers start with EL, not GR"},
		{country: "DE", vat: "XI980780684", wantErr: "does not start with DE"},
		{country: "DE", vat: "DE81156986", wantErr: "expected DE then 9 digits"},
		{country: "AT", vat: "AT13585627", wantErr: "expected ATU then 8 digits"},
		{country: "BE", vat: "BE2403170701", wantErr: "starting with 0 or 1"},
		{country: "NL", vat: "NL004495445C01", wantErr: "NL then 9 digits, B and 2 digits"},
		{country: "SE", vat: "SE556036079302", wantErr: "ending in 01"},
		{country: "DE", vat: "DE 811569869", wantErr: "without spaces or punctuation"},
		{country: "DE", vat: "de811569869", wantErr: "upper-case letters"},
		{country: "FR", vat: "F", wantErr: "is not a VAT number"},
		{country: "US", vat: "US1-2", wantErr: "is not a VAT number"},
	} {
		err := CheckVATNumber(tc.country, tc.vat, tc.siren)
		if tc.wantErr == "" {
			require.NoError(t, err, "%s %s", tc.country, tc.vat)
			continue
		}
		require.ErrorIs(t, err, ErrVATNumber, tc.vat)
		require.ErrorContains(t, err, tc.wantErr, tc.vat)
	}
}

// Every member state (and XI) has a syntax and a description of it, and
// every member state's prefix is its code but Greece's.
func TestVATTablesAgree(t *testing.T) {
	t.Parallel()
	require.Len(t, vatSyntax, 28)
	for p := range vatSyntax {
		require.NotEmpty(t, vatShapes[p], p)
	}
	require.Len(t, vatShapes, len(vatSyntax))
	for c := range DefaultVATRates() {
		_, ok := vatSyntax[VATPrefix(c)]
		require.True(t, ok, c)
	}
	require.Equal(t, "EL", VATPrefix("GR"))
}

// genSIREN draws a Luhn-valid SIREN: 8 digits and the check digit that
// makes the sum a multiple of 10.
func genSIREN() *rapid.Generator[string] {
	return rapid.Custom(func(t *rapid.T) string {
		base := fmt.Sprintf("%08d", rapid.IntRange(0, 99_999_999).Draw(t, "base"))
		for d := '0'; d <= '9'; d++ {
			if s := base + string(d); luhn(s) {
				return s
			}
		}
		panic("no Luhn digit")
	})
}

// mutate replaces the digit at i by another digit.
func mutate(t *rapid.T, s string, i int) string {
	d := byte(rapid.IntRange(1, 9).Draw(t, "delta"))
	b := []byte(s)
	b[i] = '0' + (b[i]-'0'+d)%10
	return string(b)
}

func TestSIRENProperties(t *testing.T) {
	t.Parallel()
	rapid.Check(t, func(t *rapid.T) {
		s := genSIREN().Draw(t, "siren")
		require.True(t, ValidSIREN(s), s)
		// Luhn catches every single-digit error; La Poste's number is the
		// exception by design.
		m := mutate(t, s, rapid.IntRange(0, 8).Draw(t, "at"))
		require.True(t, m == sirenLaPoste || !ValidSIREN(m), "%s -> %s", s, m)
	})
}

func TestFrenchVATProperties(t *testing.T) {
	t.Parallel()
	rapid.Check(t, func(t *rapid.T) {
		s := genSIREN().Draw(t, "siren")
		vat := FrenchVATNumber(s)
		require.NoError(t, CheckVATNumber("FR", vat, s))
		require.NoError(t, CheckVATNumber("FR", vat, ""))
		// Any single digit changed, in the key or the SIREN, is refused:
		// a SIREN digit breaks the Luhn check or the key, a key digit the
		// key (3 is invertible mod 97, so one key fits one SIREN class).
		m := mutate(t, vat, rapid.IntRange(2, 12).Draw(t, "at"))
		require.Error(t, CheckVATNumber("FR", m, ""), "%s -> %s", vat, m)
		require.Error(t, CheckVATNumber("FR", m, s), "%s -> %s", vat, m)
	})
}

func TestIBANBICCreditorID(t *testing.T) {
	t.Parallel()
	for _, s := range []string{"FR7630006000011234567890189", "DE89370400440532013000", "GB82WEST12345698765432", "BE68539007547034"} {
		require.True(t, ValidIBAN(s), s)
	}
	for _, s := range []string{"FR7630006000011234567890188", "FR76 3000 6000 0112 3456 7890 189", "DE8937040044053201300", "fr7630006000011234567890189", ""} {
		require.False(t, ValidIBAN(s), s)
	}
	for _, s := range []string{"AGRIFRPP", "AGRIFRPPXXX", "DEUTDEFF500", "BNPAFRPPXXX"} {
		require.True(t, ValidBIC(s), s)
	}
	for _, s := range []string{"AGRIFRP", "AGRIZZPP", "AGRIFRPPXX", "agrifrpp", "1GRIFRPP"} {
		require.False(t, ValidBIC(s), s)
	}
	for _, s := range []string{"FR72ZZZ123456", "DE98ZZZ09999999999", "FR72ABC123456"} {
		require.True(t, ValidSEPACreditorID(s), s)
	}
	for _, s := range []string{"FR73ZZZ123456", "FR72ZZZ123457", "FR72ZZZ", "fr72zzz123456"} {
		require.False(t, ValidSEPACreditorID(s), s)
	}
	rapid.Check(t, func(t *rapid.T) {
		// An IBAN built with the right check digits passes, and any single
		// digit changed in its BBAN fails: mod 97 catches them all.
		bban := rapid.StringMatching(`[0-9]{11,26}`).Draw(t, "bban")
		check := 98 - mod97(bban+"FR00")
		iban := fmt.Sprintf("FR%02d%s", check, bban)
		require.True(t, ValidIBAN(iban), iban)
		m := mutate(t, iban, rapid.IntRange(4, len(iban)-1).Draw(t, "at"))
		require.False(t, ValidIBAN(m), "%s -> %s", iban, m)
	})
}

// Whatever a member state's syntax admits is accepted for an account of
// that state, and refused for an account of any other (the prefix).
func TestVATSyntaxProperties(t *testing.T) {
	t.Parallel()
	rapid.Check(t, func(t *rapid.T) {
		prefix := rapid.SampledFrom(sortedPrefixes()).Draw(t, "prefix")
		if prefix == "FR" {
			t.Skip("French numbers have a key: TestFrenchVATProperties")
		}
		re := vatSyntax[prefix].String()
		rest := rapid.StringMatching(re[1:len(re)-1]).Draw(t, "rest")
		country := map[string]string{"EL": "GR", "XI": "GB"}[prefix]
		if country == "" {
			country = prefix
		}
		require.NoError(t, CheckVATNumber(country, prefix+rest, ""))
		other := rapid.SampledFrom([]string{"DE", "FR", "GR", "IT", "US"}).Draw(t, "other")
		if other != country {
			require.ErrorIs(t, CheckVATNumber(other, prefix+rest, ""), ErrVATNumber)
		}
	})
}

func sortedPrefixes() []string {
	var out []string
	for p := range vatSyntax {
		out = append(out, p)
	}
	slices.Sort(out)
	return out
}
