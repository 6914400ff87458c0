// Package ingest loads the engine's inputs (the price catalog, accounts and
// usage segments) from NDJSON or CSV, as SPEC §2 describes them.
//
// An import validates every line before it writes anything: each line is
// parsed and checked on its own, then streamed with COPY into a temporary
// staging table, where the checks that need the database (unknown accounts,
// conflicting re-imports, duplicate ids, invoiced periods) run as set
// operations. Only when no problem was found (or --skip-invalid asked to drop
// the bad lines) are the rows merged into the real tables, all in the same
// transaction: an import lands whole or not at all, and memory stays bounded
// whatever the file size.
package ingest

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"strings"
)

// Format is the syntax of an input file.
type Format string

const (
	FormatNDJSON Format = "ndjson"
	FormatCSV    Format = "csv"
)

// DefaultMaxLineBytes bounds one line (one record) of input. A longer line is
// a problem of its own, never a reason to buffer without limit.
const DefaultMaxLineBytes = 1 << 20

// Problem is one thing wrong with one line. Line 0 concerns the whole file.
type Problem struct {
	Line    int
	Message string

	// fatal problems stop the reading: the rest of the file is unknown, so
	// the file is rejected even with SkipInvalid.
	fatal bool
}

// String formats p the way every problem is printed: FILE:LINE: message.
func (p Problem) String(file string) string {
	return fmt.Sprintf("%s:%d: %s", file, p.Line, p.Message)
}

// Options tune one import.
type Options struct {
	// Name is the file name used in problems and in the result.
	Name string
	// Format of the input; empty means detect it from Name's extension, or
	// else from the first byte ('{' for NDJSON).
	Format Format
	// SkipInvalid imports the valid lines and reports the others, instead of
	// rejecting the whole file.
	SkipInvalid bool
	// Report receives every problem, in line order. Nil discards them.
	Report func(Problem)
	// MaxLineBytes overrides DefaultMaxLineBytes.
	MaxLineBytes int
	// BatchSize is the number of rows sent per COPY; zero means 10,000.
	BatchSize int
	// Progress, when set, is told the number of lines read after each batch.
	Progress func(lines int)
}

// Result summarises an import, for the JSON the CLI prints.
type Result struct {
	File      string `json:"file"`
	Kind      string `json:"kind"`
	Lines     int    `json:"lines"`
	Inserted  int    `json:"inserted"`
	Updated   int    `json:"updated"`
	Unchanged int    `json:"unchanged"`
	Invalid   int    `json:"invalid"`
}

// ErrInvalid is matched (errors.Is) by the error of an import that found
// problems and therefore wrote nothing.
var ErrInvalid = errors.New("invalid input")

// InvalidError reports how many lines were wrong in a rejected file.
type InvalidError struct {
	File  string
	Lines int
}

func (e *InvalidError) Error() string {
	noun := "lines"
	if e.Lines == 1 {
		noun = "line"
	}
	return fmt.Sprintf("%s: %d invalid %s, nothing imported", e.File, e.Lines, noun)
}

func (e *InvalidError) Is(target error) bool { return target == ErrInvalid }

// detectFormat picks the syntax from the extension, else from the content.
func detectFormat(name string, br *bufio.Reader) Format {
	switch strings.ToLower(filepath.Ext(name)) {
	case ".csv":
		return FormatCSV
	case ".ndjson", ".jsonl", ".json":
		return FormatNDJSON
	}
	peek, _ := br.Peek(512)
	if b := bytes.TrimLeft(peek, " \t\r\n\ufeff"); len(b) > 0 && b[0] == '{' {
		return FormatNDJSON
	}
	if len(bytes.TrimSpace(peek)) == 0 {
		return FormatNDJSON
	}
	return FormatCSV
}

func (o *Options) withDefaults() Options {
	c := *o
	if c.Name == "" {
		c.Name = "-"
	}
	if c.MaxLineBytes <= 0 {
		c.MaxLineBytes = DefaultMaxLineBytes
	}
	if c.BatchSize <= 0 {
		c.BatchSize = 10_000
	}
	if c.Report == nil {
		c.Report = func(Problem) {}
	}
	if c.Progress == nil {
		c.Progress = func(int) {}
	}
	return c
}

// newReader wraps r for line-oriented reading with a bounded buffer.
func newReader(r io.Reader) *bufio.Reader { return bufio.NewReaderSize(r, 64<<10) }
