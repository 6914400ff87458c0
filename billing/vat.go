package billing

import (
	"fmt"
	"sort"
	"strings"

	"github.com/shopspring/decimal"
)

// VATTreatment says which VAT rule applied to an invoice (SPEC §3).
type VATTreatment string

const (
	// VATDomestic: the customer is in the seller's country.
	VATDomestic VATTreatment = "domestic"
	// VATReverseCharge: another EU country, with a VAT number; the customer
	// accounts for the VAT.
	VATReverseCharge VATTreatment = "reverse_charge"
	// VATOSS: another EU country, without a VAT number: the customer
	// country's rate, declared through the One-Stop Shop.
	VATOSS VATTreatment = "oss"
	// VATOutsideEU: the customer is outside the EU: no VAT.
	VATOutsideEU VATTreatment = "outside_eu"
)

// Regime is the name a treatment goes by in the invoice JSON and the VAT
// report (SPEC §15): the stored outside_eu is outside_scope there, the
// other treatments keep their names.
func (t VATTreatment) Regime() string {
	if t == VATOutsideEU {
		return "outside_scope"
	}
	return string(t)
}

// Mentions printed on invoices whose VAT rate is 0.
const (
	MentionReverseCharge = "Reverse charge"
	MentionNotApplicable = "VAT not applicable"
)

// VAT is the rule applied to one invoice.
type VAT struct {
	Treatment VATTreatment
	Rate      decimal.Decimal // percent: 20 means 20 %
	Mention   string          // "" unless the rate is 0 by rule
}

// VATRates maps each EU member (ISO code) to its standard rate in percent.
type VATRates map[string]decimal.Decimal

// DefaultVATRates returns the standard rates of the 27 EU members as of
// 2026. Config can override any of them (BILLING_VAT_RATES).
func DefaultVATRates() VATRates {
	table := map[string]string{
		"AT": "20", "BE": "21", "BG": "20", "CY": "19", "CZ": "21", "DE": "19", "DK": "25",
		"EE": "24", "ES": "21", "FI": "25.5", "FR": "20", "GR": "24", "HR": "25", "HU": "27",
		"IE": "23", "IT": "22", "LT": "21", "LU": "17", "LV": "21", "MT": "18", "NL": "21",
		"PL": "23", "PT": "23", "RO": "21", "SE": "25", "SI": "22", "SK": "23",
	}
	r := make(VATRates, len(table))
	for c, v := range table {
		r[c] = decimal.RequireFromString(v)
	}
	return r
}

// IsEU reports whether country is one of the 27 EU member states.
func IsEU(country string) bool {
	_, ok := DefaultVATRates()[country]
	return ok
}

// ParseVATRates reads overrides such as "FR=20,DE=19,FI=25.5" on top of the
// default table. Only EU members can be given a rate.
func ParseVATRates(s string) (VATRates, error) {
	rates := DefaultVATRates()
	for _, kv := range strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == ' ' }) {
		c, v, ok := strings.Cut(kv, "=")
		if !ok {
			return nil, fmt.Errorf("VAT rate %q: want COUNTRY=RATE", kv)
		}
		if _, eu := rates[c]; !eu {
			return nil, fmt.Errorf("VAT rate %q: %s is not an EU member", kv, c)
		}
		d, err := decimal.NewFromString(v)
		if err != nil || d.IsNegative() || d.GreaterThanOrEqual(decimal.NewFromInt(100)) {
			return nil, fmt.Errorf("VAT rate %q: want a percentage from 0 to 100", kv)
		}
		rates[c] = d
	}
	return rates, nil
}

// String lists the table as COUNTRY=RATE pairs, sorted.
func (r VATRates) String() string {
	keys := make([]string, 0, len(r))
	for k := range r {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = k + "=" + r[k].String()
	}
	return strings.Join(parts, ",")
}

// Decide applies SPEC §3's VAT rule for a seller in seller (an EU member) and
// a customer in country, with or without a VAT number.
func (r VATRates) Decide(seller, country string, hasVATNumber bool) (VAT, error) {
	sellerRate, ok := r[seller]
	if !ok {
		return VAT{}, fmt.Errorf("seller country %q has no VAT rate (it must be an EU member)", seller)
	}
	rate, eu := r[country]
	switch {
	case country == seller:
		return VAT{Treatment: VATDomestic, Rate: sellerRate}, nil
	case eu && hasVATNumber:
		return VAT{Treatment: VATReverseCharge, Rate: decimal.Zero, Mention: MentionReverseCharge}, nil
	case eu:
		return VAT{Treatment: VATOSS, Rate: rate}, nil
	default:
		return VAT{Treatment: VATOutsideEU, Rate: decimal.Zero, Mention: MentionNotApplicable}, nil
	}
}
