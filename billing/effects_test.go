package billing_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/billingengine/engine/billing"
)

// Merge keeps both operations' effects in order and the later time, and
// shares no list with its parts.
func TestEffectsMerge(t *testing.T) {
	t.Parallel()
	t1, t2 := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC), time.Date(2026, 11, 2, 0, 0, 0, 0, time.UTC)
	a := billing.Effects{CollectOpenInvoices: make([]string, 1, 4), Render: []string{"INV-1"}, At: t2}
	a.CollectOpenInvoices[0] = "acc_1"
	b := billing.Effects{CollectOpenInvoices: []string{"acc_2"}, CheckStanding: []string{"acc_2"},
		Timeline: []billing.TimelineEvent{{AccountID: "acc_2", Kind: billing.TimelineCreditAdded}},
		Events:   []billing.Event{{AccountID: "acc_2", Type: billing.EventCreditAdded}}, At: t1}
	m := a.Merge(b)
	require.Equal(t, billing.Effects{CollectOpenInvoices: []string{"acc_1", "acc_2"}, CheckStanding: []string{"acc_2"},
		Timeline: b.Timeline, Events: b.Events, Render: []string{"INV-1"}, At: t2}, m)
	m.CollectOpenInvoices[0] = "changed"
	_ = append(a.CollectOpenInvoices, "appended")
	require.Equal(t, "acc_1", a.CollectOpenInvoices[0])
	require.Equal(t, "acc_2", m.CollectOpenInvoices[1])

	require.True(t, billing.Effects{At: t1}.Empty())
	require.True(t, billing.Effects{}.Merge(billing.Effects{}).Empty())
	require.False(t, m.Empty())
	require.False(t, billing.Effects{Events: b.Events}.Empty())
}

// The dates a payment failure announces follow the daily retries of SPEC
// §5: the next slot while one is left, and suspension at t0 + 5 days.
func TestPaymentFailureDates(t *testing.T) {
	t.Parallel()
	t0 := time.Date(2026, 11, 1, 6, 0, 0, 0, time.UTC)
	next, susp := billing.PaymentFailureDates(t0, t0)
	require.Equal(t, t0.Add(24*time.Hour), *next)
	require.Equal(t, t0.Add(5*24*time.Hour), susp)
	next, _ = billing.PaymentFailureDates(t0, t0.Add(4*24*time.Hour+time.Minute))
	require.Equal(t, t0.Add(5*24*time.Hour), *next)
	next, _ = billing.PaymentFailureDates(t0, t0.Add(5*24*time.Hour+time.Minute))
	require.Nil(t, next)
	require.True(t, billing.EventCreditAdded.Valid())
	require.False(t, billing.EventType("invoice.created").Valid())
}
