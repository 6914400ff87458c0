package ingest

import (
	"encoding/json"
	"fmt"
	"strings"
)

// fieldSpec is a field a kind of record may carry. Nested objects (such as
// payment_method) have an object field ("payment_method.") and leaf fields
// whose parent is the object's name.
type fieldSpec struct {
	full   string // "payment_method.type", or "payment_method." for the object itself
	parent string // "payment_method", or "" at the top level
	leaf   string // "type"
	object bool
}

type fieldSet []fieldSpec

func newFieldSet(names []string) fieldSet {
	fs := make(fieldSet, 0, len(names))
	for _, n := range names {
		if strings.HasSuffix(n, ".") {
			fs = append(fs, fieldSpec{full: n, leaf: strings.TrimSuffix(n, "."), object: true})
			continue
		}
		parent, leaf, nested := strings.Cut(n, ".")
		if !nested {
			parent, leaf = "", n
		}
		fs = append(fs, fieldSpec{full: n, parent: parent, leaf: leaf})
	}
	return fs
}

// lookup finds key under parent; key is compared without allocating.
func (fs fieldSet) lookup(parent string, key []byte) *fieldSpec {
	for i := range fs {
		if fs[i].parent == parent && fs[i].leaf == string(key) {
			return &fs[i]
		}
	}
	return nil
}

// byName finds a field by its full (CSV header) name.
func (fs fieldSet) byName(name string) *fieldSpec {
	for i := range fs {
		if fs[i].full == name && !fs[i].object {
			return &fs[i]
		}
	}
	return nil
}

// jsonScanner reads one NDJSON line: a flat JSON object whose values are
// scalars, with known nested objects flattened into dotted names. It is a
// hand-written scanner because it runs once per usage segment, millions of
// times per import, where encoding/json's reflection and maps dominated the
// profile; anything unusual (escapes) still goes through encoding/json.
type jsonScanner struct {
	b       []byte
	i       int
	fields  fieldSet
	rec     *record
	unknown []string
}

type scanError string

func (s *jsonScanner) fail(format string, args ...any) {
	panic(scanError("malformed JSON: " + fmt.Sprintf(format, args...)))
}

// scanRecord parses line into rec.fields, or returns a message saying why the
// line is not a record.
func scanRecord(line []byte, fields fieldSet, rec *record) (msg string) {
	s := jsonScanner{b: line, fields: fields, rec: rec}
	defer func() {
		if r := recover(); r != nil {
			e, ok := r.(scanError)
			if !ok {
				panic(r)
			}
			msg = string(e)
		}
	}()
	s.ws()
	if s.peek() != '{' {
		return "malformed JSON: a line must be one JSON object"
	}
	s.object("")
	s.ws()
	if s.i < len(s.b) {
		s.fail("unexpected %s after the object", s.describe())
	}
	if len(s.unknown) > 0 {
		return "unknown field " + strings.Join(s.unknown, ", ")
	}
	return ""
}

func (s *jsonScanner) ws() {
	for s.i < len(s.b) {
		switch s.b[s.i] {
		case ' ', '\t', '\r', '\n':
			s.i++
		default:
			return
		}
	}
}

func (s *jsonScanner) peek() byte {
	if s.i < len(s.b) {
		return s.b[s.i]
	}
	return 0
}

func (s *jsonScanner) describe() string {
	if s.i >= len(s.b) {
		return "end of line"
	}
	return fmt.Sprintf("%q at column %d", s.b[s.i], s.i+1)
}

func (s *jsonScanner) expect(c byte) {
	if s.peek() != c {
		s.fail("expected %q, found %s", c, s.describe())
	}
	s.i++
}

