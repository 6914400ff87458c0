package ingest

import (
	"bufio"
	"bytes"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"
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

// record is one input line as named raw values. Nested JSON objects are
// flattened with dotted names ("payment_method.type"), which is also how a CSV
// header names them.
type record struct {
	line   int
	csv    bool
	fields map[string]value
}

// recordReader yields records from NDJSON or CSV. A line that cannot be read
// as a record at all (malformed JSON, too long, not UTF-8) yields a problem
// instead, and reading goes on with the next line.
type recordReader interface {
	// next returns the next record, or a problem for its line, or io.EOF.
	next() (*record, *Problem, error)
}

func newRecordReader(br *bufio.Reader, f Format, maxLine int, known map[string]bool) (recordReader, error) {
	switch f {
	case FormatNDJSON:
		return &ndjsonReader{br: br, max: maxLine, known: known}, nil
	case FormatCSV:
		return newCSVReader(br, maxLine, known)
	default:
		return nil, fmt.Errorf("unknown format %q (want ndjson or csv)", f)
	}
}

type ndjsonReader struct {
	br    *bufio.Reader
	max   int
	line  int
	known map[string]bool
	buf   []byte
}

// readLine returns the next line without its newline; tooLong reports a line
// over the limit, whose rest has been discarded.
func (r *ndjsonReader) readLine() (line []byte, tooLong bool, err error) {
	r.buf = r.buf[:0]
	for {
		chunk, err := r.br.ReadSlice('\n')
		if len(r.buf)+len(chunk) > r.max+1 {
			tooLong = true
		} else {
			r.buf = append(r.buf, chunk...)
		}
		if errors.Is(err, bufio.ErrBufferFull) {
			continue
		}
		if err == io.EOF && (len(r.buf) > 0 || tooLong) {
			return bytes.TrimRight(r.buf, "\r\n"), tooLong, nil
		}
		if err != nil {
			return nil, false, err
		}
		return bytes.TrimRight(r.buf, "\r\n"), tooLong, nil
	}
}

func (r *ndjsonReader) next() (*record, *Problem, error) {
	for {
		line, tooLong, err := r.readLine()
		if err != nil {
			return nil, nil, err
		}
		r.line++
		if tooLong {
			return nil, &Problem{r.line, fmt.Sprintf("line longer than %d bytes", r.max)}, nil
		}
		if r.line == 1 {
			line = bytes.TrimPrefix(line, []byte("\ufeff"))
		}
		if len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		if !utf8.Valid(line) {
			return nil, &Problem{r.line, "not valid UTF-8"}, nil
		}
		rec, msg := parseJSONRecord(line, r.known)
		if msg != "" {
			return nil, &Problem{r.line, msg}, nil
		}
		rec.line = r.line
		return rec, nil, nil
	}
}

func parseJSONRecord(line []byte, known map[string]bool) (*record, string) {
	var top map[string]json.RawMessage
	if err := json.Unmarshal(line, &top); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) {
			return nil, "malformed JSON: a line must be one JSON object"
		}
		return nil, "malformed JSON: " + strings.TrimPrefix(err.Error(), "json: ")
	}
	rec := &record{fields: make(map[string]value, len(top))}
	var unknown []string
	var flatten func(prefix string, m map[string]json.RawMessage) string
	flatten = func(prefix string, m map[string]json.RawMessage) string {
		for k, raw := range m {
			name := prefix + k
			raw = bytes.TrimSpace(raw)
			if known[name+"."] { // a nested object such as payment_method
				if string(raw) == "null" {
					continue
				}
				var sub map[string]json.RawMessage
				if len(raw) == 0 || raw[0] != '{' || json.Unmarshal(raw, &sub) != nil {
					return name + ": must be an object"
				}
				if msg := flatten(name+".", sub); msg != "" {
					return msg
				}
				continue
			}
			if !known[name] {
				unknown = append(unknown, name)
				continue
			}
			rec.fields[name] = classify(raw)
		}
		return ""
	}
	if msg := flatten("", top); msg != "" {
		return nil, msg
	}
	if len(unknown) > 0 {
		sort.Strings(unknown)
		return nil, "unknown field " + strings.Join(unknown, ", ")
	}
	return rec, ""
}

func classify(raw json.RawMessage) value {
	if len(raw) == 0 {
		return value{kind: kindNull}
	}
	switch raw[0] {
	case '"':
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return value{kind: kindOther}
		}
		return value{kind: kindString, s: s}
	case 'n':
		return value{kind: kindNull}
	case '-', '0', '1', '2', '3', '4', '5', '6', '7', '8', '9':
		return value{kind: kindNumber, s: string(raw)}
	default:
		return value{kind: kindOther, s: string(raw)}
	}
}

// lineLimiter fails a read once a single line exceeds max bytes, so that the
// CSV parser never buffers an unbounded line.
type lineLimiter struct {
	r       io.Reader
	max     int
	current int
}

var errLineTooLong = errors.New("line too long")

