package billing

import (
	"errors"
	"fmt"
	"math/big"
	"regexp"
	"strings"
)

// The checks of an account's and the seller's legal identifiers: SIREN, VAT
// number, IBAN, BIC and SEPA creditor identifier. They are syntax and check
// digits only; whether a number is registered to someone is the VIES's
// question (internal/ingest.VATChecker), asked only when configured.

// ValidSIREN reports whether s is a SIREN: 9 digits whose Luhn sum is a
// multiple of 10. La Poste's 356000000 is not Luhn-valid but is a real
// SIREN (its establishments are numbered by another rule), so it is
// accepted too.
func ValidSIREN(s string) bool {
	if len(s) != 9 || !allDigits(s) {
		return false
	}
	return s == sirenLaPoste || luhn(s)
}

const sirenLaPoste = "356000000"

// luhn reports whether the digits of s pass the Luhn check: every second
// digit from the right doubled (less 9 when over 9), the sum a multiple of 10.
func luhn(s string) bool {
	sum := 0
	for i := 0; i < len(s); i++ {
		d := int(s[len(s)-1-i] - '0')
		if i%2 == 1 {
			d *= 2
			if d > 9 {
				d -= 9
			}
		}
		sum += d
	}
	return sum%10 == 0
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}

// FrenchVATKey is the 2-digit key of the French VAT number of a SIREN:
// (12 + 3 × (SIREN mod 97)) mod 97. siren must be 9 digits.
func FrenchVATKey(siren string) string {
	n := 0
	for i := 0; i < len(siren); i++ {
		n = (n*10 + int(siren[i]-'0')) % 97
	}
	return fmt.Sprintf("%02d", (12+3*n)%97)
}

// FrenchVATNumber is the VAT number of a French SIREN: FR, its key, the SIREN.
func FrenchVATNumber(siren string) string { return "FR" + FrenchVATKey(siren) + siren }

// vatSyntax is the shape of each member state's VAT number after its
// prefix, as the VIES documents them. The prefix is the ISO country code
// except Greece (EL); XI is Northern Ireland, whose traders keep an EU VAT
// number under the Windsor Framework.
var vatSyntax = map[string]*regexp.Regexp{
	"AT": regexp.MustCompile(`^U[0-9]{8}$`),
	"BE": regexp.MustCompile(`^[01][0-9]{9}$`),
	"BG": regexp.MustCompile(`^[0-9]{9,10}$`),
	"CY": regexp.MustCompile(`^[0-9]{8}[A-Z]$`),
	"CZ": regexp.MustCompile(`^[0-9]{8,10}$`),
	"DE": regexp.MustCompile(`^[0-9]{9}$`),
	"DK": regexp.MustCompile(`^[0-9]{8}$`),
	"EE": regexp.MustCompile(`^[0-9]{9}$`),
	"EL": regexp.MustCompile(`^[0-9]{9}$`),
	"ES": regexp.MustCompile(`^([A-Z][0-9]{7}[A-Z0-9]|[0-9]{8}[A-Z])$`),
	"FI": regexp.MustCompile(`^[0-9]{8}$`),
	// The key is checked against the SIREN when it is numeric; a key with a
	// letter (old numbers of entities without a SIREN) has no formula.
	"FR": regexp.MustCompile(`^[0-9A-HJ-NP-Z]{2}[0-9]{9}$`),
	"HR": regexp.MustCompile(`^[0-9]{11}$`),
	"HU": regexp.MustCompile(`^[0-9]{8}$`),
	"IE": regexp.MustCompile(`^([0-9]{7}[A-W][A-IW]?|[0-9][A-Z+*][0-9]{5}[A-W])$`),
	"IT": regexp.MustCompile(`^[0-9]{11}$`),
	"LT": regexp.MustCompile(`^([0-9]{9}|[0-9]{12})$`),
	"LU": regexp.MustCompile(`^[0-9]{8}$`),
	"LV": regexp.MustCompile(`^[0-9]{11}$`),
	"MT": regexp.MustCompile(`^[0-9]{8}$`),
	"NL": regexp.MustCompile(`^[0-9]{9}B[0-9]{2}$`),
	"PL": regexp.MustCompile(`^[0-9]{10}$`),
	"PT": regexp.MustCompile(`^[0-9]{9}$`),
	"RO": regexp.MustCompile(`^[1-9][0-9]{1,9}$`),
	"SE": regexp.MustCompile(`^[0-9]{10}01$`),
	"SI": regexp.MustCompile(`^[0-9]{8}$`),
	"SK": regexp.MustCompile(`^[0-9]{10}$`),
	"XI": regexp.MustCompile(`^([0-9]{9}|[0-9]{12}|GD[0-4][0-9]{2}|HA[5-9][0-9]{2})$`),
}

