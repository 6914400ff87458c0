package jobs_test

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/billingengine/engine/billing"
	"github.com/billingengine/engine/invoices"
	"github.com/billingengine/engine/jobs"
)

// Usage on both sides of October 2026's edges, which UTC and Auckland
// (UTC+13 then) place in different months: "early" (30 September 12:00 to
// 1 October 00:00 UTC) is October in Auckland and September in UTC; "late"
// (31 October 12:00 to 1 November 00:00 UTC) is October in UTC and
// November in Auckland. a02 was created on 31 October 2025 at 12:00 UTC:
// in October 2025 in UTC, whose referral window ends with September 2026,
// but in November 2025 in Auckland, whose window ends with October 2026.
const (
	tzCatalog = `{"resource":"container:M","description":"M container","price_per_hour":"0.0300","effective_from":"2025-01-01T00:00:00Z"}
`
	tzUsage = `{"id":"%[1]s-early","account_id":"%[1]s","app":"early","resource":"container:M","quantity":1,"started_at":"2026-09-30T12:00:00Z","ended_at":"2026-10-01T00:00:00Z"}
{"id":"%[1]s-mid","account_id":"%[1]s","app":"mid","resource":"container:M","quantity":1,"started_at":"2026-10-15T00:00:00Z","ended_at":"2026-10-16T00:00:00Z"}
{"id":"%[1]s-late","account_id":"%[1]s","app":"late","resource":"container:M","quantity":1,"started_at":"2026-10-31T12:00:00Z","ended_at":"2026-11-01T00:00:00Z"}
`
	tzAccounts = 6
)

