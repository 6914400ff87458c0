package billing

import (
	"testing"
	"time"

	"github.com/shopspring/decimal"
	"github.com/stretchr/testify/require"
)

func d(s string) decimal.Decimal { return decimal.RequireFromString(s) }

func ts(s string) time.Time {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		panic(err)
	}
	return t
}

// smokeCatalog is the catalog of the contract's worked example.
func smokeCatalog() Catalog {
	c := Catalog{}
	c.Add("container:M", PricePoint{ts("2026-01-01T00:00:00Z"), d("0.0278")})
	c.Add("container:M", PricePoint{ts("2026-10-16T00:00:00Z"), d("0.0300")})
	c.Add("addon:redis", PricePoint{ts("2026-01-01T00:00:00Z"), d("0.0069")})
	return c
}

type wantLine struct{ app, resource, hours, amount string }

func requireLines(t *testing.T, got []UsageLine, want ...wantLine) {
	t.Helper()
	require.Len(t, got, len(want))
	for i, w := range want {
		require.Equal(t, w.app, got[i].App, "line %d", i)
		require.Equal(t, w.resource, got[i].Resource, "line %d", i)
		require.True(t, d(w.hours).Equal(got[i].Hours), "line %d hours: got %s, want %s", i, got[i].Hours, w.hours)
		require.True(t, d(w.amount).Equal(got[i].Amount), "line %d amount: got %s, want %s", i, got[i].Amount, w.amount)
	}
}

