package billing

import (
	"errors"
	"fmt"
	"strings"
)

// ErrIBAN is matched (errors.Is) by every error CheckIBAN returns.
var ErrIBAN = errors.New("invalid IBAN")

type ibanError struct{ msg string }

func (e *ibanError) Error() string        { return e.msg }
func (e *ibanError) Is(target error) bool { return target == ErrIBAN }

// sepaCountries are the countries of the SEPA scheme (EPC409-09): the EU
// and EEA members, and the others that joined it.
var sepaCountries = map[string]bool{
	"AT": true, "BE": true, "BG": true, "CY": true, "CZ": true, "DE": true, "DK": true, "EE": true, "ES": true,
	"FI": true, "FR": true, "GR": true, "HR": true, "HU": true, "IE": true, "IT": true, "LT": true, "LU": true,
	"LV": true, "MT": true, "NL": true, "PL": true, "PT": true, "RO": true, "SE": true, "SI": true, "SK": true,
	"IS": true, "LI": true, "NO": true, "CH": true, "GB": true, "MC": true, "SM": true, "VA": true, "AD": true,
	"AL": true, "MD": true, "ME": true, "MK": true, "GI": true,
}

// SEPACountry reports whether an IBAN of country cc can be debited by SEPA.
func SEPACountry(cc string) bool { return sepaCountries[cc] }

// NormalizeIBAN removes the spaces people write IBANs with and upper-cases
// the rest.
func NormalizeIBAN(s string) string {
	return strings.ToUpper(strings.Join(strings.Fields(s), ""))
}

// CheckIBAN returns the normalized IBAN, or an error (ErrIBAN) saying
// what is wrong with it: its form, its check digits, or a country outside
// SEPA.
func CheckIBAN(s string) (string, error) {
	iban := NormalizeIBAN(s)
	switch {
	case iban == "":
		return "", &ibanError{"iban: required"}
	case !ibanRE.MatchString(iban):
		return "", &ibanError{"iban: not an IBAN (a country code, 2 check digits, then 11 to 30 letters or digits)"}
	case mod97(iban[4:]+iban[:4]) != 1:
		return "", &ibanError{"iban: wrong check digits: please check the number"}
	case !SEPACountry(iban[:2]):
		return "", &ibanError{fmt.Sprintf("iban: country %s is not in the SEPA area: it can't be debited", iban[:2])}
	}
	return iban, nil
}

// MaskIBAN shows an IBAN as mandates and pages print it: the country and
// check digits, then only the last four characters (FR76 **** **** 0189).
func MaskIBAN(iban string) string {
	if len(iban) < 8 {
		return strings.Repeat("*", len(iban))
	}
	return iban[:4] + " **** **** " + iban[len(iban)-4:]
}
