package pgdb

import (
	"encoding/binary"
	"fmt"

	pgxdecimal "github.com/jackc/pgx-shopspring-decimal"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/shopspring/decimal"

	"github.com/billingengine/engine/billing"
)

// registerNumeric makes a connection read numeric columns into
// billing.Money, decimal.Decimal and decimal.NullDecimal from the binary
// format, and write Money in it. pgx looks for a database/sql Scanner
// before it tries the wrappers pgx-shopspring-decimal registers, and all
// three types are Scanners: without this, every amount and quantity read
// was formatted as text by pgx and parsed again by the Scanner (a sixth of
// the worker's CPU during a run, where the invoice lines are read back for
// the events), and every Money written was formatted and parsed the other
// way. Register after pgxdecimal.Register, whose codec this one extends.
func registerNumeric(m *pgtype.Map) {
	m.TryWrapEncodePlanFuncs = append([]pgtype.TryWrapEncodePlanFunc{tryWrapMoneyEncodePlan}, m.TryWrapEncodePlanFuncs...)
	m.RegisterType(&pgtype.Type{Name: "numeric", OID: pgtype.NumericOID, Codec: numericCodec{}})
	// numeric[] (an invoice's usage lines, migration 0024) with the same
	// codec for its elements.
	registerArrays(m)
}

// numericCodec is pgx-shopspring-decimal's numeric codec, planning the
// binary scans of our three types itself.
type numericCodec struct{ pgxdecimal.NumericCodec }

func (c numericCodec) PlanScan(m *pgtype.Map, oid uint32, format int16, target any) pgtype.ScanPlan {
	if format == pgtype.BinaryFormatCode {
		// The codec's plan for any NumericScanner, applied to the target
		// seen as the wrapper type that is one.
		next := c.NumericCodec.PlanScan(m, oid, format, (*pgxdecimal.Decimal)(nil))
		switch target.(type) {
		case *billing.Money:
			return fastScan(scanAs(next, func(dst any) any { return (*pgMoney)(dst.(*billing.Money)) }))
		case *decimal.Decimal:
			return fastScan(scanAs(next, func(dst any) any { return (*pgxdecimal.Decimal)(dst.(*decimal.Decimal)) }))
		case *decimal.NullDecimal:
			return fastScan(scanAs(next, func(dst any) any { return (*pgxdecimal.NullDecimal)(dst.(*decimal.NullDecimal)) }))
		}
	}
	return c.NumericCodec.PlanScan(m, oid, format, target)
}

func scanAs(next pgtype.ScanPlan, as func(any) any) pgtype.ScanPlan {
	if next == nil {
		return nil
	}
	return scanPlanAs{next: next, as: as}
}

type scanPlanAs struct {
	next pgtype.ScanPlan
	as   func(any) any
}

func (p scanPlanAs) Scan(src []byte, dst any) error { return p.next.Scan(src, p.as(dst)) }

// pgMoney is billing.Money as pgx's numeric codec reads and writes it.
type pgMoney billing.Money

// ScanNumeric keeps Money's rule: an amount with fractions of a cent is
// an error, not rounded; so is NULL.
func (m *pgMoney) ScanNumeric(v pgtype.Numeric) error {
	var d pgxdecimal.Decimal
	if err := d.ScanNumeric(v); err != nil {
		return fmt.Errorf("scanning money: %w", err)
	}
	money, err := billing.ExactMoney(decimal.Decimal(d))
	if err != nil {
		return err
	}
	*m = pgMoney(money)
	return nil
}

func (m pgMoney) NumericValue() (pgtype.Numeric, error) {
	return pgxdecimal.Decimal(billing.Money(m).Decimal()).NumericValue()
}

func tryWrapMoneyEncodePlan(value any) (pgtype.WrappedEncodePlanNextSetter, any, bool) {
	if v, ok := value.(billing.Money); ok {
		return &wrapMoneyEncodePlan{}, pgMoney(v), true
	}
	return nil, nil, false
}