// object scans {...} whose fields belong to parent ("" at the top level).
func (s *jsonScanner) object(parent string) {
	s.expect('{')
	s.ws()
	if s.peek() == '}' {
		s.i++
		return
	}
	for {
		s.ws()
		keyRaw, keyEsc := s.stringBytes()
		key := keyRaw
		if keyEsc {
			key = []byte(s.unquote(keyRaw))
		}
		s.ws()
		s.expect(':')
		s.ws()
		f := s.fields.lookup(parent, key)
		switch {
		case f == nil:
			name := string(key)
			if parent != "" {
				name = parent + "." + name
			}
			s.unknown = append(s.unknown, name)
			s.skipValue()
		case f.object:
			if s.peek() == 'n' {
				s.literal("null")
			} else if s.peek() != '{' {
				panic(scanError(f.leaf + ": must be an object"))
			} else {
				s.object(f.leaf)
			}
		default:
			if s.rec.get(f.full).kind != kindAbsent {
				panic(scanError("duplicate field " + f.full))
			}
			s.rec.fields = append(s.rec.fields, field{name: f.full, v: s.scalar()})
		}
		s.ws()
		switch s.peek() {
		case ',':
			s.i++
		case '}':
			s.i++
			return
		default:
			s.fail("expected ',' or '}', found %s", s.describe())
		}
	}
}

// stringBytes scans a JSON string and returns its raw body (quotes stripped)
// and whether it holds escapes.
func (s *jsonScanner) stringBytes() ([]byte, bool) {
	s.expect('"')
	start, esc := s.i, false
	for s.i < len(s.b) {
		c := s.b[s.i]
		switch {
		case c == '"':
			body := s.b[start:s.i]
			s.i++
			return body, esc
		case c == '\\':
			esc = true
			s.i += 2
		case c < 0x20:
			s.fail("control character in a string at column %d", s.i+1)
		default:
			s.i++
		}
	}
	s.fail("unterminated string")
	return nil, false
}

func (s *jsonScanner) unquote(body []byte) string {
	q := make([]byte, 0, len(body)+2)
	q = append(append(append(q, '"'), body...), '"')
	var out string
	if err := json.Unmarshal(q, &out); err != nil {
		s.fail("bad escape in a string")
	}
	return out
}

func (s *jsonScanner) literal(word string) {
	if !strings.HasPrefix(string(s.b[s.i:]), word) {
		s.fail("unexpected %s", s.describe())
	}
	s.i += len(word)
}

func (s *jsonScanner) scalar() value {
	switch c := s.peek(); {
	case c == '"':
		body, esc := s.stringBytes()
		if esc {
			return value{kind: kindString, s: s.unquote(body)}
		}
		return value{kind: kindString, s: string(body)}
	case c == 'n':
		s.literal("null")
		return value{kind: kindNull}
	case c == 't':
		s.literal("true")
		return value{kind: kindOther, s: "true"}
	case c == 'f':
		s.literal("false")
		return value{kind: kindOther, s: "false"}
	case c == '-' || (c >= '0' && c <= '9'):
		return value{kind: kindNumber, s: s.number()}
	case c == '{' || c == '[':
		start := s.i
		s.skipValue()
		return value{kind: kindOther, s: string(s.b[start:s.i])}
	default:
		s.fail("unexpected %s", s.describe())
		return value{}
	}
}

func (s *jsonScanner) number() string {
	start := s.i
	if s.peek() == '-' {
		s.i++
	}
	digits := func() int {
		n := 0
		for s.i < len(s.b) && s.b[s.i] >= '0' && s.b[s.i] <= '9' {
			s.i++
			n++
		}
		return n
	}
	if digits() == 0 {
		s.fail("bad number at column %d", start+1)
	}
	if s.peek() == '.' {
		s.i++
		if digits() == 0 {
			s.fail("bad number at column %d", start+1)
		}
	}
	if c := s.peek(); c == 'e' || c == 'E' {
		s.i++
		if c := s.peek(); c == '+' || c == '-' {
			s.i++
		}
		if digits() == 0 {
			s.fail("bad number at column %d", start+1)
		}
	}
	return string(s.b[start:s.i])
}

// skipValue passes over any JSON value, however nested.
func (s *jsonScanner) skipValue() {
	switch c := s.peek(); c {
	case '{', '[':
		closer := byte('}')
		if c == '[' {
			closer = ']'
		}
		s.i++
		s.ws()
		if s.peek() == closer {
			s.i++
			return
		}
		for {
			s.ws()
			if c == '{' {
				s.stringBytes()
				s.ws()
				s.expect(':')
				s.ws()
			}
			s.skipValue()
			s.ws()
			if s.peek() == ',' {
				s.i++
				continue
			}
			s.expect(closer)
			return
		}
	default:
		s.scalar()
	}
}
