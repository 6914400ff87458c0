package billing

import (
	"fmt"
	"sort"
	"time"

	"github.com/shopspring/decimal"
)

// ReferralBatch is what the referral rule (SPEC §3) is decided from for the
// accounts one finalization chunk, or one dry run, bills for a period. The
// real run and the preview gather it with different SQL (finalization locks
// and sees other chunks' drafts; the preview reads a snapshot and rates in
// memory), but both hand it to AllocateReferrals, so that they cannot
// decide differently.
type ReferralBatch struct {
	Period Period
	// Location is the billing time zone a referral window is counted in.
	Location *time.Location
	// Accounts are the accounts with a draft in the batch, each at most
	// once.
	Accounts []ReferralAccount
	// Pending are rewards written earlier for referrers in the batch, left
	// pending because their referee was finalized before them.
	Pending []PendingReward
	// RefereeDrafts are drafts of the period outside the batch (other
	// chunks, other runs in flight) whose referrer is in the batch and that
	// no reward covers yet: the referrer takes their reward now.
	RefereeDrafts []RefereeDraft
	// DraftedElsewhere holds the referrers not in the batch that have a
	// draft of the period elsewhere: their referees' rewards wait for that
	// draft (pending) instead of going to credit.
	DraftedElsewhere map[string]bool
}

// ReferralAccount is an account drafted in the batch.
type ReferralAccount struct {
	AccountID string
	// InvoiceID is the draft's id; zero in a preview, whose drafts are not
	// stored.
	InvoiceID int64
	// Usage is the draft's usage subtotal: the referral base it earns its
	// referrer, without the reversals it is charged.
	Usage decimal.Decimal
	// Reversals are charged on the draft: part of its subtotal, so of what
	// its own rewards can discount.
	Reversals []Reversal
	// ReferredBy is the referrer's account id, empty for none, and
	// CreatedAt the account's creation, which starts its referral window.
	ReferredBy string
	CreatedAt  time.Time
	// RewardWritten: a reward for this draft exists already (its referrer
	// was finalized first, in an earlier chunk, and took it from the
	// draft), so the draft earns nothing more.
	RewardWritten bool
}

// PendingReward is a reward row left pending for a referrer.
type PendingReward struct {
	ID                int64
	ReferrerAccountID string
	RefereeAccountID  string
	Amount            decimal.Decimal
}

// RefereeDraft is a referee's draft outside the batch.
type RefereeDraft struct {
	InvoiceID  int64
	AccountID  string
	ReferredBy string
	CreatedAt  time.Time
	// Base is the draft's usage subtotal (its subtotal less the reversals
	// charged on it).
	Base decimal.Decimal
}

// ReferralAllocation is what AllocateReferrals decided.
type ReferralAllocation struct {
	// Accounts follow ReferralBatch.Accounts, index for index.
	Accounts []AccountReferrals
	// Outgoing are the rewards batch accounts earn referrers outside the
	// batch, in batch order.
	Outgoing []OutgoingReward
}

// AccountReferrals is one batch account's side of the referral rule.
type AccountReferrals struct {
	AccountID string
	// Applied are the rewards the account takes as discount lines, by
	// referee (the order of their lines).
	Applied []AppliedReward
	// Subtotal is usage + reversals; Discount = min(Σ Applied, Subtotal);
	// Carryover = Σ Applied − Discount, owed to the account's prepaid
	// credit so that nothing earned is lost.
	Subtotal  decimal.Decimal
	Discount  decimal.Decimal
	Carryover decimal.Decimal
	// Lines are the reversal, referral and carry-over lines that follow the
	// usage lines: usage + Σ Lines = Subtotal − Discount.
	Lines []Line

	usage     decimal.Decimal
	reversals []Reversal
}

// AppliedReward is a reward taken as a discount. FromPending: it was the
// pending row PendingID; otherwise it is new, earned from the referee draft
// RefereeInvoiceID (zero in a preview), and the caller writes it applied.
type AppliedReward struct {
	Reward
	FromPending      bool
	PendingID        int64
	RefereeInvoiceID int64
}

// RewardRoute says how a reward reaches a referrer outside the batch.
type RewardRoute string

const (
	// RouteToPending: the referrer has a draft elsewhere, whose
	// finalization applies the reward; it is written pending.
	RouteToPending RewardRoute = "pending"
	// RouteToCredit: the referrer has no draft to discount; the reward
	// goes to its prepaid credit at once.
	RouteToCredit RewardRoute = "credit"
)

// OutgoingReward is a reward a batch account's draft earns a referrer
// outside the batch.
type OutgoingReward struct {
	Reward
	RefereeInvoiceID  int64
	ReferrerAccountID string
	Route             RewardRoute
}

// Rewards are the applied rewards as Compute takes them.
func (a AccountReferrals) Rewards() []Reward {
	out := make([]Reward, len(a.Applied))
	for i, r := range a.Applied {
		out[i] = r.Reward
	}
	return out
}

