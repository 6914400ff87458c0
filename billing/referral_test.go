package billing

import (
	"fmt"
	"sort"
	"testing"
	"time"

	"github.com/shopspring/decimal"
	"github.com/stretchr/testify/require"
	"pgregory.net/rapid"
)

var october = MustPeriod("2026-10")

// allocate is AllocateReferrals for a batch that must be well formed.
func allocate(t *testing.T, b ReferralBatch) ReferralAllocation {
	t.Helper()
	if b.Location == nil {
		b.Location = time.UTC
	}
	if b.Period == (Period{}) {
		b.Period = october
	}
	got, err := AllocateReferrals(b)
	require.NoError(t, err)
	require.Len(t, got.Accounts, len(b.Accounts))
	return got
}

func requireMoney(t *testing.T, want string, got decimal.Decimal, what string) {
	t.Helper()
	require.True(t, d(want).Equal(got), "%s: want %s, got %s", what, want, got)
}

// A referee earns its referrer a reward in the 12th period from the one it
// was created in, and nothing from the 13th; the window is counted in the
// billing time zone.
func TestAllocateReferralsWindow(t *testing.T) {
	t.Parallel()
	paris, err := time.LoadLocation("Europe/Paris")
	require.NoError(t, err)
	cases := []struct {
		name    string
		created string
		loc     *time.Location
		reward  string // "" for none
	}{
		{"1st period", "2026-10-31T10:00:00Z", time.UTC, "2.00"},
		{"12th period", "2025-11-01T00:00:00Z", time.UTC, "2.00"},
		{"13th period", "2025-10-31T23:59:59Z", time.UTC, ""},
		{"12th period in Paris: created on 1 November there", "2025-10-31T23:30:00Z", paris, "2.00"},
		{"13th period in Paris", "2025-10-31T22:30:00Z", paris, ""},
		{"created after the period", "2026-11-01T00:00:00Z", time.UTC, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got := allocate(t, ReferralBatch{Location: tc.loc, Accounts: []ReferralAccount{
				{AccountID: "referrer", Usage: d("50.00"), CreatedAt: ts("2025-01-01T00:00:00Z")},
				{AccountID: "referee", Usage: d("10.00"), ReferredBy: "referrer", CreatedAt: ts(tc.created)},
			}})
			referrer := got.Accounts[0]
			require.Empty(t, got.Outgoing)
			if tc.reward == "" {
				require.Empty(t, referrer.Applied)
				requireMoney(t, "0", referrer.Discount, "discount")
				return
			}
			require.Len(t, referrer.Applied, 1)
			require.Equal(t, "referee", referrer.Applied[0].RefereeAccountID)
			requireMoney(t, tc.reward, referrer.Applied[0].Amount, "reward")
			requireMoney(t, tc.reward, referrer.Discount, "discount")
			require.Empty(t, got.Accounts[1].Applied, "a referee earns nothing from its referrer")
		})
	}
}

// Rewards beyond the referrer's subtotal are discounted up to it and the
// rest carried over to credit, with a line that keeps lines summing to
// subtotal − discount; the reversal charged on the referrer counts in what
// can be discounted, the one charged on a referee does not count in its
// referral base.
func TestAllocateReferralsRewardsExceedSubtotal(t *testing.T) {
	t.Parallel()
	created := ts("2026-06-01T00:00:00Z")
	got := allocate(t, ReferralBatch{Accounts: []ReferralAccount{
		{AccountID: "a", Usage: d("7.00"), Reversals: []Reversal{{RefereeAccountID: "old", Amount: d("3.00")}}, CreatedAt: created},
		{AccountID: "c", Usage: d("40.00"), ReferredBy: "a", CreatedAt: created},
		{AccountID: "b", Usage: d("30.00"), ReferredBy: "a", CreatedAt: created,
			Reversals: []Reversal{{RefereeAccountID: "z", Amount: d("100.00")}}},
	}})
	a := got.Accounts[0]
	requireMoney(t, "10.00", a.Subtotal, "subtotal: usage and reversal")
	requireMoney(t, "10.00", a.Discount, "discount")
	requireMoney(t, "4.00", a.Carryover, "carry-over: 8.00 + 6.00 − 10.00")
	require.Equal(t, []string{"b", "c"}, []string{a.Applied[0].RefereeAccountID, a.Applied[1].RefereeAccountID}, "applied in line order")
	require.Equal(t, int64(0), a.Applied[0].PendingID)
	want := []Line{
		{Type: LineReferralReversal, RefereeAccountID: "old", Amount: d("3.00")},
		{Type: LineReferral, RefereeAccountID: "b", Amount: d("-6.00")},
		{Type: LineReferral, RefereeAccountID: "c", Amount: d("-8.00")},
		{Type: LineReferralCarryover, Amount: d("4.00")},
	}
	require.Len(t, a.Lines, len(want))
	for i, l := range want {
		require.Equal(t, l.Type, a.Lines[i].Type, "line %d", i)
		require.Equal(t, l.RefereeAccountID, a.Lines[i].RefereeAccountID, "line %d", i)
		requireMoney(t, l.Amount.String(), a.Lines[i].Amount, fmt.Sprint("line ", i))
	}
	requireMoney(t, "0.00", d("7.00").Add(sumLines(a.Lines)), "usage + lines = subtotal − discount")
	tot := a.Totals(VAT{Rate: d("20")})
	requireMoney(t, "0.00", tot.Total, "total")
	requireMoney(t, "4.00", tot.Carryover, "the totals' carry-over")
}