func TestRate(t *testing.T) {
	t.Parallel()
	paris, err := time.LoadLocation("Europe/Paris")
	require.NoError(t, err)
	octStart, octEnd := MustPeriod("2026-10").Bounds(time.UTC)

	cases := []struct {
		name     string
		segments []Segment
		catalog  Catalog
		loc      *time.Location
		period   string
		want     []wantLine
	}{
		{
			// 2 × (48 h at 0.0278 + 48 h at 0.0300) = 5.5488 -> 5.55
			name:     "price change inside the period",
			segments: []Segment{{"web", "container:M", 2, ts("2026-10-14T00:00:00Z"), ts("2026-10-18T00:00:00Z")}},
			want:     []wantLine{{"web", "container:M", "192", "5.55"}},
		},
		{
			// started in September, still running: all of October, 744 h × 0.0069 = 5.1336
			name:     "running segment started before the period",
			segments: []Segment{{"web", "addon:redis", 1, ts("2026-09-01T00:00:00Z"), time.Time{}}},
			want:     []wantLine{{"web", "addon:redis", "744", "5.13"}},
		},
		{
			// 360 h × 0.0278 + 384 h × 0.0300 = 10.008 + 11.52 = 21.528
			name:     "segment spanning three months",
			segments: []Segment{{"api", "container:M", 1, ts("2026-09-20T00:00:00Z"), ts("2026-11-05T00:00:00Z")}},
			want:     []wantLine{{"api", "container:M", "744", "21.53"}},
		},
		{
			// 3 × 1 h at 0.0300 + 10 s at 0.0278 in one line:
			// hours 10810/3600 = 3.0027777… ; amount (324 + 0.278)/3600 = 0.09007…
			name: "pieces of one line summed before rounding",
			segments: []Segment{
				{"w", "container:M", 3, ts("2026-10-31T23:00:00Z"), ts("2026-11-01T02:00:00Z")},
				{"w", "container:M", 1, ts("2026-10-10T00:00:00Z"), ts("2026-10-10T00:00:10Z")},
			},
			want: []wantLine{{"w", "container:M", "3.002778", "0.09"}},
		},
		{
			// The price changes 5 s into a 10 s segment: 5 s at 360 and 5 s
			// at 720 per hour = 0.5 + 1 = 1.50
			name:     "price change at a second inside the month",
			segments: []Segment{{"x", "gpu", 1, ts("2026-10-10T12:00:00Z"), ts("2026-10-10T12:00:10Z")}},
			catalog: Catalog{"gpu": {
				{ts("2026-01-01T00:00:00Z"), d("360")},
				{ts("2026-10-10T12:00:05Z"), d("720")},
			}},
			want: []wantLine{{"x", "gpu", "0.002778", "1.50"}},
		},
		{
			// 5 h at 0.001 is exactly 0.005: half up gives 0.01.
			name:     "x.xx5 rounds up",
			segments: []Segment{{"a", "tiny", 1, ts("2026-10-01T00:00:00Z"), ts("2026-10-01T05:00:00Z")}},
			catalog:  Catalog{"tiny": {{ts("2026-01-01T00:00:00Z"), d("0.001")}}},
			want:     []wantLine{{"a", "tiny", "5", "0.01"}},
		},
		{
			// 50 h at 0.0469 = 2.345 exactly -> 2.35
			name:     "x.xx5 rounds up at a larger amount",
			segments: []Segment{{"a", "mid", 1, ts("2026-10-02T00:00:00Z"), ts("2026-10-04T02:00:00Z")}},
			catalog:  Catalog{"mid": {{ts("2026-01-01T00:00:00Z"), d("0.0469")}}},
			want:     []wantLine{{"a", "mid", "50", "2.35"}},
		},
		{
			// 0.004999… stays below the half cent: dropped as 0.00.
			name:     "lines rounding to zero are dropped",
			segments: []Segment{{"a", "tiny", 1, ts("2026-10-01T00:00:00Z"), ts("2026-10-01T04:59:59Z")}},
			catalog:  Catalog{"tiny": {{ts("2026-01-01T00:00:00Z"), d("0.001")}}},
			want:     []wantLine{},
		},
		{
			name: "usage outside the period is ignored",
			segments: []Segment{
				{"a", "container:M", 1, ts("2026-09-01T00:00:00Z"), ts("2026-10-01T00:00:00Z")},
				{"a", "container:M", 1, ts("2026-11-01T00:00:00Z"), time.Time{}},
			},
			want: []wantLine{},
		},
		{
			// Europe/Paris October 2026 has 745 hours: 745 × 0.0069 = 5.1405
			name:     "DST month with an extra hour",
			segments: []Segment{{"web", "addon:redis", 1, ts("2026-09-01T00:00:00Z"), time.Time{}}},
			loc:      paris,
			want:     []wantLine{{"web", "addon:redis", "745", "5.14"}},
		},
		{
			// Europe/Paris March 2026 has 743 hours: 743 × 2 × 0.0278 = 41.3108
			name:     "DST month with an hour less",
			segments: []Segment{{"web", "container:M", 2, ts("2026-02-01T00:00:00Z"), time.Time{}}},
			loc:      paris,
			period:   "2026-03",
			want:     []wantLine{{"web", "container:M", "1486", "41.31"}},
		},
		{
			// February 2028 has 29 days: 696 h × 0.0300 = 20.88
			name:     "February of a leap year",
			segments: []Segment{{"web", "container:M", 1, ts("2028-01-15T00:00:00Z"), ts("2028-03-15T00:00:00Z")}},
			period:   "2028-02",
			want:     []wantLine{{"web", "container:M", "696", "20.88"}},
		},
		{
			name: "lines sorted by app then resource",
			segments: []Segment{
				{"b", "container:M", 1, ts("2026-10-01T00:00:00Z"), ts("2026-10-02T00:00:00Z")},
				{"a", "container:M", 1, ts("2026-10-01T00:00:00Z"), ts("2026-10-02T00:00:00Z")},
				{"a", "addon:redis", 1, ts("2026-10-01T00:00:00Z"), ts("2026-10-31T00:00:00Z")},
			},
			want: []wantLine{
				{"a", "addon:redis", "720", "4.97"},
				{"a", "container:M", "24", "0.67"},
				{"b", "container:M", "24", "0.67"},
			},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			cat := tc.catalog
			if cat == nil {
				cat = smokeCatalog()
			}
			loc := tc.loc
			if loc == nil {
				loc = time.UTC
			}
			period := tc.period
			if period == "" {
				period = "2026-10"
			}
			start, end := MustPeriod(period).Bounds(loc)
			got, err := Rate(tc.segments, cat, start, end)
			require.NoError(t, err)
			requireLines(t, got, tc.want...)
		})
	}

	t.Run("price detail per line", func(t *testing.T) {
		t.Parallel()
		got, err := Rate([]Segment{{"web", "container:M", 2, ts("2026-10-14T00:00:00Z"), ts("2026-10-18T00:00:00Z")}}, smokeCatalog(), octStart, octEnd)
		require.NoError(t, err)
		require.Len(t, got[0].Prices, 2)
		require.Equal(t, "0.0278×96", got[0].Prices[0].PerHour.String()+"×"+got[0].Prices[0].Hours.String())
		require.Equal(t, "0.03×96", got[0].Prices[1].PerHour.String()+"×"+got[0].Prices[1].Hours.String())
	})

	t.Run("usage before the first price", func(t *testing.T) {
		t.Parallel()
		cat := Catalog{"late": {{ts("2026-10-15T00:00:00Z"), d("1")}}}
		_, err := Rate([]Segment{{"a", "late", 1, ts("2026-10-14T00:00:00Z"), ts("2026-10-16T00:00:00Z")}}, cat, octStart, octEnd)
		require.ErrorIs(t, err, ErrNoPrice)
		_, err = Rate([]Segment{{"a", "unknown", 1, ts("2026-10-14T00:00:00Z"), ts("2026-10-16T00:00:00Z")}}, cat, octStart, octEnd)
		require.ErrorIs(t, err, ErrNoPrice)
	})

	t.Run("huge quantities stay exact", func(t *testing.T) {
		t.Parallel()
		// 10^6 units for 31 days overflows 64-bit nanosecond products.
		cat := Catalog{"r": {{ts("2026-01-01T00:00:00Z"), d("0.0000000001")}}}
		got, err := Rate([]Segment{
			{"a", "r", 1_000_000, ts("2026-09-01T00:00:00Z"), time.Time{}},
			{"a", "r", 1_000_000, ts("2026-09-01T00:00:00Z"), time.Time{}},
			{"a", "r", 1_000_000, ts("2026-09-01T00:00:00Z"), time.Time{}},
		}, cat, octStart, octEnd)
		require.NoError(t, err)
		// 3 × 10^6 × 744 h = 2232000000 h, × 10^-10 = 0.2232
		requireLines(t, got, wantLine{"a", "r", "2232000000", "0.22"})
		cat["r"][0].PerHour = d("0.01")
		got, err = Rate([]Segment{{"a", "r", 1_000_000, ts("2026-09-01T00:00:00Z"), time.Time{}}}, cat, octStart, octEnd)
		require.NoError(t, err)
		requireLines(t, got, wantLine{"a", "r", "744000000", "7440000.00"})
	})
}
