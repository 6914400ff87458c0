package payments

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/billingengine/engine/internal/dbtest"
)

// TestDunningFactsByIDLookTheBatchUpByID is the first month's run: the
// statistics date from the drafts, so the partial index of open invoices
// looks empty while collection fills it, and a plan through it scans every
// open invoice for each batch of declines.
func TestDunningFactsByIDLookTheBatchUpByID(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	d := dbtest.New(t)
	d.FirstMonth(t, 20000, "acc_999999", true)
	ids := make([]int64, 25)
	for i := range ids {
		ids[i] = int64(i*797 + 1)
	}
	require.Contains(t, dunningByIDSQL, "FROM batch i\n")
	plan := d.Explain(t, dunningByIDSQL, ids)
	require.Contains(t, plan, "invoices_pkey", plan)
	require.NotContains(t, plan, "invoices_open", plan)

	// And it reads what the other forms read.
	got, err := DunningCandidatesByID(ctx, d.Pool, ids, time.Date(2026, 11, 2, 0, 0, 0, 0, time.UTC))
	require.NoError(t, err)
	require.Len(t, got, len(ids))
}
