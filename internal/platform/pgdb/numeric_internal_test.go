package pgdb

import (
	"encoding/binary"
	"fmt"
	"math/big"
	"testing"

	pgxdecimal "github.com/jackc/pgx-shopspring-decimal"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/shopspring/decimal"
	"github.com/stretchr/testify/require"
	"pgregory.net/rapid"

	"github.com/billingengine/engine/billing"
)

// slowNumeric is pgx's own binary encoding of d (through
// pgx-shopspring-decimal's NumericValuer and big.Int).
func slowNumeric(t require.TestingT, d decimal.Decimal) []byte {
	m := pgtype.NewMap()
	v := pgxdecimal.Decimal(d)
	plan := pgxdecimal.NumericCodec{}.PlanEncode(m, pgtype.NumericOID, pgtype.BinaryFormatCode, v)
	require.NotNil(t, plan)
	out, err := plan.Encode(v, nil)
	require.NoError(t, err)
	return out
}

// TestNumericFastEncoding: the fast binary encoding is pgx's byte for
// byte, for every coefficient of up to 15 digits and exponent it takes,
// and declines the others (which pgx then encodes).
func TestNumericFastEncoding(t *testing.T) {
	for _, s := range []string{"0", "0.00", "-0.01", "12.34", "96.000000", "0.0278", "10000", "123456789012.99", "-5.10",
		"1e8", "7", "0.000000000001", "999999999999999", "-0.5"} {
		d := decimal.RequireFromString(s)
		got, ok := appendNumericBinary(nil, d)
		require.True(t, ok, s)
		require.Equal(t, slowNumeric(t, d), got, s)
	}
	rapid.Check(t, func(t *rapid.T) {
		c := rapid.Int64Range(-999_999_999_999_999, 999_999_999_999_999).Draw(t, "coefficient")
		e := int32(rapid.IntRange(-16, 40).Draw(t, "exponent"))
		d := decimal.New(c, e)
		got, ok := appendNumericBinary([]byte{0xff}, d)
		require.True(t, ok, "%s", d)
		require.Equal(t, append([]byte{0xff}, slowNumeric(t, d)...), got, "%s", d)
	})
	for _, d := range []decimal.Decimal{
		decimal.NewFromBigInt(new(big.Int).Exp(big.NewInt(10), big.NewInt(20), nil), 0), // 21 digits
		decimal.New(1, -20), // 20 decimals
	} {
		_, ok := appendNumericBinary(nil, d)
		require.False(t, ok, "%s", d)
	}
}

// A connection's map plans the fast encoding for amounts and decimals,
// alone and in arrays, and encodes what pgx would.
func TestNumericFastEncodingIsPlanned(t *testing.T) {
	m := pgtype.NewMap()
	pgxdecimal.Register(m)
	registerNumeric(m)
	for _, v := range []any{decimal.RequireFromString("12.34"), billing.MustParseMoney("12.34")} {
		plan := m.PlanEncode(pgtype.NumericOID, pgtype.BinaryFormatCode, v)
		require.IsType(t, fastNumericPlan{}, plan, "%T", v)
		out, err := plan.Encode(v, nil)
		require.NoError(t, err)
		require.Equal(t, slowNumeric(t, decimal.RequireFromString("12.34")), out)
	}
	arr, err := m.Encode(pgtype.NumericArrayOID, pgtype.BinaryFormatCode, []billing.Money{billing.MustParseMoney("1.10")}, nil)
	require.NoError(t, err)
	require.NotEmpty(t, arr)
	// A coefficient too large for the fast path is pgx's.
	large := decimal.RequireFromString("123456789012345678901234.5")
	out, err := m.Encode(pgtype.NumericOID, pgtype.BinaryFormatCode, large, nil)
	require.NoError(t, err)
	require.Equal(t, slowNumeric(t, large), out)
}

var slowScan = pgxdecimal.NumericCodec{}.PlanScan(pgtype.NewMap(), pgtype.NumericOID, pgtype.BinaryFormatCode, &pgxdecimal.Decimal{})

// slowDecode is pgx's own decoding of a binary numeric.
func slowDecode(src []byte) (decimal.Decimal, error) {
	var d pgxdecimal.Decimal
	err := slowScan.Scan(src, &d)
	return decimal.Decimal(d), err
}

func sameDecoding(t require.TestingT, src []byte) {
	got, ok := decodeNumericBinary(src)
	if !ok {
		return
	}
	want, err := slowDecode(src)
	require.NoError(t, err)
	require.Equal(t, want.Exponent(), got.Exponent(), "%x: %s vs %s", src, want, got)
	require.Zero(t, want.Coefficient().Cmp(got.Coefficient()), "%x: %s vs %s", src, want, got)
}

