package ingest

import (
	"bufio"
	"bytes"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// unit is one line of input as read, before decoding: an NDJSON line, a CSV
// record, or a problem that made the line unreadable.
type unit struct {
	line int
	raw  []byte   // NDJSON
	csv  []string // CSV, one value per header column
	prob *Problem
}

// unitReader splits the input into units. It runs in one goroutine; decoding
// the units is what runs in parallel.
type unitReader interface {
	// next returns the next unit, or io.EOF.
	next() (unit, error)
}

// printable is s as a problem can quote it: as is when it is plain text,
// else Go-quoted, so that a message never carries invalid UTF-8 or control
// characters (Postgres would refuse to stage it).
func printable(s string) string {
	if utf8.ValidString(s) && !strings.ContainsFunc(s, unicode.IsControl) {
		return s
	}
	return strconv.Quote(s)
}

// newUnitReader splits br as f. csvRequired names the columns a CSV header
// must have: those whose empty cell means something (ended_at: still
// running), so that a missing column is never read as that meaning.
func newUnitReader(br *bufio.Reader, f Format, maxLine int, fields fieldSet, csvRequired []string) (unitReader, []*fieldSpec, error) {
	switch f {
	case FormatNDJSON:
		return &ndjsonReader{br: br, max: maxLine}, nil, nil
	case FormatCSV:
		r, err := newCSVReader(br, maxLine, fields, csvRequired)
		if err != nil {
			return nil, nil, err
		}
		return r, r.header, nil
	default:
		return nil, nil, fmt.Errorf("unknown format %q (want ndjson or csv)", f)
	}
}

type ndjsonReader struct {
	br   *bufio.Reader
	max  int
	line int
	buf  []byte
}

// readLine returns the next line without its newline; tooLong reports a line
// over the limit, whose rest has been discarded unread.
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

func (r *ndjsonReader) next() (unit, error) {
	for {
		line, tooLong, err := r.readLine()
		if err != nil {
			return unit{}, err
		}
		r.line++
		if tooLong {
			return unit{line: r.line, prob: &Problem{Line: r.line, Message: fmt.Sprintf("line longer than %d bytes", r.max)}}, nil
		}
		if r.line == 1 {
			line = bytes.TrimPrefix(line, []byte("\ufeff"))
		}
		if len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		return unit{line: r.line, raw: bytes.Clone(line)}, nil
	}
}

// lineLimiter fails a read once a single line exceeds max bytes, so that the
// CSV parser never buffers an unbounded line.
type lineLimiter struct {
	r       io.Reader
	max     int
	current int
	lines   int // newlines passed: the line being read is lines+1
}

var errLineTooLong = errors.New("line too long")

func (l *lineLimiter) Read(p []byte) (int, error) {
	n, err := l.r.Read(p)
	for i := 0; i < n; i++ {
		if p[i] == '\n' {
			l.current = 0
			l.lines++
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
	limiter *lineLimiter
	header  []*fieldSpec
	max     int
	pending *Problem
	done    bool
}

// csvAliases lets a CSV header spell nested fields with underscores.
var csvAliases = map[string]string{
	"payment_method_type": "payment_method.type",
	"payment_method_id":   "payment_method.id",
	"address_line1":       "address.line1",
	"address_line2":       "address.line2",
	"address_postal_code": "address.postal_code",
	"address_city":        "address.city",
	"address_country":     "address.country",
}

func newCSVReader(br *bufio.Reader, max int, fields fieldSet, required []string) (*csvReader, error) {
	if b, _ := br.Peek(3); bytes.Equal(b, []byte("\ufeff")) {
		br.Discard(3) //nolint:errcheck // Peek proved the bytes are there.
	}
	lim := &lineLimiter{r: br, max: max}
	cr := csv.NewReader(lim)
	cr.FieldsPerRecord = -1
	r := &csvReader{r: cr, limiter: lim, max: max}
	head, err := cr.Read()
	if errors.Is(err, io.EOF) {
		r.done = true
		return r, nil
	}
	if err != nil {
		r.pending = &Problem{Line: 1, Message: "malformed CSV header: " + csvMessage(err, max), fatal: true}
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
		f := fields.byName(h)
		if f == nil || seen[h] {
			bad = append(bad, printable(h))
		}
		seen[h] = true
		r.header = append(r.header, f)
	}
	var msgs []string
	if len(bad) > 0 {
		msgs = append(msgs, "CSV header: unknown or repeated column "+strings.Join(bad, ", "))
	}
	var missing []string
	for _, name := range required {
		if !seen[name] {
			missing = append(missing, name)
		}
	}
	if len(missing) > 0 {
		msgs = append(msgs, "CSV header: missing column "+strings.Join(missing, ", ")+
			" (required: an empty cell says the segment is still running, a missing column says nothing)")
	}
	if len(msgs) > 0 {
		r.pending = &Problem{Line: 1, Message: strings.Join(msgs, "; "), fatal: true}
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

func (r *csvReader) next() (unit, error) {
	if r.pending != nil {
		p := r.pending
		r.pending = nil
		return unit{line: p.Line, prob: p}, nil
	}
	if r.done {
		return unit{}, io.EOF
	}
	for {
		fields, err := r.r.Read()
		if errors.Is(err, io.EOF) {
			return unit{}, io.EOF
		}
		if err != nil {
			if errors.Is(err, errLineTooLong) {
				// The reader cannot resynchronise after a cut line (a quoted
				// field may span lines): stop, and reject the whole file.
				r.done = true
				line := r.limiter.lines + 1
				return unit{line: line, prob: &Problem{Line: line, Message: csvMessage(err, r.max) + "; the rest of the file was not read", fatal: true}}, nil
			}
			var pe *csv.ParseError
			if errors.As(err, &pe) {
				return unit{line: pe.Line, prob: &Problem{Line: pe.Line, Message: "malformed CSV: " + pe.Err.Error()}}, nil
			}
			return unit{}, err
		}
		line, _ := r.r.FieldPos(0)
		if len(fields) == 1 && strings.TrimSpace(fields[0]) == "" {
			continue
		}
		if len(fields) != len(r.header) {
			return unit{line: line, prob: &Problem{Line: line, Message: fmt.Sprintf("malformed CSV: %d fields, the header has %d", len(fields), len(r.header))}}, nil
		}
		return unit{line: line, csv: fields}, nil
	}
}

// decodeUnit turns a unit into a record, or a problem for its line.
func decodeUnit(u unit, fields fieldSet, header []*fieldSpec) (*record, *Problem) {
	if u.prob != nil {
		return nil, u.prob
	}
	rec := &record{line: u.line, csv: u.csv != nil, fields: make([]field, 0, len(fields))}
	if u.csv != nil {
		for i, v := range u.csv {
			if !utf8.ValidString(v) {
				return nil, &Problem{Line: u.line, Message: "not valid UTF-8"}
			}
			if v == "" {
				rec.fields = append(rec.fields, field{name: header[i].full, v: value{kind: kindNull}})
			} else {
				rec.fields = append(rec.fields, field{name: header[i].full, v: value{kind: kindString, s: v}})
			}
		}
		return rec, nil
	}
	if !utf8.Valid(u.raw) {
		return nil, &Problem{Line: u.line, Message: "not valid UTF-8"}
	}
	if msg := scanRecord(u.raw, fields, rec); msg != "" {
		return nil, &Problem{Line: u.line, Message: msg}
	}
	return rec, nil
}
