package billing

import "time"

// AgeingBucket is a receivable's age past its due date (SPEC §15). An
// invoice is due on its issue date ("upon receipt"): it is not_due on that
// day, 1_30 from the next day to 30 days later, and so on. Days are
// calendar days in the billing time zone.
type AgeingBucket string

const (
	BucketNotDue AgeingBucket = "not_due" // due today (issued today) or later
	Bucket1To30  AgeingBucket = "1_30"    // 1 to 30 days past due
	Bucket31To60 AgeingBucket = "31_60"   // 31 to 60 days past due
	Bucket61To90 AgeingBucket = "61_90"   // 61 to 90 days past due
	BucketOver90 AgeingBucket = "over_90" // 91 days past due or more
)

// AgeingBuckets lists the buckets, youngest first.
var AgeingBuckets = []AgeingBucket{BucketNotDue, Bucket1To30, Bucket31To60, Bucket61To90, BucketOver90}

// DaysPastDue counts the calendar days from the due date to asOf, both
// read in loc: 0 on the due date itself, negative before it.
func DaysPastDue(due, asOf time.Time, loc *time.Location) int {
	d := due.In(loc)
	a := asOf.In(loc)
	// Whole calendar days between the two dates, immune to DST (dates at
	// noon UTC are a whole number of days apart).
	dd := time.Date(d.Year(), d.Month(), d.Day(), 12, 0, 0, 0, time.UTC)
	ad := time.Date(a.Year(), a.Month(), a.Day(), 12, 0, 0, 0, time.UTC)
	return int(ad.Sub(dd).Hours() / 24)
}

// BucketFor is the bucket of a receivable days past due.
func BucketFor(daysPastDue int) AgeingBucket {
	switch {
	case daysPastDue <= 0:
		return BucketNotDue
	case daysPastDue <= 30:
		return Bucket1To30
	case daysPastDue <= 60:
		return Bucket31To60
	case daysPastDue <= 90:
		return Bucket61To90
	default:
		return BucketOver90
	}
}