// otherVAT is the shape accepted for a country outside the EU, whose tax
// number only appears on documents: two letters then 2 to 13 letters or
// digits.
var (
	otherVAT = regexp.MustCompile(`^[0-9A-Z+*]{2,13}$`)
	vatChars = regexp.MustCompile(`^[0-9A-Z+*]+$`)
)

// VATPrefix is the prefix of VAT numbers of a country: its ISO code, except
// EL for Greece (GR).
func VATPrefix(country string) string {
	if country == "GR" {
		return "EL"
	}
	return country
}

// ErrVATNumber is matched (errors.Is) by every error of CheckVATNumber.
var ErrVATNumber = errors.New("invalid VAT number")

type vatError struct{ msg string }

func (e *vatError) Error() string        { return e.msg }
func (e *vatError) Is(target error) bool { return target == ErrVATNumber }

func vatErrorf(format string, args ...any) error {
	return &vatError{fmt.Sprintf(format, args...)}
}

// CheckVATNumber checks vat, written without spaces, as the VAT number of an
// account in country: the country's prefix (EL for Greece; GB accounts may
// also hold a Northern Ireland XI number), the member state's syntax, and
// for France the key against the SIREN inside; when siren is not empty the
// French number must carry that SIREN. Outside the EU only the prefix and a
// general shape are checked. The error says what is wrong, without the
// field's name.
func CheckVATNumber(country, vat, siren string) error {
	if len(vat) < 2 || !vatChars.MatchString(vat) {
		return vatErrorf("%q is not a VAT number: the country prefix then the number, in upper-case letters and digits, without spaces or punctuation", vat)
	}
	prefix, rest := vat[:2], vat[2:]
	want := VATPrefix(country)
	northernIreland := country == "GB" && prefix == "XI"
	if prefix != want && !northernIreland {
		if country == "GR" && prefix == "GR" {
			return vatErrorf("%q: Greek VAT numbers start with EL, not GR", vat)
		}
		return vatErrorf("%q does not start with %s, the prefix of the account's country %s", vat, want, country)
	}
	re, eu := vatSyntax[prefix]
	if !eu {
		if !otherVAT.MatchString(rest) {
			return vatErrorf("%q is not a VAT number: two letters then 2 to 13 letters or digits, without spaces", vat)
		}
		return nil
	}
	if !re.MatchString(rest) {
		return vatErrorf("%q is not a valid %s VAT number (expected %s)", vat, prefix, vatShapes[prefix])
	}
	if prefix != "FR" {
		return nil
	}
	key, num := rest[:2], rest[2:]
	if siren != "" && num != siren {
		return vatErrorf("%q carries the SIREN %s, not the account's SIREN %s", vat, num, siren)
	}
	if !allDigits(key) {
		return nil
	}
	if !ValidSIREN(num) {
		return vatErrorf("%q: %s is not a valid SIREN (Luhn check)", vat, num)
	}
	if k := FrenchVATKey(num); key != k {
		return vatErrorf("%q: the key %s does not match the SIREN %s (expected %s)", vat, key, num, FrenchVATNumber(num))
	}
	return nil
}

