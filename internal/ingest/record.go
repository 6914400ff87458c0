package ingest

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/shopspring/decimal"
)

// valueKind is what a field held in the input.
type valueKind uint8

const (
	kindAbsent valueKind = iota
	kindNull
	kindString
	kindNumber
	kindOther // boolean, array or object where a scalar was expected
)

type value struct {
	kind valueKind
	s    string
}

// field is one named raw value of a record.
type field struct {
	name string // the canonical name from the kind's field list
	v    value
}

// record is one input line as named raw values. Nested JSON objects are
// flattened with dotted names ("payment_method.type"), which is also how a CSV
// header names them. Records have a handful of fields, so a slice scanned
// linearly beats a map and allocates once.
type record struct {
	line   int
	csv    bool
	fields []field
}

func (r *record) get(name string) value {
	for i := range r.fields {
		if r.fields[i].name == name {
			return r.fields[i].v
		}
	}
	return value{}
}

// fieldReader turns a record's raw values into typed ones, collecting one
// message per bad field so that a line reports everything wrong with it.
type fieldReader struct {
	rec  *record
	msgs []string
}

func (f *fieldReader) fail(name, format string, args ...any) {
	f.msgs = append(f.msgs, name+": "+fmt.Sprintf(format, args...))
}

func (f *fieldReader) problem() *Problem {
	if len(f.msgs) == 0 {
		return nil
	}
	return &Problem{Line: f.rec.line, Message: strings.Join(f.msgs, "; ")}
}

// present reports whether the record gives name a non-null value.
func (f *fieldReader) present(name string) bool {
	k := f.rec.get(name).kind
	return k != kindAbsent && k != kindNull
}

// str reads a string field. Required fields must be present and non-empty.
func (f *fieldReader) str(name string, required bool) (string, bool) {
	v := f.rec.get(name)
	switch v.kind {
	case kindAbsent, kindNull:
		if required {
			f.fail(name, "required")
		}
		return "", false
	case kindString:
		if v.s == "" && required {
			f.fail(name, "required")
			return "", false
		}
		// No field of the engine holds control characters, and Postgres
		// refuses NUL outright.
		if strings.ContainsFunc(v.s, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
			f.fail(name, "must not contain control characters")
			return "", false
		}
		return v.s, v.s != ""
	default:
		f.fail(name, "must be a string")
		return "", false
	}
}

// ident reads an identifier: 1 to 128 characters without spaces or controls.
func (f *fieldReader) ident(name string, required bool) (string, bool) {
	s, ok := f.str(name, required)
	if ok && !validIdent(s) {
		f.fail(name, "must be 1 to 128 characters without spaces or control characters")
		return "", false
	}
	return s, ok
}

func validIdent(s string) bool {
	if s == "" || utf8.RuneCountInString(s) > 128 {
		return false
	}
	for _, r := range s {
		// Controls are C0, DEL and C1 (U+0080–U+009F): the database's
		// [[:cntrl:]] rejects them all, and a line it rejects must be named
		// here, with its field, not by a constraint.
		if r <= ' ' || unicode.IsControl(r) || unicode.IsSpace(r) {
			return false
		}
	}
	return true
}

// text reads free text of at most max characters without control characters.
func (f *fieldReader) text(name string, required bool, max int) (string, bool) {
	s, ok := f.str(name, required)
	if !ok {
		return s, ok
	}
	if utf8.RuneCountInString(s) > max {
		f.fail(name, "longer than %d characters", max)
		return "", false
	}
	for _, r := range s {
		if unicode.IsControl(r) {
			f.fail(name, "must not contain control characters")
			return "", false
		}
	}
	return s, ok
}

// integer reads a whole number: a JSON integer, or in CSV its decimal text.
func (f *fieldReader) integer(name string) (int64, bool) {
	v := f.rec.get(name)
	switch {
	case v.kind == kindAbsent || v.kind == kindNull:
		f.fail(name, "required")
		return 0, false
	case v.kind == kindNumber || (v.kind == kindString && f.rec.csv):
		n, err := strconv.ParseInt(strings.TrimSpace(v.s), 10, 64)
		if err != nil {
			if _, ferr := strconv.ParseFloat(v.s, 64); ferr == nil {
				f.fail(name, "must be an integer, got %s", v.s)
			} else {
				f.fail(name, "must be an integer")
			}
			return 0, false
		}
		return n, true
	default:
		f.fail(name, "must be an integer")
		return 0, false
	}
}

var decimalRE = regexp.MustCompile(`^-?[0-9]+(\.[0-9]+)?$`)

// money reads a non-negative decimal string with at most intDigits digits
// before the point and fracDigits after it. Floats are refused: money never
// passes through a binary fraction.
func (f *fieldReader) decimal(name string, intDigits, fracDigits int) (decimal.Decimal, bool) {
	v := f.rec.get(name)
	switch v.kind {
	case kindAbsent, kindNull:
		f.fail(name, "required")
		return decimal.Decimal{}, false
	case kindNumber:
		f.fail(name, "must be a decimal string such as \"0.03\", not a JSON number")
		return decimal.Decimal{}, false
	case kindString:
	default:
		f.fail(name, "must be a decimal string")
		return decimal.Decimal{}, false
	}
	if !decimalRE.MatchString(v.s) {
		f.fail(name, "must be a decimal string such as \"0.03\", got %q", v.s)
		return decimal.Decimal{}, false
	}
	if strings.HasPrefix(v.s, "-") {
		f.fail(name, "must not be negative, got %s", v.s)
		return decimal.Decimal{}, false
	}
	whole, frac, _ := strings.Cut(v.s, ".")
	if len(strings.TrimLeft(whole, "0")) > intDigits || len(frac) > fracDigits {
		f.fail(name, "out of range: at most %d digits before the point and %d after, got %s", intDigits, fracDigits, v.s)
		return decimal.Decimal{}, false
	}
	d, err := decimal.NewFromString(v.s)
	if err != nil {
		f.fail(name, "must be a decimal string, got %q", v.s)
		return decimal.Decimal{}, false
	}
	return d, true
}

// Timestamps outside these bounds are typing mistakes, not usage.
var (
	minTime = time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)
	maxTime = time.Date(2100, 1, 1, 0, 0, 0, 0, time.UTC)
)

// timestamp reads an RFC 3339 instant with at most microsecond precision
// (what Postgres keeps, so that a re-import compares equal).
func (f *fieldReader) timestamp(name string, required bool) (time.Time, bool) {
	s, ok := f.str(name, required)
	if !ok {
		return time.Time{}, false
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil || !strings.ContainsAny(s[min(len(s), 10):], "Tt") {
		f.fail(name, "must be an RFC 3339 timestamp such as 2026-10-03T12:00:00Z, got %q", s)
		return time.Time{}, false
	}
	if t.Before(minTime) || !t.Before(maxTime) {
		f.fail(name, "%s is outside the supported range 2000-01-01 to 2099-12-31", s)
		return time.Time{}, false
	}
	if t.Nanosecond()%1000 != 0 {
		f.fail(name, "more precise than a microsecond: %s", s)
		return time.Time{}, false
	}
	return t.UTC(), true
}
