package invoices

import (
	"bytes"
	"encoding/json"

	"github.com/shopspring/decimal"
)

// parsePrices reads a usage line's prices column as Postgres gives it back:
// jsonb's canonical text, [{"hours": "96.000000", "price_per_hour":
// "0.0278"}, …] (keys ordered by length, ": " and ", " between). That form
// is read directly: the documents and the events read every line of every
// invoice, and encoding/json's reflection over it was a twentieth of a
// document's CPU. Anything else goes through encoding/json, which gives
// the same values for the canonical form.
func parsePrices(b []byte) ([]DocumentPrice, error) {
	if out, ok := parseCanonicalPrices(b); ok {
		return out, nil
	}
	var out []DocumentPrice
	err := json.Unmarshal(b, &out)
	return out, err
}

var (
	pricesOpen  = []byte(`[{"hours": "`)
	pricesMid   = []byte(`", "price_per_hour": "`)
	pricesNext  = []byte(`"}, {"hours": "`)
	pricesClose = []byte(`"}]`)
)

func parseCanonicalPrices(b []byte) ([]DocumentPrice, bool) {
	rest, ok := bytes.CutPrefix(b, pricesOpen)
	if !ok {
		return nil, false
	}
	var out []DocumentPrice
	for {
		hours, after, ok := quotedNumber(rest)
		if !ok {
			return nil, false
		}
		if rest, ok = bytes.CutPrefix(after, pricesMid); !ok {
			return nil, false
		}
		perHour, after, ok := quotedNumber(rest)
		if !ok {
			return nil, false
		}
		out = append(out, DocumentPrice{PerHour: perHour, Hours: hours})
		if bytes.Equal(after, pricesClose) {
			return out, true
		}
		if rest, ok = bytes.CutPrefix(after, pricesNext); !ok {
			return nil, false
		}
	}
}

// quotedNumber reads a decimal up to the closing quote, which it leaves;
// a string with an escape or anything decimal does not read is not one.
func quotedNumber(b []byte) (decimal.Decimal, []byte, bool) {
	end := bytes.IndexByte(b, '"')
	if end <= 0 || bytes.IndexByte(b[:end], '\\') >= 0 {
		return decimal.Decimal{}, nil, false
	}
	d, err := decimal.NewFromString(string(b[:end]))
	if err != nil {
		return decimal.Decimal{}, nil, false
	}
	return d, b[end:], true
}