// vatShapes describes vatSyntax in words, for error messages.
var vatShapes = map[string]string{
	"AT": "ATU then 8 digits", "BE": "BE then 10 digits starting with 0 or 1", "BG": "BG then 9 or 10 digits",
	"CY": "CY then 8 digits and a letter", "CZ": "CZ then 8 to 10 digits", "DE": "DE then 9 digits",
	"DK": "DK then 8 digits", "EE": "EE then 9 digits", "EL": "EL then 9 digits",
	"ES": "ES then 9 characters: a letter or digit, 7 digits, a letter or digit", "FI": "FI then 8 digits",
	"FR": "FR then a 2-character key and the 9-digit SIREN", "HR": "HR then 11 digits", "HU": "HU then 8 digits",
	"IE": "IE then 8 or 9 characters: 7 digits and 1 or 2 letters", "IT": "IT then 11 digits",
	"LT": "LT then 9 or 12 digits", "LU": "LU then 8 digits", "LV": "LV then 11 digits", "MT": "MT then 8 digits",
	"NL": "NL then 9 digits, B and 2 digits", "PL": "PL then 10 digits", "PT": "PT then 9 digits",
	"RO": "RO then 2 to 10 digits", "SE": "SE then 12 digits ending in 01", "SI": "SI then 8 digits",
	"SK": "SK then 10 digits", "XI": "XI then 9 or 12 digits, or GD/HA and 3 digits",
}

// ValidIBAN reports whether s (upper case, no spaces) is an IBAN: a
// country code, 2 check digits and 11 to 30 letters or digits, with the
// ISO 13616 mod-97 check equal to 1.
func ValidIBAN(s string) bool {
	if !ibanRE.MatchString(s) {
		return false
	}
	return mod97(s[4:]+s[:4]) == 1
}

var (
	ibanRE = regexp.MustCompile(`^[A-Z]{2}[0-9]{2}[0-9A-Z]{11,30}$`)
	bicRE  = regexp.MustCompile(`^[A-Z]{4}[A-Z]{2}[0-9A-Z]{2}([0-9A-Z]{3})?$`)
	// A SEPA creditor identifier: country, check digits, a 3-character
	// business code (ignored by the check), then the national identifier.
	sepaCIRE = regexp.MustCompile(`^[A-Z]{2}[0-9]{2}[0-9A-Z]{3}[0-9A-Z]{1,28}$`)
)

// ValidBIC reports whether s is a BIC (ISO 9362): 4 letters of institution,
// a 2-letter country code, 2 characters of location, optionally 3 of branch.
func ValidBIC(s string) bool { return bicRE.MatchString(s) && ValidCountry(s[4:6]) }

// ValidSEPACreditorID reports whether s is a SEPA creditor identifier
// (EPC262-08): the mod-97 check of the national identifier followed by the
// country code and check digits must equal 1; the business code is left out
// of the computation.
func ValidSEPACreditorID(s string) bool {
	if !sepaCIRE.MatchString(s) {
		return false
	}
	return mod97(s[7:]+s[:4]) == 1
}

// mod97 is ISO 7064 MOD 97-10 of s with letters as 10 (A) to 35 (Z).
func mod97(s string) int64 {
	var b strings.Builder
	for _, r := range s {
		if r >= 'A' && r <= 'Z' {
			fmt.Fprintf(&b, "%d", r-'A'+10)
		} else {
			b.WriteRune(r)
		}
	}
	n, ok := new(big.Int).SetString(b.String(), 10)
	if !ok {
		return -1
	}
	return new(big.Int).Mod(n, big.NewInt(97)).Int64()
}

// Language is the language of an account's documents and emails (SPEC §2).
type Language string

// The languages documents are written in.
const (
	LanguageFrench  Language = "fr"
	LanguageEnglish Language = "en"
)

// Valid reports whether l is a language documents are written in.
func (l Language) Valid() bool { return l == LanguageFrench || l == LanguageEnglish }

// DefaultLanguage is the language of an account that names none: French
// for French accounts, English for every other (SPEC §2). Migration 0012
// applies the same rule to rows written without a language.
func DefaultLanguage(country string) Language {
	if country == "FR" {
		return LanguageFrench
	}
	return LanguageEnglish
}

// EUVATPrefix reports whether prefix begins the VAT numbers of an EU member
// state (EL for Greece) or of Northern Ireland (XI): those the VIES knows.
func EUVATPrefix(prefix string) bool { _, ok := vatSyntax[prefix]; return ok }