type wrapMoneyEncodePlan struct{ next pgtype.EncodePlan }

func (p *wrapMoneyEncodePlan) SetNext(next pgtype.EncodePlan) { p.next = next }

func (p *wrapMoneyEncodePlan) Encode(value any, buf []byte) ([]byte, error) {
	return p.next.Encode(pgMoney(value.(billing.Money)), buf)
}

// PlanEncode writes decimal.Decimal and Money in the binary format
// without big.Int arithmetic when their coefficient is small (always, for
// amounts and hours): pgx's encoder converts every value to base 10,000
// with big.Int divisions, a tenth of the run's worker CPU in the COPYs of
// invoices and lines. The bytes are pgx's own (TestNumericFastEncoding);
// a value too large falls back to it.
func (c numericCodec) PlanEncode(m *pgtype.Map, oid uint32, format int16, value any) pgtype.EncodePlan {
	if format == pgtype.BinaryFormatCode {
		switch value.(type) {
		case decimal.Decimal, pgxdecimal.Decimal, billing.Money, pgMoney:
			return fastNumericPlan{m: m, codec: c.NumericCodec, oid: oid}
		}
	}
	return c.NumericCodec.PlanEncode(m, oid, format, value)
}

type fastNumericPlan struct {
	m     *pgtype.Map
	codec pgxdecimal.NumericCodec
	oid   uint32
}

func (p fastNumericPlan) Encode(value any, buf []byte) ([]byte, error) {
	var d decimal.Decimal
	switch v := value.(type) {
	case decimal.Decimal:
		d = v
	case pgxdecimal.Decimal:
		d = decimal.Decimal(v)
	case billing.Money:
		d = v.Decimal()
	case pgMoney:
		d = billing.Money(v).Decimal()
	}
	if out, ok := appendNumericBinary(buf, d); ok {
		return out, nil
	}
	slow := pgxdecimal.Decimal(d)
	plan := p.codec.PlanEncode(p.m, p.oid, pgtype.BinaryFormatCode, slow)
	if plan == nil {
		return nil, fmt.Errorf("cannot encode %s as numeric", d)
	}
	return plan.Encode(slow, buf)
}

var pow10 = [...]uint64{1, 10, 100, 1000, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18}

// appendNumericBinary appends d in numeric's binary format (digits in
// base 10,000, weight, sign, display scale) as pgx's encodeNumericBinary
// does, digit for digit, when the coefficient has at most 15 digits and
// at most 16 decimals: every uint64 below stays under 2×10^18. ok is
// false otherwise.
func appendNumericBinary(buf []byte, d decimal.Decimal) (_ []byte, ok bool) {
	if d.NumDigits() > 15 {
		return buf, false
	}
	c, e := d.CoefficientInt64(), d.Exponent()
	var sign uint16
	u := uint64(c)
	if c < 0 {
		sign, u = 0x4000, uint64(-c)
	}
	// The exponent made a multiple of 4 (rounded down), as pgx does, so
	// that digits split on base-10,000 boundaries.
	exp := e
	switch e % 4 {
	case 1, -3:
		exp, u = e-1, u*10
	case 2, -2:
		exp, u = e-2, u*100
	case 3, -1:
		exp, u = e-3, u*1000
	}
	if exp < -16 || exp > 4*1000 {
		return buf, false
	}
	var whole, frac uint64
	if exp < 0 {
		div := pow10[-exp]
		whole, frac = u/div, u%div+div
	} else {
		whole = u
	}
	var digits [12]uint16 // at most 5 whole and 4 fraction digits
	nWhole := 0
	for ; whole != 0; whole /= 10000 {
		digits[nWhole] = uint16(whole % 10000)
		nWhole++
	}
	var fracDigits [4]uint16
	nFrac := 0
	if frac != 0 {
		for ; frac != 1; frac /= 10000 {
			fracDigits[nFrac] = uint16(frac % 10000)
			nFrac++
		}
	}
	var weight int
	if nWhole > 0 {
		weight = nWhole - 1
		if exp > 0 {
			weight += int(exp) / 4
		}
	} else {
		weight = int(exp)/4 - 1 + nFrac
	}
	var dscale uint16
	if e < 0 {
		dscale = uint16(-e)
	}
	buf = binary.BigEndian.AppendUint16(buf, uint16(nWhole+nFrac))
	buf = binary.BigEndian.AppendUint16(buf, uint16(int16(weight)))
	buf = binary.BigEndian.AppendUint16(buf, sign)
	buf = binary.BigEndian.AppendUint16(buf, dscale)
	for i := nWhole - 1; i >= 0; i-- {
		buf = binary.BigEndian.AppendUint16(buf, digits[i])
	}
	for i := nFrac - 1; i >= 0; i-- {
		buf = binary.BigEndian.AppendUint16(buf, fracDigits[i])
	}
	return buf, true
}

