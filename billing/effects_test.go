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
		Timeline: []billing.TimelineEvent{{AccountID: "acc_2", Kind: billing.TimelineCreditAdded}}, At: t1}
	m := a.Merge(b)
	require.Equal(t, billing.Effects{CollectOpenInvoices: []string{"acc_1", "acc_2"}, CheckStanding: []string{"acc_2"},
		Timeline: b.Timeline, Render: []string{"INV-1"}, At: t2}, m)
	m.CollectOpenInvoices[0] = "changed"
	_ = append(a.CollectOpenInvoices, "appended")
	require.Equal(t, "acc_1", a.CollectOpenInvoices[0])
	require.Equal(t, "acc_2", m.CollectOpenInvoices[1])

	require.True(t, billing.Effects{At: t1}.Empty())
	require.True(t, billing.Effects{}.Merge(billing.Effects{}).Empty())
	require.False(t, m.Empty())
}