// A referee whose referrer has no invoice this period credits the referrer
// at once; one whose referrer is drafted in another run leaves the reward
// pending, and the referrer's finalization applies it.
func TestAllocateReferralsReferrerOutsideTheBatch(t *testing.T) {
	t.Parallel()
	created := ts("2026-06-01T00:00:00Z")
	got := allocate(t, ReferralBatch{
		Accounts: []ReferralAccount{
			{AccountID: "r1", InvoiceID: 11, Usage: d("12.34"), ReferredBy: "no-invoice", CreatedAt: created},
			{AccountID: "r2", InvoiceID: 12, Usage: d("20.00"), ReferredBy: "other-run", CreatedAt: created},
			{AccountID: "r3", InvoiceID: 13, Usage: d("0.02"), ReferredBy: "no-invoice", CreatedAt: created}, // 0.004 rounds to nothing
		},
		DraftedElsewhere: map[string]bool{"other-run": true},
	})
	require.Len(t, got.Outgoing, 2)
	require.Equal(t, OutgoingReward{Reward: Reward{RefereeAccountID: "r1", Amount: got.Outgoing[0].Amount}, RefereeInvoiceID: 11,
		ReferrerAccountID: "no-invoice", Route: RouteToCredit}, got.Outgoing[0])
	requireMoney(t, "2.47", got.Outgoing[0].Amount, "20 % of 12.34, rounded half up")
	require.Equal(t, RouteToPending, got.Outgoing[1].Route)
	require.Equal(t, "other-run", got.Outgoing[1].ReferrerAccountID)
	requireMoney(t, "4.00", got.Outgoing[1].Amount, "pending reward")
	for _, a := range got.Accounts {
		require.Empty(t, a.Applied)
	}

	// The other run finalizes the referrer: the pending reward, and a
	// referee drafted in yet another run, become its discount.
	later := allocate(t, ReferralBatch{
		Accounts: []ReferralAccount{{AccountID: "other-run", InvoiceID: 20, Usage: d("100.00"), CreatedAt: created}},
		Pending:  []PendingReward{{ID: 7, ReferrerAccountID: "other-run", RefereeAccountID: "r2", Amount: got.Outgoing[1].Amount}},
		RefereeDrafts: []RefereeDraft{{InvoiceID: 30, AccountID: "r0", ReferredBy: "other-run", CreatedAt: created, Base: d("5.00")},
			{InvoiceID: 31, AccountID: "old", ReferredBy: "other-run", CreatedAt: ts("2024-01-01T00:00:00Z"), Base: d("5.00")}},
	})
	a := later.Accounts[0]
	require.Empty(t, later.Outgoing)
	require.Len(t, a.Applied, 2, "the referee outside its window earns nothing")
	require.Equal(t, AppliedReward{Reward: Reward{RefereeAccountID: "r0", Amount: a.Applied[0].Amount}, RefereeInvoiceID: 30}, a.Applied[0])
	requireMoney(t, "1.00", a.Applied[0].Amount, "reward of the referee draft")
	require.Equal(t, AppliedReward{Reward: Reward{RefereeAccountID: "r2", Amount: a.Applied[1].Amount}, FromPending: true, PendingID: 7}, a.Applied[1])
	requireMoney(t, "5.00", a.Discount, "discount")
	requireMoney(t, "0", a.Carryover, "carry-over")
}

