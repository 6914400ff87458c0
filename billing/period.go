package billing

import (
	"errors"
	"fmt"
	"time"
)

// Period is a calendar month of billing, written YYYY-MM. Its instants
// depend on the billing time zone: see Bounds.
type Period struct {
	Year  int
	Month time.Month
}

// ErrBadPeriod is returned by ParsePeriod for anything but YYYY-MM.
var ErrBadPeriod = errors.New("period must be YYYY-MM")

// ParsePeriod reads "YYYY-MM" (years 2000 to 2099, like every date the
// engine accepts).
func ParsePeriod(s string) (Period, error) {
	t, err := time.Parse("2006-01", s)
	if err != nil || len(s) != 7 {
		return Period{}, fmt.Errorf("%w, got %q", ErrBadPeriod, s)
	}
	if t.Year() < 2000 || t.Year() > 2099 {
		return Period{}, fmt.Errorf("%w between 2000-01 and 2099-12, got %q", ErrBadPeriod, s)
	}
	return Period{Year: t.Year(), Month: t.Month()}, nil
}

// MustPeriod is ParsePeriod for constants in tests and examples.
func MustPeriod(s string) Period {
	p, err := ParsePeriod(s)
	if err != nil {
		panic(err)
	}
	return p
}

func (p Period) String() string { return fmt.Sprintf("%04d-%02d", p.Year, int(p.Month)) }

// MarshalText and UnmarshalText let a Period travel as "YYYY-MM" in JSON.
func (p Period) MarshalText() ([]byte, error) { return []byte(p.String()), nil }

func (p *Period) UnmarshalText(b []byte) error {
	q, err := ParsePeriod(string(b))
	if err != nil {
		return err
	}
	*p = q
	return nil
}

// Bounds returns [start, end): the first instant of the month in loc and the
// first instant of the next. In a zone with daylight saving time a month
// can last 743 or 745 hours.
func (p Period) Bounds(loc *time.Location) (start, end time.Time) {
	start = time.Date(p.Year, p.Month, 1, 0, 0, 0, 0, loc)
	end = time.Date(p.Year, p.Month+1, 1, 0, 0, 0, 0, loc)
	return start, end
}

// Add returns the period n months after p (before it when n < 0).
func (p Period) Add(n int) Period {
	m := p.Year*12 + int(p.Month-1) + n
	return Period{Year: m / 12, Month: time.Month(m%12 + 1)}
}

// Sub returns the number of months from q to p.
func (p Period) Sub(q Period) int {
	return (p.Year*12 + int(p.Month)) - (q.Year*12 + int(q.Month))
}

// Before reports whether p is earlier than q.
func (p Period) Before(q Period) bool { return p.Sub(q) < 0 }

// PeriodOf returns the period containing instant t in loc.
func PeriodOf(t time.Time, loc *time.Location) Period {
	t = t.In(loc)
	return Period{Year: t.Year(), Month: t.Month()}
}

// PeriodNotEndedError refuses to bill a period before its last instant has
// passed: an invoice for a month still running would charge for usage that
// has not happened and close the period to the usage that follows.
type PeriodNotEndedError struct {
	Period Period
	// Start and End are the period's bounds in the billing time zone.
	Start, End time.Time
	// NotStarted is true when even a preview is refused: the period has
	// not begun.
	NotStarted bool
}

func (e *PeriodNotEndedError) Error() string {
	if e.NotStarted {
		return fmt.Sprintf("period %s has not started (it starts %s): there is no usage to preview", e.Period, e.Start.Format(time.RFC3339))
	}
	return fmt.Sprintf("period %s has not ended (it ends %s)", e.Period, e.End.Format(time.RFC3339))
}

// CheckEnded returns a *PeriodNotEndedError unless p has ended at now in loc.
func (p Period) CheckEnded(now time.Time, loc *time.Location) error {
	start, end := p.Bounds(loc)
	if now.Before(end) {
		return &PeriodNotEndedError{Period: p, Start: start, End: end}
	}
	return nil
}

// CheckStarted returns a *PeriodNotEndedError with NotStarted set when p
// has not begun at now in loc.
func (p Period) CheckStarted(now time.Time, loc *time.Location) error {
	start, end := p.Bounds(loc)
	if now.Before(start) {
		return &PeriodNotEndedError{Period: p, Start: start, End: end, NotStarted: true}
	}
	return nil
}