func (l *lineLimiter) Read(p []byte) (int, error) {
	n, err := l.r.Read(p)
	for i := 0; i < n; i++ {
		if p[i] == '\n' {
			l.current = 0
			continue
		}
		l.current++
		if l.current > l.max {
			return i, errLineTooLong
		}
	}
	return n, err
}

type csvReader struct {
	r       *csv.Reader
	header  []string
	max     int
	pending *Problem
	done    bool
}

// csvAliases lets a CSV header spell nested fields with underscores.
var csvAliases = map[string]string{
	"payment_method_type": "payment_method.type",
	"payment_method_id":   "payment_method.id",
}

func newCSVReader(br *bufio.Reader, max int, known map[string]bool) (*csvReader, error) {
	if b, _ := br.Peek(3); bytes.Equal(b, []byte("\ufeff")) {
		br.Discard(3) //nolint:errcheck // Peek proved the bytes are there.
	}
	cr := csv.NewReader(&lineLimiter{r: br, max: max})
	cr.FieldsPerRecord = -1
	cr.ReuseRecord = true
	r := &csvReader{r: cr, max: max}
	head, err := cr.Read()
	if errors.Is(err, io.EOF) {
		r.done = true
		return r, nil
	}
	if err != nil {
		r.pending = &Problem{1, "malformed CSV header: " + csvMessage(err, max)}
		r.done = true
		return r, nil
	}
	seen := map[string]bool{}
	var bad []string
	for _, h := range head {
		h = strings.TrimSpace(h)
		if a, ok := csvAliases[h]; ok {
			h = a
		}
		if !known[h] || seen[h] {
			bad = append(bad, h)
		}
		seen[h] = true
		r.header = append(r.header, h)
	}
	if len(bad) > 0 {
		r.pending = &Problem{1, "CSV header: unknown or repeated column " + strings.Join(bad, ", ")}
		r.done = true
	}
	return r, nil
}

func csvMessage(err error, max int) string {
	if errors.Is(err, errLineTooLong) {
		return fmt.Sprintf("line longer than %d bytes", max)
	}
	var pe *csv.ParseError
	if errors.As(err, &pe) {
		return pe.Err.Error()
	}
	return err.Error()
}

func (r *csvReader) next() (*record, *Problem, error) {
	if r.pending != nil {
		p := r.pending
		r.pending = nil
		return nil, p, nil
	}
	if r.done {
		return nil, nil, io.EOF
	}
	for {
		fields, err := r.r.Read()
		if errors.Is(err, io.EOF) {
			return nil, nil, io.EOF
		}
		if err != nil {
			var pe *csv.ParseError
			if errors.Is(err, errLineTooLong) {
				line, _ := r.r.FieldPos(0)
				r.done = true // the reader cannot resynchronise after a cut line
				return nil, &Problem{line + 1, csvMessage(err, r.max)}, nil
			}
			if errors.As(err, &pe) {
				return nil, &Problem{pe.Line, "malformed CSV: " + pe.Err.Error()}, nil
			}
			return nil, nil, err
		}
		line, _ := r.r.FieldPos(0)
		if len(fields) == 1 && strings.TrimSpace(fields[0]) == "" {
			continue
		}
		if len(fields) != len(r.header) {
			return nil, &Problem{line, fmt.Sprintf("malformed CSV: %d fields, the header has %d", len(fields), len(r.header))}, nil
		}
		rec := &record{line: line, csv: true, fields: make(map[string]value, len(fields))}
		for i, f := range fields {
			if !utf8.ValidString(f) {
				return nil, &Problem{line, "not valid UTF-8"}, nil
			}
			if f == "" {
				rec.fields[r.header[i]] = value{kind: kindNull}
			} else {
				rec.fields[r.header[i]] = value{kind: kindString, s: f}
			}
		}
		return rec, nil, nil
	}
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
	return &Problem{f.rec.line, strings.Join(f.msgs, "; ")}
}

// present reports whether the record gives name a non-null value.
func (f *fieldReader) present(name string) bool {
	k := f.rec.fields[name].kind
	return k != kindAbsent && k != kindNull
}

// str reads a string field. Required fields must be present and non-empty.
func (f *fieldReader) str(name string, required bool) (string, bool) {
	v := f.rec.fields[name]
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
		return v.s, v.s != ""
	default:
		f.fail(name, "must be a string")
		return "", false
	}
}

var identRE = regexp.MustCompile(`^[^\s\x00-\x1f\x7f]{1,128}$`)

// ident reads an identifier: 1 to 128 characters without spaces or controls.
func (f *fieldReader) ident(name string, required bool) (string, bool) {
	s, ok := f.str(name, required)
	if ok && !identRE.MatchString(s) {
		f.fail(name, "must be 1 to 128 characters without spaces or control characters")
		return "", false
	}
	return s, ok
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
		if r < 0x20 || r == 0x7f {
			f.fail(name, "must not contain control characters")
			return "", false
		}
	}
	return s, ok
}

// integer reads a whole number: a JSON integer, or in CSV its decimal text.
func (f *fieldReader) integer(name string) (int64, bool) {
	v := f.rec.fields[name]
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
	v := f.rec.fields[name]
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
