package billing

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"pgregory.net/rapid"
)

func TestDecideDunning(t *testing.T) {
	t.Parallel()
	t0 := ts("2026-11-01T00:30:00Z")
	day := func(d float64) time.Time { return t0.Add(time.Duration(d * float64(24*time.Hour))) }
	cases := []struct {
		name string
		in   DunningInput
		want DunningDecision
	}{
		{"issue day: nothing yet", DunningInput{Now: day(0.5), CanRetry: true}, DunningDecision{}},
		{"day 1: first retry", DunningInput{Now: day(1), CanRetry: true}, DunningDecision{RetrySlot: 1}},
		{"day 1 again: done", DunningInput{Now: day(1.2), CanRetry: true, LastSlot: 1, LastSlotFailed: true}, DunningDecision{}},
		{"a second before day 2", DunningInput{Now: day(2).Add(-time.Second), CanRetry: true, LastSlot: 1}, DunningDecision{}},
		{"day 3 after a missed pass: one retry", DunningInput{Now: day(3), CanRetry: true, LastSlot: 1}, DunningDecision{RetrySlot: 3}},
		{"day 5: last retry", DunningInput{Now: day(5), CanRetry: true, LastSlot: 4, LastSlotFailed: true}, DunningDecision{RetrySlot: 5}},
		{"day 5: last retry failed", DunningInput{Now: day(5), CanRetry: true, LastSlot: 5, LastSlotFailed: true}, DunningDecision{Overdue: true}},
		{"day 9: still no more retries", DunningInput{Now: day(9), CanRetry: true, LastSlot: 5, LastSlotFailed: true}, DunningDecision{Overdue: true}},
		{"day 5: SEPA retry processing", DunningInput{Now: day(5), CanRetry: true, LastSlot: 5, InFlight: true}, DunningDecision{}},
		{"no method: day 4", DunningInput{Now: day(4.9)}, DunningDecision{}},
		{"no method: t0 + 5 days", DunningInput{Now: day(5)}, DunningDecision{Overdue: true}},
		{"method added late: one last try", DunningInput{Now: day(6), CanRetry: true}, DunningDecision{RetrySlot: 5}},
		{"clock before t0", DunningInput{Now: day(-1), CanRetry: true}, DunningDecision{}},
	}
	for _, tc := range cases {
		tc.in.IssuedAt = t0
		require.Equal(t, tc.want, DecideDunning(tc.in), tc.name)
	}
}

// An always-declining card is tried exactly 1 + 5 times and its invoice
// becomes overdue after the last, whatever the times the passes run at.
func TestPropertyDunningSchedule(t *testing.T) {
	t.Parallel()
	rapid.Check(t, func(t *rapid.T) {
		t0 := ts("2026-11-01T00:30:00Z")
		now := t0
		in := DunningInput{IssuedAt: t0, CanRetry: true}
		attempts, overdueAt := 1, time.Time{}
		for now.Before(t0.Add(10 * 24 * time.Hour)) {
			now = now.Add(time.Duration(rapid.Int64Range(int64(time.Minute), int64(30*time.Hour)).Draw(t, "step")))
			in.Now = now
			d := DecideDunning(in)
			if d.RetrySlot > 0 {
				if d.RetrySlot <= in.LastSlot || now.Before(t0.Add(time.Duration(d.RetrySlot)*DunningInterval)) {
					t.Fatalf("retry %d at %s: not due", d.RetrySlot, now.Sub(t0))
				}
				attempts++
				in.LastSlot, in.LastSlotFailed = d.RetrySlot, true
			}
			if d.Overdue && overdueAt.IsZero() {
				overdueAt = now
				if in.LastSlot != DunningRetries {
					t.Fatalf("overdue before the last retry")
				}
			}
		}
		if overdueAt.IsZero() || attempts > 1+DunningRetries || overdueAt.Before(t0.Add(DunningRetries*DunningInterval)) {
			t.Fatalf("attempts %d, overdue at %s", attempts, overdueAt.Sub(t0))
		}
	})
}
