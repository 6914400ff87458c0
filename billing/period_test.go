package billing

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestPeriodBounds(t *testing.T) {
	t.Parallel()
	paris, err := time.LoadLocation("Europe/Paris")
	require.NoError(t, err)
	cases := []struct {
		period string
		loc    *time.Location
		hours  float64
		start  string
	}{
		{"2026-10", time.UTC, 744, "2026-10-01T00:00:00Z"},
		{"2026-11", time.UTC, 720, "2026-11-01T00:00:00Z"},
		{"2026-02", time.UTC, 672, "2026-02-01T00:00:00Z"},
		{"2028-02", time.UTC, 696, "2028-02-01T00:00:00Z"}, // leap year
		{"2026-03", paris, 743, "2026-02-28T23:00:00Z"},    // clocks go forward on 29 March
		{"2026-10", paris, 745, "2026-09-30T22:00:00Z"},    // and back on 25 October
		{"2026-12", paris, 744, "2026-11-30T23:00:00Z"},
	}
	for _, tc := range cases {
		start, end := MustPeriod(tc.period).Bounds(tc.loc)
		require.Equal(t, tc.hours, end.Sub(start).Hours(), "%s in %s", tc.period, tc.loc)
		require.Equal(t, tc.start, start.UTC().Format(time.RFC3339), "%s in %s", tc.period, tc.loc)
	}
}

func TestParsePeriod(t *testing.T) {
	t.Parallel()
	p, err := ParsePeriod("2026-10")
	require.NoError(t, err)
	require.Equal(t, Period{2026, time.October}, p)
	require.Equal(t, "2026-10", p.String())
	for _, bad := range []string{"", "2026-13", "2026-1", "26-10", "2026-10-01", "1999-12", "2100-01", "2026/10"} {
		_, err := ParsePeriod(bad)
		require.ErrorIs(t, err, ErrBadPeriod, bad)
	}
}

func TestPeriodArithmetic(t *testing.T) {
	t.Parallel()
	p := MustPeriod("2026-11")
	require.Equal(t, MustPeriod("2027-01"), p.Add(2))
	require.Equal(t, MustPeriod("2025-12"), p.Add(-11))
	require.Equal(t, 11, p.Sub(MustPeriod("2025-12")))
	require.Equal(t, -2, p.Sub(MustPeriod("2027-01")))
	require.True(t, MustPeriod("2026-09").Before(p))
	paris, _ := time.LoadLocation("Europe/Paris")
	// 30 September 23:30 UTC is already October in Paris.
	at := time.Date(2026, 9, 30, 23, 30, 0, 0, time.UTC)
	require.Equal(t, MustPeriod("2026-09"), PeriodOf(at, time.UTC))
	require.Equal(t, MustPeriod("2026-10"), PeriodOf(at, paris))
}

func TestCheckEnded(t *testing.T) {
	t.Parallel()
	paris, err := time.LoadLocation("Europe/Paris")
	require.NoError(t, err)
	dec := MustPeriod("2026-12")
	// The last instant of the month is not the end: the end is exclusive.
	require.EqualError(t, dec.CheckEnded(time.Date(2026, 12, 31, 23, 59, 59, 999999999, time.UTC), time.UTC),
		"period 2026-12 has not ended (it ends 2027-01-01T00:00:00Z)")
	require.NoError(t, dec.CheckEnded(time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC), time.UTC))
	// In Paris December ends an hour before it does in UTC.
	require.NoError(t, dec.CheckEnded(time.Date(2026, 12, 31, 23, 0, 0, 0, time.UTC), paris))
	require.EqualError(t, dec.CheckEnded(time.Date(2026, 12, 31, 22, 59, 59, 0, time.UTC), paris),
		"period 2026-12 has not ended (it ends 2027-01-01T00:00:00+01:00)")
	var pe *PeriodNotEndedError
	err = MustPeriod("2030-01").CheckEnded(time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC), time.UTC)
	require.ErrorAs(t, err, &pe)
	require.EqualError(t, err, "period 2030-01 has not ended (it ends 2030-02-01T00:00:00Z)")

	require.NoError(t, dec.CheckStarted(time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC), time.UTC))
	err = dec.CheckStarted(time.Date(2026, 11, 30, 23, 59, 59, 0, time.UTC), time.UTC)
	require.ErrorAs(t, err, &pe)
	require.True(t, pe.NotStarted)
	require.EqualError(t, err, "period 2026-12 has not started (it starts 2026-12-01T00:00:00Z): there is no usage to preview")
}