// TestNumericFastDecoding: whatever binary numeric arrives, the fast
// decoding either declines it or gives what pgx's gives, coefficient and
// exponent alike (so that formatting by the exponent is unchanged).
func TestNumericFastDecoding(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		n := rapid.IntRange(0, 5).Draw(t, "ndigits")
		src := binary.BigEndian.AppendUint16(nil, uint16(n))
		src = binary.BigEndian.AppendUint16(src, uint16(int16(rapid.IntRange(-6, 6).Draw(t, "weight"))))
		src = binary.BigEndian.AppendUint16(src, rapid.SampledFrom([]uint16{0, 0x4000, 0xC000}).Draw(t, "sign"))
		src = binary.BigEndian.AppendUint16(src, uint16(rapid.IntRange(0, 24).Draw(t, "dscale")))
		for i := range n {
			src = binary.BigEndian.AppendUint16(src, uint16(rapid.IntRange(0, 9999).Draw(t, fmt.Sprint("digit", i))))
		}
		sameDecoding(t, src)
	})
	// And every shape of small numeric, with digits that end in zeros or
	// not.
	digits := []uint16{0, 1, 10, 1230, 9999}
	for n := range 4 {
		for weight := -3; weight <= 3; weight++ {
			for dscale := 0; dscale <= 8; dscale++ {
				for _, sign := range []uint16{0, 0x4000} {
					combos := 1
					for range n {
						combos *= len(digits)
					}
					for c := range combos {
						src := binary.BigEndian.AppendUint16(nil, uint16(n))
						src = binary.BigEndian.AppendUint16(src, uint16(int16(weight)))
						src = binary.BigEndian.AppendUint16(src, sign)
						src = binary.BigEndian.AppendUint16(src, uint16(dscale))
						for i := 0; i < n; i, c = i+1, c/len(digits) {
							src = binary.BigEndian.AppendUint16(src, digits[c%len(digits)])
						}
						sameDecoding(t, src)
					}
				}
			}
		}
	}
	// Every encoded amount reads back as itself.
	rapid.Check(t, func(t *rapid.T) {
		d := decimal.New(rapid.Int64Range(-999_999_999_999_999, 999_999_999_999_999).Draw(t, "c"), int32(rapid.IntRange(-12, 0).Draw(t, "e")))
		src, ok := appendNumericBinary(nil, d)
		require.True(t, ok)
		got, ok := decodeNumericBinary(src)
		if !ok {
			return
		}
		want, err := slowDecode(src)
		require.NoError(t, err)
		require.True(t, got.Equal(d))
		require.Equal(t, want.Exponent(), got.Exponent())
	})
}

// numeric[] and text[] written by fastArrayCodec are the bytes pgx writes
// through reflection: NULL for a nil slice, a dimension of length 0 for an
// empty one, each element as the element's codec writes it (a decimal too
// large for appendNumericBinary included).
func TestFastArrayEncoding(t *testing.T) {
	fast := pgtype.NewMap()
	pgxdecimal.Register(fast)
	registerNumeric(fast)
	slow := pgtype.NewMap()
	pgxdecimal.Register(slow)
	require.IsType(t, decimalArrayPlan{}, fast.PlanEncode(pgtype.NumericArrayOID, pgtype.BinaryFormatCode, []decimal.Decimal{}))
	require.IsType(t, stringArrayPlan{}, fast.PlanEncode(pgtype.TextArrayOID, pgtype.BinaryFormatCode, []string{}))
	same := func(t require.TestingT, oid uint32, v any) {
		want, err := slow.Encode(oid, pgtype.BinaryFormatCode, v, []byte{0xee})
		require.NoError(t, err)
		got, err := fast.Encode(oid, pgtype.BinaryFormatCode, v, []byte{0xee})
		require.NoError(t, err)
		require.Equal(t, want, got, "%#v", v)
	}
	same(t, pgtype.NumericArrayOID, []decimal.Decimal(nil))
	same(t, pgtype.NumericArrayOID, []decimal.Decimal{})
	same(t, pgtype.NumericArrayOID, []decimal.Decimal{decimal.RequireFromString("96.000000"), decimal.RequireFromString("-0.01"),
		decimal.RequireFromString("123456789012345678901234.5")})
	same(t, pgtype.TextArrayOID, []string(nil))
	same(t, pgtype.TextArrayOID, []string{})
	same(t, pgtype.TextArrayOID, []string{"web", "", "container:M", "Kléber — 東京"})
	rapid.Check(t, func(rt *rapid.T) {
		n := rapid.IntRange(0, 20).Draw(rt, "n")
		ds, ss := make([]decimal.Decimal, n), make([]string, n)
		for i := range n {
			ds[i] = decimal.New(rapid.Int64Range(-999_999_999_999_999, 999_999_999_999_999).Draw(rt, "c"), int32(rapid.IntRange(-12, 6).Draw(rt, "e")))
			ss[i] = rapid.String().Draw(rt, "s")
		}
		same(rt, pgtype.NumericArrayOID, ds)
		same(rt, pgtype.TextArrayOID, ss)
	})
}