// Totals prices the account's invoice under vat with the allocated rewards:
// the same discount and carry-over, plus tax and total. Its Lines follow
// the usage lines, as ComputeFromSubtotal's do.
func (a AccountReferrals) Totals(vat VAT) Totals {
	return ComputeFromSubtotal(a.usage, a.reversals, a.Rewards(), vat)
}

// AllocateReferrals applies the referral rule of SPEC §3 to a batch. Each
// reward is earned once, by the referee invoice (draft) it comes from, and
// goes exactly one way:
//
//   - a pending reward, or a referee draft outside the batch, rewards its
//     referrer in the batch: applied as a discount line;
//   - a batch draft in its referral window rewards its referrer with
//     round(20 % × usage): applied when the referrer is in the batch;
//     otherwise written pending when the referrer has a draft elsewhere, or
//     credited at once when it has none;
//   - a referrer's discount is min(Σ applied, its subtotal), and the rest is
//     carried over to its prepaid credit.
//
// A reward rounding to zero is no reward. The error reports a batch that
// names a referrer outside it for a pending reward or a referee draft, or an
// account twice: gathered wrong, its rewards would be lost or doubled.
func AllocateReferrals(b ReferralBatch) (ReferralAllocation, error) {
	out := ReferralAllocation{Accounts: make([]AccountReferrals, len(b.Accounts))}
	index := make(map[string]int, len(b.Accounts))
	for i, a := range b.Accounts {
		if _, dup := index[a.AccountID]; dup {
			return ReferralAllocation{}, fmt.Errorf("referral batch: account %s twice", a.AccountID)
		}
		index[a.AccountID] = i
		out.Accounts[i] = AccountReferrals{AccountID: a.AccountID, usage: a.Usage, reversals: a.Reversals}
	}
	for _, r := range b.Pending {
		i, ok := index[r.ReferrerAccountID]
		if !ok {
			return ReferralAllocation{}, fmt.Errorf("referral batch: pending reward %d for %s, who is not in the batch", r.ID, r.ReferrerAccountID)
		}
		if r.Amount.IsPositive() {
			out.Accounts[i].Applied = append(out.Accounts[i].Applied, AppliedReward{
				Reward: Reward{RefereeAccountID: r.RefereeAccountID, Amount: r.Amount}, FromPending: true, PendingID: r.ID})
		}
	}
	for _, d := range b.RefereeDrafts {
		i, ok := index[d.ReferredBy]
		if !ok {
			return ReferralAllocation{}, fmt.Errorf("referral batch: referee draft %d of %s, whose referrer %s is not in the batch", d.InvoiceID, d.AccountID, d.ReferredBy)
		}
		if _, dup := index[d.AccountID]; dup {
			return ReferralAllocation{}, fmt.Errorf("referral batch: %s is both in the batch and a referee draft outside it", d.AccountID)
		}
		if reward := windowReward(d.Base, d.CreatedAt, b); reward.IsPositive() {
			out.Accounts[i].Applied = append(out.Accounts[i].Applied, AppliedReward{
				Reward: Reward{RefereeAccountID: d.AccountID, Amount: reward}, RefereeInvoiceID: d.InvoiceID})
		}
	}
	for _, a := range b.Accounts {
		if a.ReferredBy == "" || a.RewardWritten {
			continue
		}
		reward := windowReward(a.Usage, a.CreatedAt, b)
		if !reward.IsPositive() {
			continue
		}
		r := Reward{RefereeAccountID: a.AccountID, Amount: reward}
		if i, ok := index[a.ReferredBy]; ok {
			out.Accounts[i].Applied = append(out.Accounts[i].Applied, AppliedReward{Reward: r, RefereeInvoiceID: a.InvoiceID})
			continue
		}
		route := RouteToCredit
		if b.DraftedElsewhere[a.ReferredBy] {
			route = RouteToPending
		}
		out.Outgoing = append(out.Outgoing, OutgoingReward{Reward: r, RefereeInvoiceID: a.InvoiceID, ReferrerAccountID: a.ReferredBy, Route: route})
	}
	for i := range out.Accounts {
		a := &out.Accounts[i]
		// In the order Compute writes their lines, so that Applied[k] is
		// the k-th referral line.
		sort.SliceStable(a.Applied, func(x, y int) bool { return a.Applied[x].RefereeAccountID < a.Applied[y].RefereeAccountID })
		t := a.Totals(VAT{})
		a.Subtotal, a.Discount, a.Carryover, a.Lines = t.Subtotal, t.Discount, t.Carryover, t.Lines
	}
	return out, nil
}

// windowReward is what a referee's invoice of usage base earns its referrer
// for the batch's period: nothing outside the referee's referral window.
func windowReward(base decimal.Decimal, createdAt time.Time, b ReferralBatch) decimal.Decimal {
	if !InReferralWindow(createdAt, b.Period, b.Location) {
		return decimal.Zero
	}
	return ReferralReward(base)
}
