package billing

import (
	"sort"
	"time"

	"github.com/shopspring/decimal"
)

// ReferralRewardRate is the share of a referee's subtotal its referrer
// earns, and ReferralPeriods the number of periods it earns it for.
var ReferralRewardRate = decimal.RequireFromString("0.20")

const ReferralPeriods = 12

// InReferralWindow reports whether p is one of the referral periods of an
// account created at createdAt: the period containing createdAt and the 11
// after it.
func InReferralWindow(createdAt time.Time, p Period, loc *time.Location) bool {
	k := p.Sub(PeriodOf(createdAt, loc))
	return k >= 0 && k < ReferralPeriods
}

// ReferralReward is what a referrer earns from a referee's invoice of
// subtotal S (before the referee's own discount and tax): 20 % of S,
// rounded to the cent.
func ReferralReward(refereeSubtotal decimal.Decimal) decimal.Decimal {
	if !refereeSubtotal.IsPositive() {
		return decimal.Zero
	}
	return RoundMoney(refereeSubtotal.Mul(ReferralRewardRate))
}

// LineType tells the lines of an invoice apart.
type LineType string

const (
	LineUsage             LineType = "usage"
	LineReferral          LineType = "referral"
	LineReferralCarryover LineType = "referral_carryover"
	// LineReferralReversal charges back a reward whose referee invoice was
	// voided, as far as the referrer's prepaid credit could not cover it.
	LineReferralReversal LineType = "referral_reversal"
)

// Line is one line of an invoice. Usage lines carry App, Resource, Hours and
// Prices; referral lines carry RefereeAccountID and a negative Amount; the
// carry-over line gives back, positively, the rewards the subtotal could not
// absorb (they go to prepaid credit), so that lines always sum to
// subtotal − discount; a reversal line carries RefereeAccountID and a
// positive Amount.
type Line struct {
	Type             LineType
	App              string
	Resource         string
	Hours            decimal.Decimal
	Prices           []PriceUse
	RefereeAccountID string
	Amount           decimal.Decimal
}

// Reward is a referral reward earned from one referee for the period.
type Reward struct {
	RefereeAccountID string
	Amount           decimal.Decimal
}

// Reversal is a reward taken back (its referee's invoice was voided) that
// the referrer's prepaid credit did not cover: it is charged on the
// referrer's next invoice.
type Reversal struct {
	RefereeAccountID string
	Amount           decimal.Decimal
}

// Input is what an invoice is computed from.
type Input struct {
	Usage []UsageLine
	// Reversals are charged as lines of their own, part of the subtotal
	// (they restore a discount or credit given before, so they are taxed as
	// the usage it discounted) but not of the referral base.
	Reversals []Reversal
	// Rewards are the referral rewards earned for the period.
	Rewards []Reward
	VAT     VAT
}

// Totals is a computed invoice.
type Totals struct {
	Lines []Line
	// Subtotal is Σ usage + Σ reversals.
	Subtotal decimal.Decimal
	// Discount is min(Σ rewards, Subtotal).
	Discount decimal.Decimal
	// Carryover is Σ rewards − Discount: earned but not absorbed, it goes to
	// the account's prepaid credit.
	Carryover decimal.Decimal
	VAT       VAT
	Tax       decimal.Decimal
	Total     decimal.Decimal
}

// Compute assembles an invoice from its usage lines, the reversals charged
// on it, the referral rewards its account earned for the period and the VAT
// rule (SPEC §3): discount = min(Σ rewards, subtotal), tax = round((subtotal
// − discount) × rate / 100), total = subtotal − discount + tax. Rewards
// never make a total negative.
func Compute(in Input) Totals {
	t := ComputeFromSubtotal(Subtotal(in.Usage), in.Reversals, in.Rewards, in.VAT)
	lines := make([]Line, 0, len(in.Usage)+len(t.Lines))
	for _, u := range in.Usage {
		lines = append(lines, Line{Type: LineUsage, App: u.App, Resource: u.Resource, Hours: u.Hours, Prices: u.Prices, Amount: u.Amount})
	}
	t.Lines = append(lines, t.Lines...)
	return t
}

// ComputeFromSubtotal is Compute for usage lines already stored: it takes
// their sum, and its Lines are only the reversal, referral and carry-over
// lines that follow them.
func ComputeFromSubtotal(usageSubtotal decimal.Decimal, reversals []Reversal, rewards []Reward, vat VAT) Totals {
	t := Totals{VAT: vat, Subtotal: usageSubtotal}
	reversals = append([]Reversal(nil), reversals...)
	sort.SliceStable(reversals, func(i, j int) bool { return reversals[i].RefereeAccountID < reversals[j].RefereeAccountID })
	for _, r := range reversals {
		if !r.Amount.IsPositive() {
			continue
		}
		t.Subtotal = t.Subtotal.Add(r.Amount)
		t.Lines = append(t.Lines, Line{Type: LineReferralReversal, RefereeAccountID: r.RefereeAccountID, Amount: r.Amount})
	}
	rewards = append([]Reward(nil), rewards...)
	sort.Slice(rewards, func(i, j int) bool { return rewards[i].RefereeAccountID < rewards[j].RefereeAccountID })
	var earned decimal.Decimal
	for _, r := range rewards {
		if !r.Amount.IsPositive() {
			continue
		}
		earned = earned.Add(r.Amount)
		t.Lines = append(t.Lines, Line{Type: LineReferral, RefereeAccountID: r.RefereeAccountID, Amount: r.Amount.Neg()})
	}
	t.Discount = decimal.Min(earned, t.Subtotal)
	t.Carryover = earned.Sub(t.Discount)
	if t.Carryover.IsPositive() {
		t.Lines = append(t.Lines, Line{Type: LineReferralCarryover, Amount: t.Carryover})
	}
	taxable := t.Subtotal.Sub(t.Discount)
	t.Tax = RoundMoney(taxable.Mul(vat.Rate).Shift(-2)) // exact: a shift, not a division
	t.Total = taxable.Add(t.Tax)
	return t
}
