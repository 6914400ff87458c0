package pgdb

import (
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/shopspring/decimal"
)

// registerArrays gives numeric[] and text[] the codec of fastArrayCodec.
// Register after registerNumeric, whose numeric type it takes as numeric[]'s
// element.
func registerArrays(m *pgtype.Map) {
	numeric, _ := m.TypeForOID(pgtype.NumericOID)
	text, _ := m.TypeForOID(pgtype.TextOID)
	m.RegisterType(&pgtype.Type{Name: "_numeric", OID: pgtype.NumericArrayOID, Codec: fastArrayCodec{&pgtype.ArrayCodec{ElementType: numeric}}})
	m.RegisterType(&pgtype.Type{Name: "_text", OID: pgtype.TextArrayOID, Codec: fastArrayCodec{&pgtype.ArrayCodec{ElementType: text}}})
}

// fastArrayCodec is pgx's ArrayCodec, writing a []decimal.Decimal or a
// []string in the binary format itself. pgx reaches their elements by
// reflection, boxing each in an interface: for the usage lines a draft
// writes (an invoice's hours, amounts and prices, its apps and
// resources, in arrays) that was a tenth of the run's worker CPU. The bytes
// are pgx's own (TestFastArrayEncoding).
type fastArrayCodec struct{ *pgtype.ArrayCodec }

func (c fastArrayCodec) PlanEncode(m *pgtype.Map, oid uint32, format int16, value any) pgtype.EncodePlan {
	if format == pgtype.BinaryFormatCode {
		switch value.(type) {
		case []decimal.Decimal:
			if c.ElementType.OID == pgtype.NumericOID {
				return decimalArrayPlan{elem: fastNumericPlan{m: m, oid: pgtype.NumericOID}}
			}
		case []string:
			if c.ElementType.OID == pgtype.TextOID {
				return stringArrayPlan{}
			}
		}
	}
	return c.ArrayCodec.PlanEncode(m, oid, format, value)
}

// appendArrayHeader writes a one-dimensional array's header as pgx does: a
// nil slice is NULL (the caller returns nil), an empty one a dimension of
// length 0.
func appendArrayHeader(buf []byte, n int, elemOID uint32) []byte {
	buf = appendInt32(buf, 1) // dimensions
	buf = appendInt32(buf, 0) // no NULL element
	buf = appendInt32(buf, int32(elemOID))
	buf = appendInt32(buf, int32(n))
	return appendInt32(buf, 1) // lower bound
}

func appendInt32(buf []byte, v int32) []byte {
	return append(buf, byte(v>>24), byte(v>>16), byte(v>>8), byte(v))
}

// appendElement writes one element after its length, which it fills in.
func appendElement(buf []byte, write func([]byte) ([]byte, error)) ([]byte, error) {
	at := len(buf)
	buf, err := write(appendInt32(buf, 0))
	if err != nil {
		return nil, err
	}
	n := int32(len(buf) - at - 4)
	buf[at], buf[at+1], buf[at+2], buf[at+3] = byte(n>>24), byte(n>>16), byte(n>>8), byte(n)
	return buf, nil
}

type decimalArrayPlan struct{ elem fastNumericPlan }

func (p decimalArrayPlan) Encode(value any, buf []byte) ([]byte, error) {
	ds := value.([]decimal.Decimal)
	if ds == nil {
		return nil, nil
	}
	buf = appendArrayHeader(buf, len(ds), pgtype.NumericOID)
	var err error
	for _, d := range ds {
		if buf, err = appendElement(buf, func(b []byte) ([]byte, error) { return p.elem.Encode(d, b) }); err != nil {
			return nil, err
		}
	}
	return buf, nil
}

type stringArrayPlan struct{}

func (stringArrayPlan) Encode(value any, buf []byte) ([]byte, error) {
	ss := value.([]string)
	if ss == nil {
		return nil, nil
	}
	buf = appendArrayHeader(buf, len(ss), pgtype.TextOID)
	for _, s := range ss {
		buf = appendInt32(buf, int32(len(s)))
		buf = append(buf, s...)
	}
	return buf, nil
}
