package invoices_test

import (
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/billingengine/engine/billing"
	"github.com/billingengine/engine/invoices"
)

// A run refuses a period that has not ended in the billing time zone
// (SPEC §3), and records nothing when it does.
func TestCreateRunRefusesAnUnendedPeriod(t *testing.T) {
	t.Parallel()
	paris, err := time.LoadLocation("Europe/Paris")
	require.NoError(t, err)

	create := func(t *testing.T, b *billBundle, now time.Time, loc *time.Location) (*invoices.Run, error) {
		t.Helper()
		var run *invoices.Run
		err := pgx.BeginFunc(b.ctx, b.db.Pool, func(tx pgx.Tx) error {
			var err error
			run, _, err = invoices.CreateRun(b.ctx, tx, invoices.RunParams{Period: billing.MustPeriod("2026-10"), RequestedBy: "test", Now: now, Location: loc})
			return err
		})
		return run, err
	}
	runs := func(t *testing.T, b *billBundle) int {
		t.Helper()
		var n int
		require.NoError(t, b.db.Pool.QueryRow(b.ctx, `SELECT count(*) FROM billing_runs`).Scan(&n))
		return n
	}

	for _, tc := range []struct {
		name  string
		now   time.Time
		loc   *time.Location
		ended bool
	}{
		{"UTCLastMinute", time.Date(2026, 10, 31, 23, 59, 0, 0, time.UTC), time.UTC, false},
		{"UTCEnded", time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC), time.UTC, true},
		// October ends at 2026-10-31T23:00Z in Paris (UTC+1 after the DST change).
		{"ParisNotYet", time.Date(2026, 10, 31, 22, 30, 0, 0, time.UTC), paris, false},
		{"ParisEndedBeforeUTC", time.Date(2026, 10, 31, 23, 30, 0, 0, time.UTC), paris, true},
		{"MidMonth", time.Date(2026, 10, 15, 0, 0, 0, 0, time.UTC), time.UTC, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			b := billSetup(t)
			run, err := create(t, b, tc.now, tc.loc)
			if tc.ended {
				require.NoError(t, err)
				start, end := billing.MustPeriod("2026-10").Bounds(tc.loc)
				require.Equal(t, tc.loc.String(), run.TimeZone)
				require.True(t, run.PeriodStart.Equal(start) && run.PeriodEnd.Equal(end), "the run keeps its zone's bounds")
				require.Equal(t, 1, runs(t, b))
				return
			}
			var notEnded *billing.PeriodNotEndedError
			require.ErrorAs(t, err, &notEnded)
			require.False(t, notEnded.NotStarted)
			require.Zero(t, runs(t, b), "a refused run is not recorded")
		})
	}

	t.Run("StartRunCheckedRefusesToo", func(t *testing.T) {
		t.Parallel()
		b := billSetup(t)
		err := pgx.BeginFunc(b.ctx, b.db.Pool, func(tx pgx.Tx) error {
			_, err := invoices.StartRunChecked(b.ctx, tx, invoices.RunParams{Period: billing.MustPeriod("2026-10"), RequestedBy: "test",
				Now: time.Date(2026, 10, 31, 12, 0, 0, 0, time.UTC), Location: time.UTC})
			return err
		})
		var notEnded *billing.PeriodNotEndedError
		require.ErrorAs(t, err, &notEnded)
		require.Zero(t, runs(t, b))
	})

	t.Run("LocationRequired", func(t *testing.T) {
		t.Parallel()
		b := billSetup(t)
		_, err := create(t, b, b.now, nil)
		require.ErrorContains(t, err, "Location is required")
	})
}
