package main

import (
	"fmt"
	"io"
	"time"
)

// progress reports long work on stderr, at most every two seconds, so that a
// quick command stays silent and a long one shows it is alive.
type progress struct {
	w       io.Writer
	label   string
	start   time.Time
	last    time.Time
	printed bool
	n       int
}

func newProgress(w io.Writer, label string) *progress {
	now := time.Now()
	return &progress{w: w, label: label, start: now, last: now}
}

func (p *progress) lines(n int) {
	p.n = n
	if time.Since(p.last) < 2*time.Second {
		return
	}
	p.last = time.Now()
	p.printed = true
	fmt.Fprintf(p.w, "%s: %d lines read (%.0f/s)\n", p.label, n, float64(n)/time.Since(p.start).Seconds())
}

func (p *progress) done() {
	if p.printed {
		fmt.Fprintf(p.w, "%s: %d lines in %s\n", p.label, p.n, time.Since(p.start).Round(time.Millisecond))
	}
}
