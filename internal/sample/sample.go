// Package sample bundles the demo's data set (a few dozen accounts over
// September and October 2026) into the binary, so that `billing demo` works
// from any directory. scripts/gen-sample.py writes the files.
package sample

import (
	"embed"
	"io"
)

//go:embed data
var data embed.FS

// File is one sample input and the import it feeds.
type File struct {
	Name string // e.g. "usage-2026-10.csv"
	Kind string // catalog, accounts or usage
}

// Files lists the sample inputs in the order they must be imported.
var Files = []File{
	{"catalog.ndjson", "catalog"},
	{"accounts.ndjson", "accounts"},
	{"usage-2026-09.ndjson", "usage"},
	{"usage-2026-10.csv", "usage"},
}

// Open opens a sample file by name.
func Open(name string) (io.ReadCloser, error) { return data.Open("data/" + name) }

// Periods are the months the sample data covers.
var Periods = []string{"2026-09", "2026-10"}
