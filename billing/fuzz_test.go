package billing

import (
	"fmt"
	"testing"
	"time"

	"github.com/shopspring/decimal"
	"pgregory.net/rapid"
)

// propInvoice is the whole pure pipeline on inputs as wide as the importers
// accept (quantities up to a million, prices of up to six integer digits
// and ten decimals, segments of any length, microsecond instants): rate,
// then split a segment, then compute the invoice with rewards and a VAT
// rate. It must never panic; lines are positive whole cents; splitting
// changes nothing; lines sum to subtotal − discount; the total is never
// negative and is subtotal − discount + tax.
func propInvoice(t *rapid.T) {
	cat := Catalog{}
	for r := range rapid.IntRange(1, 2).Draw(t, "resources") {
		name := fmt.Sprintf("res%d", r)
		price := func() decimal.Decimal {
			return decimal.New(rapid.Int64Range(0, 999_999_9999999999).Draw(t, "price"), -10)
		}
		cat.Add(name, PricePoint{epoch, price()})
		for range rapid.IntRange(0, 3).Draw(t, "changes") {
			at := epoch.Add(time.Duration(rapid.Int64Range(1, 400*24*3600*1e6).Draw(t, "change_at")) * time.Microsecond)
			cat.Add(name, PricePoint{at, price()})
		}
	}
	var segs []Segment
	for range rapid.IntRange(1, 8).Draw(t, "segments") {
		s := Segment{
			App:      rapid.SampledFrom([]string{"web", "api", "株"}).Draw(t, "app"),
			Resource: fmt.Sprintf("res%d", rapid.IntRange(0, len(cat)-1).Draw(t, "resource")),
			Quantity: rapid.Int64Range(1, 1_000_000).Draw(t, "quantity"),
			Start:    epoch.Add(time.Duration(rapid.Int64Range(0, 500*24*3600*1e6).Draw(t, "start")) * time.Microsecond),
		}
		if rapid.Bool().Draw(t, "ended") {
			s.End = s.Start.Add(time.Duration(rapid.Int64Range(1, 200*24*3600*1e6).Draw(t, "length")) * time.Microsecond)
		}
		segs = append(segs, s)
	}
	start, end := genBounds(t)
	lines, err := Rate(segs, cat, start, end)
	if err != nil {
		return // all usage before the first price: refused, never half-rated
	}
	for _, l := range lines {
		if !l.Amount.IsPositive() || !l.Amount.Equal(l.Amount.Round(2)) || l.Hours.IsNegative() || !l.Hours.Equal(l.Hours.Round(6)) {
			t.Fatalf("bad line %+v", l)
		}
	}
	i := rapid.IntRange(0, len(segs)-1).Draw(t, "split")
	s := segs[i]
	limit := s.End
	if limit.IsZero() {
		limit = end.Add(time.Hour)
	}
	if span := limit.Sub(s.Start); span >= 2*time.Microsecond {
		at := s.Start.Add(time.Duration(rapid.Int64Range(1, int64(span/time.Microsecond)-1).Draw(t, "at")) * time.Microsecond)
		first, second := s, s
		first.End, second.Start = at, at
		parts, err := Rate(append(append(append([]Segment{}, segs[:i]...), first, second), segs[i+1:]...), cat, start, end)
		if err != nil {
			t.Fatal(err)
		}
		sameLines(t, lines, parts)
	}

	var rewards []Reward
	for r := range rapid.IntRange(0, 3).Draw(t, "rewards") {
		rewards = append(rewards, Reward{RefereeAccountID: fmt.Sprint("acc", r), Amount: ReferralReward(decimal.New(rapid.Int64Range(1, 1e12).Draw(t, "referee_cents"), -2))})
	}
	vat := VAT{Treatment: VATDomestic, Rate: decimal.New(rapid.Int64Range(0, 2999).Draw(t, "rate"), -2)}
	tot := Compute(Input{Usage: lines, Rewards: rewards, VAT: vat})
	if sum := sumLines(tot.Lines); !sum.Equal(tot.Subtotal.Sub(tot.Discount)) {
		t.Fatalf("lines sum to %s, subtotal − discount is %s", sum, tot.Subtotal.Sub(tot.Discount))
	}
	earned := decimal.Zero
	for _, r := range rewards {
		earned = earned.Add(r.Amount)
	}
	if !tot.Discount.Add(tot.Carryover).Equal(earned) || tot.Carryover.IsNegative() {
		t.Fatalf("rewards %s: discount %s + carry-over %s", earned, tot.Discount, tot.Carryover)
	}
	if tot.Total.IsNegative() || !tot.Total.Equal(tot.Subtotal.Sub(tot.Discount).Add(tot.Tax)) || !tot.Tax.Equal(tot.Tax.Round(2)) {
		t.Fatalf("bad totals %+v", tot)
	}
}

func TestPropertyInvoice(t *testing.T) {
	t.Parallel()
	rapid.Check(t, propInvoice)
}

// FuzzInvoice drives propInvoice from the fuzzer's bytes; the corpus in
// testdata/fuzz keeps the inputs worth replaying.
func FuzzInvoice(f *testing.F) {
	f.Fuzz(rapid.MakeFuzz(propInvoice))
}
