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
