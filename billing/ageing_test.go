package billing

import (
	"testing"
	"time"
)

// Each boundary day falls in the bucket the README's table says, whatever
// the hour of issue and across a DST change.
func TestAgeingBoundaries(t *testing.T) {
	paris, err := time.LoadLocation("Europe/Paris")
	if err != nil {
		t.Fatal(err)
	}
	for _, loc := range []*time.Location{time.UTC, paris} {
		// Issued late in the evening, local time, just before the clocks
		// go back (2026-10-25).
		due := time.Date(2026, 10, 1, 23, 30, 0, 0, loc)
		for _, c := range []struct {
			days int
			want AgeingBucket
		}{
			{-1, BucketNotDue}, {0, BucketNotDue}, {1, Bucket1To30}, {30, Bucket1To30}, {31, Bucket31To60},
			{60, Bucket31To60}, {61, Bucket61To90}, {90, Bucket61To90}, {91, BucketOver90}, {400, BucketOver90},
		} {
			// As of the first and the last minute of that day.
			day := time.Date(2026, 10, 1+c.days, 0, 0, 0, 0, loc)
			for _, asOf := range []time.Time{day, day.Add(24*time.Hour - time.Minute)} {
				if got := DaysPastDue(due, asOf, loc); got != c.days {
					t.Fatalf("%s: %s as of %s: %d days past due, want %d", loc, due, asOf, got, c.days)
				}
				if got := BucketFor(DaysPastDue(due, asOf, loc)); got != c.want {
					t.Fatalf("%s: %d days past due: %s, want %s", loc, c.days, got, c.want)
				}
			}
		}
	}
}