// A draft whose reward its referrer already took (an earlier chunk) earns
// nothing again, wherever the referrer is.
func TestAllocateReferralsRewardAlreadyWritten(t *testing.T) {
	t.Parallel()
	created := ts("2026-06-01T00:00:00Z")
	got := allocate(t, ReferralBatch{Accounts: []ReferralAccount{
		{AccountID: "r1", Usage: d("10.00"), ReferredBy: "gone", CreatedAt: created, RewardWritten: true},
	}})
	require.Empty(t, got.Outgoing)
	require.Empty(t, got.Accounts[0].Applied)
}

// A batch that names a referrer outside it for a reward it must apply, or
// an account twice, is refused rather than losing or doubling rewards.
func TestAllocateReferralsRefusesAnInconsistentBatch(t *testing.T) {
	t.Parallel()
	one := []ReferralAccount{{AccountID: "a", Usage: d("1.00")}}
	for name, b := range map[string]ReferralBatch{
		"pending for an account outside":      {Accounts: one, Pending: []PendingReward{{ID: 1, ReferrerAccountID: "x", RefereeAccountID: "r", Amount: d("1.00")}}},
		"referee draft of a referrer outside": {Accounts: one, RefereeDrafts: []RefereeDraft{{InvoiceID: 1, AccountID: "r", ReferredBy: "x", Base: d("1.00")}}},
		"referee draft of a batch account":    {Accounts: one, RefereeDrafts: []RefereeDraft{{InvoiceID: 1, AccountID: "a", ReferredBy: "a", Base: d("1.00")}}},
		"an account twice":                    {Accounts: append(one, one...)},
	} {
		b.Period, b.Location = october, time.UTC
		_, err := AllocateReferrals(b)
		require.Error(t, err, name)
	}
}

// genReferralBatch draws up to 8 batch accounts, referred by one another,
// by referrers outside the batch (some drafted elsewhere) or by no one,
// created from 14 months before the period to just after it; rewards
// pending for them; and referee drafts outside the batch.
func genReferralBatch(t *rapid.T) ReferralBatch {
	b := ReferralBatch{Period: october, Location: time.UTC, DraftedElsewhere: map[string]bool{}}
	if rapid.Bool().Draw(t, "paris") {
		b.Location, _ = time.LoadLocation("Europe/Paris")
	}
	start, _ := october.Bounds(b.Location)
	created := func(label string) time.Time {
		return start.Add(time.Duration(rapid.Int64Range(-14*31*24, 40*24).Draw(t, label)) * time.Hour)
	}
	money := func(label string, max int64) decimal.Decimal {
		return decimal.New(rapid.Int64Range(0, max).Draw(t, label), -2)
	}
	n := rapid.IntRange(1, 8).Draw(t, "accounts")
	for i := range n {
		a := ReferralAccount{AccountID: fmt.Sprint("a", i), InvoiceID: int64(100 + i), Usage: money("usage", 200_000), CreatedAt: created("created")}
		for j := range rapid.IntRange(0, 2).Draw(t, "reversals") {
			a.Reversals = append(a.Reversals, Reversal{RefereeAccountID: fmt.Sprint("v", j), Amount: money("reversal", 5_000)})
		}
		switch rapid.IntRange(0, 2).Draw(t, "referred") {
		case 1:
			if j := rapid.IntRange(0, n-1).Draw(t, "referrer"); j != i {
				a.ReferredBy = fmt.Sprint("a", j)
			}
		case 2:
			a.ReferredBy = fmt.Sprint("x", rapid.IntRange(0, 2).Draw(t, "outside"))
			a.RewardWritten = rapid.IntRange(0, 4).Draw(t, "written") == 0
		}
		b.Accounts = append(b.Accounts, a)
	}
	for k := range 3 {
		b.DraftedElsewhere[fmt.Sprint("x", k)] = rapid.Bool().Draw(t, "elsewhere")
	}
	for k := range rapid.IntRange(0, 4).Draw(t, "pending") {
		b.Pending = append(b.Pending, PendingReward{ID: int64(k + 1), ReferrerAccountID: fmt.Sprint("a", rapid.IntRange(0, n-1).Draw(t, "to")),
			RefereeAccountID: fmt.Sprint("p", k), Amount: money("amount", 50_000)})
	}
	for k := range rapid.IntRange(0, 4).Draw(t, "referee drafts") {
		b.RefereeDrafts = append(b.RefereeDrafts, RefereeDraft{InvoiceID: int64(200 + k), AccountID: fmt.Sprint("o", k),
			ReferredBy: fmt.Sprint("a", rapid.IntRange(0, n-1).Draw(t, "of")), CreatedAt: created("created"), Base: money("base", 200_000)})
	}
	return b
}