// fastScan reads small numerics (at most 16 significant digits, every
// amount and quantity) without big.Int, into the value pgx's decoding
// would give, coefficient and exponent alike (TestNumericFastDecoding);
// anything else (NULL, NaN, infinities, larger values, malformed input)
// is next's, with its errors.
func fastScan(next pgtype.ScanPlan) pgtype.ScanPlan {
	if next == nil {
		return nil
	}
	return fastScanPlan{next: next}
}

type fastScanPlan struct{ next pgtype.ScanPlan }

func (p fastScanPlan) Scan(src []byte, dst any) error {
	d, ok := decodeNumericBinary(src)
	if !ok {
		return p.next.Scan(src, dst)
	}
	switch t := dst.(type) {
	case *decimal.Decimal:
		*t = d
	case *decimal.NullDecimal:
		*t = decimal.NullDecimal{Decimal: d, Valid: true}
	case *billing.Money:
		m, err := billing.ExactMoney(d)
		if err != nil {
			return err
		}
		*t = m
	default:
		return p.next.Scan(src, dst)
	}
	return nil
}

// decodeNumericBinary is pgx's decoding of a binary numeric (its
// scanPlanBinaryNumericToNumericScanner), step for step, in uint64
// arithmetic; ok is false where that would not do.
func decodeNumericBinary(src []byte) (_ decimal.Decimal, ok bool) {
	if len(src) < 8 {
		return decimal.Decimal{}, false
	}
	ndigits := int(binary.BigEndian.Uint16(src))
	weight := int(int16(binary.BigEndian.Uint16(src[2:])))
	sign := binary.BigEndian.Uint16(src[4:])
	dscale := int(int16(binary.BigEndian.Uint16(src[6:])))
	if sign != 0 && sign != 0x4000 || ndigits > 4 || len(src) != 8+2*ndigits {
		return decimal.Decimal{}, false
	}
	if ndigits == 0 {
		return decimal.New(0, 0), true
	}
	var u uint64
	for i := range ndigits {
		u = u*10000 + uint64(binary.BigEndian.Uint16(src[8+2*i:]))
	}
	exp := (weight - ndigits + 1) * 4
	if dscale > 0 {
		frac := (ndigits - weight - 1) * 4
		switch {
		case dscale > frac:
			// Below 10^18, so within int64.
			k := dscale - frac
			if k > 18 || u >= pow10[18-k] {
				return decimal.Decimal{}, false
			}
			u *= pow10[k]
			exp -= k
		case dscale < frac:
			k := frac - dscale
			if k > 16 {
				return decimal.Decimal{}, false
			}
			u /= pow10[k]
			exp += k
		}
	}
	if exp >= 0 && u != 0 {
		for u%10 == 0 {
			u /= 10
			exp++
		}
	}
	c := int64(u)
	if sign != 0 {
		c = -c
	}
	return decimal.New(c, int32(exp)), true
}
