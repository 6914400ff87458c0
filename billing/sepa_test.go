package billing

import (
	"errors"
	"testing"
)

func TestCheckIBAN(t *testing.T) {
	for in, want := range map[string]string{
		"FR76 3000 6000 0112 3456 7890 189": "FR7630006000011234567890189",
		"de89370400440532013000":            "DE89370400440532013000",
	} {
		got, err := CheckIBAN(in)
		if err != nil || got != want {
			t.Errorf("CheckIBAN(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for in, msg := range map[string]string{
		"":                            "iban: required",
		"FR76":                        "iban: not an IBAN (a country code, 2 check digits, then 11 to 30 letters or digits)",
		"FR7630006000011234567890188": "iban: wrong check digits: please check the number",
		// A valid Brazilian IBAN: right digits, outside SEPA.
		"BR1800360305000010009795493C1": "iban: country BR is not in the SEPA area: it can't be debited",
	} {
		_, err := CheckIBAN(in)
		if err == nil || err.Error() != msg || !errors.Is(err, ErrIBAN) {
			t.Errorf("CheckIBAN(%q) = %v; want %q", in, err, msg)
		}
	}
	if got := MaskIBAN("FR7630006000011234567890189"); got != "FR76 **** **** 0189" {
		t.Errorf("MaskIBAN = %q", got)
	}
}

func TestFormatMoneyIn(t *testing.T) {
	for _, c := range []struct {
		in   string
		lang Language
		want string
	}{
		{"1234.5", LanguageFrench, "1\u202f234,50\u00a0€"},
		{"1234.5", LanguageEnglish, "€1,234.50"},
		{"-5", LanguageFrench, "-5,00\u00a0€"},
		{"999", LanguageEnglish, "€999.00"},
		{"1000000", LanguageEnglish, "€1,000,000.00"},
	} {
		if got := FormatMoneyIn(MustParseMoney(c.in), c.lang); got != c.want {
			t.Errorf("FormatMoneyIn(%s, %s) = %q; want %q", c.in, c.lang, got, c.want)
		}
	}
}