// earned lists every reward the batch's facts earn, keyed by where it comes
// from (a pending row or the referee's invoice), as SPEC §3 states the
// rule, independently of AllocateReferrals.
func earned(b ReferralBatch) map[string]decimal.Decimal {
	out := map[string]decimal.Decimal{}
	inWindow := func(created time.Time) bool { return InReferralWindow(created, b.Period, b.Location) }
	for _, r := range b.Pending {
		if r.Amount.IsPositive() {
			out[fmt.Sprint("pending ", r.ID)] = r.Amount
		}
	}
	for _, r := range b.RefereeDrafts {
		if reward := ReferralReward(r.Base); inWindow(r.CreatedAt) && reward.IsPositive() {
			out["referee "+r.AccountID] = reward
		}
	}
	for _, a := range b.Accounts {
		if reward := ReferralReward(a.Usage); a.ReferredBy != "" && !a.RewardWritten && inWindow(a.CreatedAt) && reward.IsPositive() {
			out["referee "+a.AccountID] = reward
		}
	}
	return out
}

// Nothing earned is lost or given twice: every reward goes exactly one way
// (discount, carry-over, pending or credit), and only rewards of referees in
// their window exist; each invoice's discount is at most its subtotal, and
// its lines sum to subtotal − discount.
func TestPropertyAllocateReferrals(t *testing.T) {
	t.Parallel()
	rapid.Check(t, func(t *rapid.T) {
		b := genReferralBatch(t)
		got, err := AllocateReferrals(b)
		if err != nil {
			t.Fatal(err)
		}
		want := earned(b)
		given := map[string]decimal.Decimal{}
		give := func(key string, amount decimal.Decimal) {
			if _, twice := given[key]; twice {
				t.Fatalf("%s given twice", key)
			}
			given[key] = amount
		}
		created := map[string]time.Time{}
		referrer := map[string]string{}
		for _, a := range b.Accounts {
			created[a.AccountID], referrer[a.AccountID] = a.CreatedAt, a.ReferredBy
		}
		for _, r := range b.RefereeDrafts {
			created[r.AccountID], referrer[r.AccountID] = r.CreatedAt, r.ReferredBy
		}
		var earnedSum, discounts, carried, passed decimal.Decimal
		for _, amount := range want {
			earnedSum = earnedSum.Add(amount)
		}
		for i, a := range got.Accounts {
			in := b.Accounts[i]
			if a.AccountID != in.AccountID {
				t.Fatalf("allocation %d is %s, batch account %s", i, a.AccountID, in.AccountID)
			}
			var applied decimal.Decimal
			for _, r := range a.Applied {
				applied = applied.Add(r.Amount)
				if r.FromPending {
					give(fmt.Sprint("pending ", r.PendingID), r.Amount)
					continue
				}
				give("referee "+r.RefereeAccountID, r.Amount)
				if referrer[r.RefereeAccountID] != a.AccountID {
					t.Fatalf("%s took the reward of %s, referred by %q", a.AccountID, r.RefereeAccountID, referrer[r.RefereeAccountID])
				}
				if !InReferralWindow(created[r.RefereeAccountID], b.Period, b.Location) {
					t.Fatalf("reward from %s, outside its window", r.RefereeAccountID)
				}
			}
			subtotal := in.Usage
			for _, v := range in.Reversals {
				if v.Amount.IsPositive() {
					subtotal = subtotal.Add(v.Amount)
				}
			}
			if !a.Subtotal.Equal(subtotal) {
				t.Fatalf("%s: subtotal %s, usage and reversals %s", a.AccountID, a.Subtotal, subtotal)
			}
			if a.Discount.IsNegative() || a.Discount.GreaterThan(a.Subtotal) || a.Carryover.IsNegative() {
				t.Fatalf("%s: discount %s, carry-over %s, subtotal %s", a.AccountID, a.Discount, a.Carryover, a.Subtotal)
			}
			if !a.Discount.Add(a.Carryover).Equal(applied) {
				t.Fatalf("%s: applied %s, discount %s + carry-over %s", a.AccountID, applied, a.Discount, a.Carryover)
			}
			if !in.Usage.Add(sumLines(a.Lines)).Equal(a.Subtotal.Sub(a.Discount)) {
				t.Fatalf("%s: usage + lines %s, subtotal − discount %s", a.AccountID, in.Usage.Add(sumLines(a.Lines)), a.Subtotal.Sub(a.Discount))
			}
			vat := VAT{Rate: decimal.New(rapid.Int64Range(0, 300).Draw(t, "rate"), -1)}
			tot := a.Totals(vat)
			if !tot.Discount.Equal(a.Discount) || !tot.Carryover.Equal(a.Carryover) || !tot.Subtotal.Equal(a.Subtotal) || len(tot.Lines) != len(a.Lines) {
				t.Fatalf("%s: totals %+v disagree with the allocation %+v", a.AccountID, tot, a)
			}
			if !tot.Total.Equal(a.Subtotal.Sub(a.Discount).Add(tot.Tax)) || tot.Total.IsNegative() {
				t.Fatalf("%s: total %s", a.AccountID, tot.Total)
			}
			discounts, carried = discounts.Add(a.Discount), carried.Add(a.Carryover)
		}
		for _, r := range got.Outgoing {
			give("referee "+r.RefereeAccountID, r.Amount)
			passed = passed.Add(r.Amount)
			if referrer[r.RefereeAccountID] != r.ReferrerAccountID {
				t.Fatalf("reward of %s sent to %s", r.RefereeAccountID, r.ReferrerAccountID)
			}
			if !InReferralWindow(created[r.RefereeAccountID], b.Period, b.Location) {
				t.Fatalf("reward from %s, outside its window", r.RefereeAccountID)
			}
			if want := map[bool]RewardRoute{true: RouteToPending, false: RouteToCredit}[b.DraftedElsewhere[r.ReferrerAccountID]]; r.Route != want {
				t.Fatalf("reward of %s to %s routed %s, want %s", r.RefereeAccountID, r.ReferrerAccountID, r.Route, want)
			}
		}
		if len(given) != len(want) {
			t.Fatalf("earned %v, given %v", want, given)
		}
		for key, amount := range want {
			if !given[key].Equal(amount) {
				t.Fatalf("%s earned %s, given %s", key, amount, given[key])
			}
		}
		if !earnedSum.Equal(discounts.Add(carried).Add(passed)) {
			t.Fatalf("earned %s = discounts %s + carry-over %s + pending and credited %s does not hold", earnedSum, discounts, carried, passed)
		}
	})
}