// Two workers configured with different BILLING_TIMEZONE (UTC and
// Pacific/Auckland) work the same run at once, shard by shard: every
// invoice has the run's stored bounds, usage near the month's edges is
// billed per the run's zone only, and so are the referral window and the
// year the invoices are numbered in. Once for a run created in each
// worker's zone, so that each worker drafts some run in a zone not its own.
// Before runs stored their bounds, each worker drafted its shards over the
// month in its own zone: one run's invoices covered two different months.
func TestRunTimeZoneIsTheRunsNotTheWorkers(t *testing.T) {
	t.Parallel()
	auckland, err := time.LoadLocation("Pacific/Auckland")
	require.NoError(t, err)
	// The workers share one clock, set just before New Year's Eve ends in
	// UTC: it is already 2027 in Auckland, so the year of issue depends on
	// which zone finalization reads.
	issue := time.Date(2026, 12, 31, 23, 30, 0, 0, time.UTC)
	for _, tc := range []struct {
		zone *time.Location
		// want is each account's invoice (summary), numbered in year.
		want map[string]string
		year int
	}{{
		zone: time.UTC,
		want: map[string]string{
			"*": "sub=1.08 disc=0.00 rate=0 tax=0.00 total=1.08 [usage:late/container:M=0.36 usage:mid/container:M=0.72]",
		},
		year: 2026,
	}, {
		zone: auckland,
		want: map[string]string{
			"*":   "sub=1.08 disc=0.00 rate=0 tax=0.00 total=1.08 [usage:early/container:M=0.36 usage:mid/container:M=0.72]",
			"a01": "sub=1.08 disc=0.22 rate=0 tax=0.00 total=0.86 [usage:early/container:M=0.36 usage:mid/container:M=0.72 referral:/a02=-0.22]",
		},
		year: 2027,
	}} {
		t.Run("run_in_"+strings.ReplaceAll(tc.zone.String(), "/", "_"), func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			tb := setup(t)
			tb.load(t, "catalog", tzCatalog)
			var accounts, usage strings.Builder
			for i := 1; i <= tzAccounts; i++ {
				id := fmt.Sprintf("a%02d", i)
				created, referredBy := "2025-01-01T00:00:00Z", ""
				if id == "a02" {
					created, referredBy = "2025-10-31T12:00:00Z", `,"referred_by":"a01"`
				}
				fmt.Fprintf(&accounts, `{"id":%q,"name":"Kiwi %s","email":"%s@example.test","country":"US","created_at":%q%s}`+"\n", id, id, id, created, referredBy)
				fmt.Fprintf(&usage, tzUsage, id)
			}
			tb.load(t, "accounts", accounts.String())
			tb.load(t, "usage", usage.String())

			// One account a shard, one billing job at a time per worker.
			tb.cfg.ShardSize, tb.cfg.BillingWorkers = 1, 1
			tb.cfg.Now = func() time.Time { return issue }
			workers := map[string]string{} // client id -> its zone
			for _, loc := range []*time.Location{time.UTC, auckland} {
				cfg := tb.cfg
				cfg.Location = loc
				w := (&testBundle{db: tb.db, pool: tb.pool, cfg: cfg}).startWorker(t)
				workers[w.ID()] = loc.String()
			}

			// Both workers must draft shards of the run: a01 is locked, so
			// that the worker taking its shard waits, its one billing slot
			// busy, while the other drafts every other shard.
			hold, err := tb.pool.Begin(ctx)
			require.NoError(t, err)
			defer hold.Rollback(ctx) //nolint:errcheck // committed below
			_, err = hold.Exec(ctx, `SELECT 1 FROM accounts WHERE id = 'a01' FOR UPDATE`)
			require.NoError(t, err)

			inserter, err := jobs.NewInsertClient(tb.pool)
			require.NoError(t, err)
			run, _, err := jobs.StartRun(ctx, tb.pool, inserter, invoices.RunParams{
				Period: billing.MustPeriod("2026-10"), RequestedBy: "test", Location: tc.zone})
			require.NoError(t, err)
			start, end := billing.MustPeriod("2026-10").Bounds(tc.zone)
			require.Equal(t, tc.zone.String(), run.TimeZone)
			require.True(t, start.Equal(run.PeriodStart) && end.Equal(run.PeriodEnd),
				"run bounds [%s, %s), want [%s, %s)", run.PeriodStart, run.PeriodEnd, start, end)

			require.Eventually(t, func() bool {
				r, err := invoices.GetRun(ctx, tb.pool, run.ID)
				return err == nil && r.ShardsTotal == tzAccounts && r.ShardsDone == tzAccounts-1
			}, 30*time.Second, 20*time.Millisecond, "the other worker drafts the shards a01's doesn't hold")
			require.NoError(t, hold.Commit(ctx))
			run = tb.waitRun(t, run.ID)
			require.Equal(t, tzAccounts, run.InvoicesFinalized)

			var drafters []string
			rows, err := tb.pool.Query(ctx, `SELECT DISTINCT unnest(attempted_by) FROM river_job WHERE kind = 'billing_draft_shard'`)
			require.NoError(t, err)
			ids, err := pgx.CollectRows(rows, pgx.RowTo[string])
			require.NoError(t, err)
			for _, id := range ids {
				drafters = append(drafters, workers[id])
			}
			sort.Strings(drafters)
			require.Equal(t, []string{"Pacific/Auckland", "UTC"}, drafters, "both workers drafted shards of the run")

			got := tb.invoices(t, "2026-10")
			require.Len(t, got, tzAccounts)
			for acc, inv := range got {
				require.Equal(t, run.ID, inv.RunID)
				require.True(t, inv.PeriodStart.Equal(run.PeriodStart) && inv.PeriodEnd.Equal(run.PeriodEnd),
					"%s billed over [%s, %s), the run over [%s, %s)", acc, inv.PeriodStart, inv.PeriodEnd, run.PeriodStart, run.PeriodEnd)
				want, ok := tc.want[acc]
				if !ok {
					want = tc.want["*"]
				}
				require.Equal(t, want, summary(inv), acc)
				require.True(t, strings.HasPrefix(inv.Number, fmt.Sprintf("INV-%d-", tc.year)), "%s numbered %s", acc, inv.Number)
			}
		})
	}
}
