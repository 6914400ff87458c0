package billing

import (
	"fmt"
	"testing"
	"time"

	"github.com/shopspring/decimal"
	"pgregory.net/rapid"
)

var epoch = ts("2026-01-01T00:00:00Z")

// genCatalog draws 1 to 3 resources, each with 1 to 4 prices of up to four
// decimals, the first in force from the epoch.
func genCatalog(t *rapid.T) Catalog {
	c := Catalog{}
	for r := range rapid.IntRange(1, 3).Draw(t, "resources") {
		name := fmt.Sprintf("res%d", r)
		c.Add(name, PricePoint{epoch, decimal.New(rapid.Int64Range(0, 99999).Draw(t, "price"), -4)})
		for range rapid.IntRange(0, 3).Draw(t, "changes") {
			at := epoch.Add(time.Duration(rapid.Int64Range(1, 400*24*3600).Draw(t, "change_at")) * time.Second)
			c.Add(name, PricePoint{at, decimal.New(rapid.Int64Range(0, 99999).Draw(t, "price"), -4)})
		}
	}
	return c
}

func genSegments(t *rapid.T, c Catalog) []Segment {
	var resources []string
	for r := range c {
		resources = append(resources, r)
	}
	segs := rapid.SliceOfN(rapid.Custom(func(t *rapid.T) Segment {
		start := ts("2026-08-01T00:00:00Z").Add(time.Duration(rapid.Int64Range(0, 150*24*3600).Draw(t, "start")) * time.Second)
		s := Segment{
			App:      rapid.SampledFrom([]string{"web", "api", "worker"}).Draw(t, "app"),
			Resource: rapid.SampledFrom(resources).Draw(t, "resource"),
			Quantity: rapid.Int64Range(1, 10).Draw(t, "quantity"),
			Start:    start,
		}
		if rapid.Bool().Draw(t, "ended") {
			s.End = start.Add(time.Duration(rapid.Int64Range(1, 60*24*3600).Draw(t, "length")) * time.Second)
		}
		return s
	}), 1, 20).Draw(t, "segments")
	return segs
}

func genBounds(t *rapid.T) (time.Time, time.Time) {
	loc := time.UTC
	if rapid.Bool().Draw(t, "paris") {
		loc, _ = time.LoadLocation("Europe/Paris")
	}
	return MustPeriod(rapid.SampledFrom([]string{"2026-09", "2026-10", "2026-11", "2027-02"}).Draw(t, "period")).Bounds(loc)
}

func sameLines(t *rapid.T, a, b []UsageLine) {
	if len(a) != len(b) {
		t.Fatalf("%d lines vs %d", len(a), len(b))
	}
	for i := range a {
		if a[i].App != b[i].App || a[i].Resource != b[i].Resource || !a[i].Hours.Equal(b[i].Hours) || !a[i].Amount.Equal(b[i].Amount) {
			t.Fatalf("line %d differs: %+v vs %+v", i, a[i], b[i])
		}
	}
}

// Splitting a segment in two at any instant never changes an invoice.
func TestPropertySplitSegment(t *testing.T) {
	t.Parallel()
	rapid.Check(t, func(t *rapid.T) {
		cat := genCatalog(t)
		segs := genSegments(t, cat)
		start, end := genBounds(t)
		whole, err := Rate(segs, cat, start, end)
		if err != nil {
			t.Fatal(err)
		}
		i := rapid.IntRange(0, len(segs)-1).Draw(t, "split")
		s := segs[i]
		limit := s.End
		if limit.IsZero() {
			limit = end.Add(24 * time.Hour)
		}
		span := limit.Sub(s.Start)
		if span < 2*time.Second {
			return
		}
		at := s.Start.Add(time.Duration(rapid.Int64Range(1, int64(span/time.Second)-1).Draw(t, "at")) * time.Second)
		first, second := s, s
		first.End, second.Start = at, at
		split := append(append(append([]Segment{}, segs[:i]...), first, second), segs[i+1:]...)
		parts, err := Rate(split, cat, start, end)
		if err != nil {
			t.Fatal(err)
		}
		sameLines(t, whole, parts)
	})
}

// Rating does not depend on the order of the segments.
func TestPropertyOrderIndependent(t *testing.T) {
	t.Parallel()
	rapid.Check(t, func(t *rapid.T) {
		cat := genCatalog(t)
		segs := genSegments(t, cat)
		start, end := genBounds(t)
		a, err := Rate(segs, cat, start, end)
		if err != nil {
			t.Fatal(err)
		}
		shuffled := rapid.Permutation(segs).Draw(t, "shuffled")
		b, err := Rate(shuffled, cat, start, end)
		if err != nil {
			t.Fatal(err)
		}
		sameLines(t, a, b)
		for _, l := range a {
			if !l.Amount.IsPositive() || l.Hours.IsNegative() || l.Amount.Exponent() < -2 {
				t.Fatalf("bad line %+v", l)
			}
		}
	})
}

// Lines always sum to subtotal − discount, and rewards never make a total
// negative, whatever the rewards and the VAT rate.
func TestPropertyTotals(t *testing.T) {
	t.Parallel()
	rapid.Check(t, func(t *rapid.T) {
		var usage []UsageLine
		for range rapid.IntRange(0, 6).Draw(t, "lines") {
			usage = append(usage, UsageLine{App: "a", Resource: "r", Amount: decimal.New(rapid.Int64Range(1, 1_000_000).Draw(t, "cents"), -2)})
		}
		var rewards []Reward
		for i := range rapid.IntRange(0, 5).Draw(t, "rewards") {
			rewards = append(rewards, Reward{RefereeAccountID: fmt.Sprint("r", i), Amount: decimal.New(rapid.Int64Range(1, 500_000).Draw(t, "reward"), -2)})
		}
		var reversals []Reversal
		for i := range rapid.IntRange(0, 2).Draw(t, "reversals") {
			reversals = append(reversals, Reversal{RefereeAccountID: fmt.Sprint("v", i), Amount: decimal.New(rapid.Int64Range(1, 100_000).Draw(t, "reversal"), -2)})
		}
		vat := VAT{Rate: decimal.New(rapid.Int64Range(0, 300).Draw(t, "rate"), -1)}
		got := Compute(Input{Usage: usage, Reversals: reversals, Rewards: rewards, VAT: vat})
		charged := Subtotal(usage)
		for _, r := range reversals {
			charged = charged.Add(r.Amount)
		}
		if !got.Subtotal.Equal(charged) {
			t.Fatalf("subtotal %s, usage and reversals %s", got.Subtotal, charged)
		}
		if !sumLines(got.Lines).Equal(got.Subtotal.Sub(got.Discount)) {
			t.Fatalf("lines sum to %s, subtotal − discount is %s", sumLines(got.Lines), got.Subtotal.Sub(got.Discount))
		}
		if got.Total.IsNegative() || got.Discount.GreaterThan(got.Subtotal) || got.Carryover.IsNegative() {
			t.Fatalf("negative or excessive: %+v", got)
		}
		if !got.Total.Equal(got.Subtotal.Sub(got.Discount).Add(got.Tax)) {
			t.Fatalf("total %s != subtotal − discount + tax", got.Total)
		}
		var earned decimal.Decimal
		for _, r := range rewards {
			earned = earned.Add(r.Amount)
		}
		if !got.Discount.Add(got.Carryover).Equal(earned) {
			t.Fatalf("rewards %s: discount %s + carry-over %s lose or create money", earned, got.Discount, got.Carryover)
		}
	})
}