// outcome is what a referral allocation means to each account in the end:
// its discount, carry-over and referral lines, and what goes to referrers
// outside (credited now, or pending for their draft elsewhere).
type outcome struct {
	discount, carryover map[string]string
	lines               map[string][]string
	credited, pending   map[string][]string
}

func newOutcome() outcome {
	return outcome{discount: map[string]string{}, carryover: map[string]string{}, lines: map[string][]string{},
		credited: map[string][]string{}, pending: map[string][]string{}}
}

func (o outcome) add(got ReferralAllocation, skipPendingTo map[string]bool) {
	for _, a := range got.Accounts {
		o.discount[a.AccountID], o.carryover[a.AccountID] = a.Discount.String(), a.Carryover.String()
		for _, l := range a.Lines {
			o.lines[a.AccountID] = append(o.lines[a.AccountID], fmt.Sprint(l.Type, " ", l.RefereeAccountID, " ", l.Amount))
		}
	}
	for _, r := range got.Outgoing {
		entry := r.RefereeAccountID + " " + r.Amount.String()
		switch {
		case r.Route == RouteToCredit:
			o.credited[r.ReferrerAccountID] = append(o.credited[r.ReferrerAccountID], entry)
		case !skipPendingTo[r.ReferrerAccountID]:
			o.pending[r.ReferrerAccountID] = append(o.pending[r.ReferrerAccountID], entry)
		}
	}
}

