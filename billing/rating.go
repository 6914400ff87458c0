package billing

import (
	"errors"
	"fmt"
	"math/big"
	"math/bits"
	"sort"
	"time"

	"github.com/shopspring/decimal"
)

// Segment is a span of usage: Quantity units of Resource for App from Start
// until End. A zero End means the segment is still running.
type Segment struct {
	App      string
	Resource string
	Quantity int64
	Start    time.Time
	End      time.Time
}

// PricePoint is a price that takes effect at From and holds until the next
// point of the same resource.
type PricePoint struct {
	From    time.Time
	PerHour decimal.Decimal
}

// Catalog maps each resource to its price points, oldest first.
type Catalog map[string][]PricePoint

// Add records a price point, keeping the resource's points in order.
func (c Catalog) Add(resource string, p PricePoint) {
	pts := append(c[resource], p)
	sort.Slice(pts, func(i, j int) bool { return pts[i].From.Before(pts[j].From) })
	c[resource] = pts
}

// PriceUse is the part of a usage line billed at one price: a line spans
// several when the price changed inside the period.
type PriceUse struct {
	PerHour decimal.Decimal
	Hours   decimal.Decimal // rounded to 6 decimals, like the line's
}

// UsageLine is the usage of one resource by one app over a period.
type UsageLine struct {
	App      string
	Resource string
	// Hours is Σ quantity × seconds / 3600, rounded half up to 6 decimals.
	Hours decimal.Decimal
	// Amount is Σ quantity × seconds × price / 3600, computed exactly and
	// rounded once, half up, to the cent.
	Amount decimal.Decimal
	// Prices details the line per price, oldest first.
	Prices []PriceUse
}

// Bounds on what enters the engine, chosen so that nothing accepted can
// overflow the columns an invoice is stored in: amounts are numeric(14, 2)
// (at most 999,999,999,999.99) and hours numeric(20, 6) (below 10¹⁴).
//
// A month has at most MaxHoursInMonth hours in any time zone (745 in
// Europe/Paris; 746 where the clock jumps two hours, Antarctica/Troll). One
// segment's month is then at most MaxQuantity × MaxHoursInMonth ×
// MaxPricePerHour = 373,000,000,000.00, below MaxSubtotal; and an invoice's
// total (subtotal − discount + tax, at a rate below 100 %) stays below
// 2 × MaxSubtotal, which fits. Only many such segments on one account can
// go further: drafting checks each account against MaxSubtotal and
// MaxLineHours and fails that account alone (invoices.DraftShard).
const (
	MaxQuantity     = 1_000_000
	MaxHoursInMonth = 746
)

var (
	// MaxPricePerHour bounds a catalog price.
	MaxPricePerHour = decimal.NewFromInt(500)
	// MaxSubtotal bounds one invoice's subtotal (its usage plus any
	// reversal it charges).
	MaxSubtotal = decimal.RequireFromString("499999999999.99")
	// MaxLineHours bounds one usage line's hours (numeric(20, 6)).
	MaxLineHours = decimal.RequireFromString("99999999999999.999999")
)

// ErrNoPrice is returned when usage falls before the first price of its
// resource (or the resource has none).
var ErrNoPrice = errors.New("no price in force")

// nanosPerHour turns quantity × nanoseconds into hours.
var nanosPerHour = decimal.NewFromInt(int64(time.Hour))

// uint128 accumulates quantity × nanoseconds exactly: a month of a large
// quantity overflows 64 bits.
type uint128 struct{ hi, lo uint64 }

func (u *uint128) addProduct(a, b uint64) {
	hi, lo := bits.Mul64(a, b)
	var carry uint64
	u.lo, carry = bits.Add64(u.lo, lo, 0)
	u.hi, _ = bits.Add64(u.hi, hi, carry)
}

func (u uint128) decimal() decimal.Decimal {
	var b big.Int
	b.SetUint64(u.hi)
	b.Lsh(&b, 64)
	b.Or(&b, new(big.Int).SetUint64(u.lo))
	return decimal.NewFromBigInt(&b, 0)
}

type lineKey struct{ app, resource string }

// Rate turns an account's segments into usage lines for the period
// [start, end) (SPEC §3): each segment's overlap with the period is split
// where its resource's price changes, and the pieces are summed per (app,
// resource) exactly, then rounded once. Lines whose amount rounds to 0.00 are
// dropped. Lines come sorted by app, then resource.
func Rate(segments []Segment, catalog Catalog, start, end time.Time) ([]UsageLine, error) {
	// Per line, quantity × nanoseconds accumulated per price point index.
	acc := map[lineKey]map[int]*uint128{}
	for _, s := range segments {
		if s.Quantity < 1 {
			return nil, fmt.Errorf("segment of %s/%s: quantity %d is below 1", s.App, s.Resource, s.Quantity)
		}
		a, b := s.Start, s.End
		if a.Before(start) {
			a = start
		}
		if b.IsZero() || b.After(end) {
			b = end
		}
		if !a.Before(b) {
			continue
		}
		points := catalog[s.Resource]
		if len(points) == 0 || a.Before(points[0].From) {
			return nil, fmt.Errorf("%w for %s at %s", ErrNoPrice, s.Resource, a.UTC().Format(time.RFC3339))
		}
		key := lineKey{s.App, s.Resource}
		byPrice := acc[key]
		if byPrice == nil {
			byPrice = map[int]*uint128{}
			acc[key] = byPrice
		}
		// The last point at or before a, then every change before b.
		i := sort.Search(len(points), func(i int) bool { return points[i].From.After(a) }) - 1
		for ; i < len(points) && points[i].From.Before(b); i++ {
			pa, pb := a, b
			if points[i].From.After(pa) {
				pa = points[i].From
			}
			if i+1 < len(points) && points[i+1].From.Before(pb) {
				pb = points[i+1].From
			}
			if !pa.Before(pb) {
				continue
			}
			u := byPrice[i]
			if u == nil {
				u = &uint128{}
				byPrice[i] = u
			}
			u.addProduct(uint64(s.Quantity), uint64(pb.Sub(pa)))
		}
	}

	lines := make([]UsageLine, 0, len(acc))
	for key, byPrice := range acc {
		idx := make([]int, 0, len(byPrice))
		for i := range byPrice {
			idx = append(idx, i)
		}
		sort.Ints(idx)
		points := catalog[key.resource]
		var qns, money decimal.Decimal // Σ quantity×ns, Σ quantity×ns×price
		line := UsageLine{App: key.app, Resource: key.resource}
		for _, i := range idx {
			n := byPrice[i].decimal()
			qns = qns.Add(n)
			money = money.Add(n.Mul(points[i].PerHour))
			line.Prices = append(line.Prices, PriceUse{PerHour: points[i].PerHour, Hours: n.DivRound(nanosPerHour, 6)})
		}
		line.Hours = qns.DivRound(nanosPerHour, 6)
		line.Amount = money.DivRound(nanosPerHour, MoneyDecimals)
		if line.Amount.IsZero() {
			continue
		}
		lines = append(lines, line)
	}
	sort.Slice(lines, func(i, j int) bool {
		if lines[i].App != lines[j].App {
			return lines[i].App < lines[j].App
		}
		return lines[i].Resource < lines[j].Resource
	})
	return lines, nil
}

// Subtotal is the sum of the usage lines' amounts.
func Subtotal(lines []UsageLine) decimal.Decimal {
	var s decimal.Decimal
	for _, l := range lines {
		s = s.Add(l.Amount)
	}
	return s
}