// The run finalizes a batch in chunks, in account order, while the dry run
// allocates it whole: chunk by chunk, with what the first chunk leaves
// pending (or takes from the second's drafts) written in between, every
// account ends with the same discount, carry-over, lines and credits.
func TestPropertyAllocateReferralsInChunksAgrees(t *testing.T) {
	t.Parallel()
	rapid.Check(t, func(t *rapid.T) {
		whole := genReferralBatch(t)
		one, err := AllocateReferrals(whole)
		if err != nil {
			t.Fatal(err)
		}
		want := newOutcome()
		want.add(one, nil)

		k := rapid.IntRange(0, len(whole.Accounts)).Draw(t, "chunk")
		first, second := whole.Accounts[:k], append([]ReferralAccount(nil), whole.Accounts[k:]...)
		inFirst, inSecond := map[string]bool{}, map[string]bool{}
		for _, a := range first {
			inFirst[a.AccountID] = true
		}
		for _, a := range second {
			inSecond[a.AccountID] = true
		}
		// The first chunk sees the second's drafts as referee drafts
		// elsewhere and its accounts as drafted elsewhere.
		c1 := ReferralBatch{Period: whole.Period, Location: whole.Location, Accounts: first, DraftedElsewhere: map[string]bool{}}
		for id, ok := range whole.DraftedElsewhere {
			c1.DraftedElsewhere[id] = ok
		}
		for _, r := range whole.Pending {
			if inFirst[r.ReferrerAccountID] {
				c1.Pending = append(c1.Pending, r)
			}
		}
		for _, r := range whole.RefereeDrafts {
			if inFirst[r.ReferredBy] {
				c1.RefereeDrafts = append(c1.RefereeDrafts, r)
			}
		}
		for _, a := range second {
			c1.DraftedElsewhere[a.AccountID] = true
			if inFirst[a.ReferredBy] && !a.RewardWritten {
				c1.RefereeDrafts = append(c1.RefereeDrafts, RefereeDraft{InvoiceID: a.InvoiceID, AccountID: a.AccountID, ReferredBy: a.ReferredBy, CreatedAt: a.CreatedAt, Base: a.Usage})
			}
		}
		r1, err := AllocateReferrals(c1)
		if err != nil {
			t.Fatal(err)
		}
		got := newOutcome()
		got.add(r1, inSecond)

		// The second chunk: the first is finalized, what it took from the
		// second's drafts is written, what it left pending for them waits.
		taken := map[int64]bool{}
		for _, a := range r1.Accounts {
			for _, r := range a.Applied {
				if !r.FromPending {
					taken[r.RefereeInvoiceID] = true
				}
			}
		}
		c2 := ReferralBatch{Period: whole.Period, Location: whole.Location, DraftedElsewhere: whole.DraftedElsewhere}
		for i := range second {
			second[i].RewardWritten = second[i].RewardWritten || taken[second[i].InvoiceID]
		}
		c2.Accounts = second
		for _, r := range whole.Pending {
			if inSecond[r.ReferrerAccountID] {
				c2.Pending = append(c2.Pending, r)
			}
		}
		for i, r := range r1.Outgoing {
			if r.Route == RouteToPending && inSecond[r.ReferrerAccountID] {
				c2.Pending = append(c2.Pending, PendingReward{ID: int64(1000 + i), ReferrerAccountID: r.ReferrerAccountID, RefereeAccountID: r.RefereeAccountID, Amount: r.Amount})
			}
		}
		for _, r := range whole.RefereeDrafts {
			if inSecond[r.ReferredBy] {
				c2.RefereeDrafts = append(c2.RefereeDrafts, r)
			}
		}
		r2, err := AllocateReferrals(c2)
		if err != nil {
			t.Fatal(err)
		}
		got.add(r2, nil)

		for _, o := range []outcome{want, got} {
			for _, m := range []map[string][]string{o.lines, o.credited, o.pending} {
				for id := range m {
					sort.Strings(m[id])
				}
			}
		}
		require.Equal(t, want, got)
	})
}
