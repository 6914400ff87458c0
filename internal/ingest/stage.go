package ingest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"runtime"

	"github.com/jackc/pgx/v5"

	"github.com/billingengine/engine/internal/platform/pgdb"
)

// spec describes one kind of import to the shared pipeline.
type spec struct {
	kind string
	// fields the records may carry; "x." marks x as a nested object.
	fields []string
	// csvRequired are the columns a CSV header must name, even though their
	// cells may be empty.
	csvRequired []string
	// stageColumns is the column list of the staging table, after "line int".
	stageColumns string
	// columns names the staged columns in the order decode returns them.
	columns []string
	// decode turns a record into staged values; it reports problems through
	// the fieldReader and returns nil then.
	decode func(*fieldReader) []any
	// preChecks, when set, runs once after the rows are staged and before
	// checks, and reports problems of its own through add (a register's
	// answers, which are asked once per import).
	preChecks func(ctx context.Context, tx pgx.Tx, add func(line int, msg string)) error
	// checks are statements that insert (line, message) rows into
	// ingest_problems for staged rows that conflict with the database or with
	// each other.
	checks []string
	// fastApply, when set, tries to apply the staged rows assuming they
	// conflict with nothing, in a savepoint; it reports false when they do,
	// and the import goes on with slowChecks and apply.
	fastApply func(ctx context.Context, tx pgx.Tx, res *Result) (bool, error)
	// slowChecks are checks only needed when fastApply is absent or failed.
	slowChecks []string
	// setup, when set, runs first in the import's transaction.
	setup string
	// apply merges the valid staged rows into the real tables.
	apply func(ctx context.Context, tx pgx.Tx, res *Result) error
}

const problemsTable = "ingest_problems"

// openUnits reads the input's format (given, or detected from its name and
// first bytes) and, for CSV, its header: what both import paths start from.
func openUnits(r io.Reader, sp *spec, o Options) (unitReader, fieldSet, []*fieldSpec, error) {
	br := newReader(r)
	format := o.Format
	if format == "" {
		format = detectFormat(o.Name, br)
	}
	fields := newFieldSet(sp.fields)
	ur, header, err := newUnitReader(br, format, o.MaxLineBytes, fields, sp.csvRequired)
	return ur, fields, header, err
}

// run is the pipeline every import shares: parse and stage, check as set
// operations, then apply, all in one transaction.
func run(ctx context.Context, db pgdb.DB, r io.Reader, sp *spec, o Options) (*Result, error) {
	o = o.withDefaults()
	res := &Result{File: o.Name, Kind: sp.kind}
	ur, fields, header, err := openUnits(r, sp, o)
	if err != nil {
		return nil, err
	}

	tx, err := db.Begin(ctx)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback(context.WithoutCancel(ctx)) //nolint:errcheck // after Commit this is a no-op

	if sp.setup != "" {
		if _, err := tx.Exec(ctx, sp.setup); err != nil {
			return nil, err
		}
	}
	if _, err := tx.Exec(ctx, fmt.Sprintf(`
		CREATE TEMP TABLE ingest_stage (line integer NOT NULL, %s) ON COMMIT DROP;
		CREATE TEMP TABLE %s (line integer NOT NULL, message text NOT NULL) ON COMMIT DROP`,
		sp.stageColumns, problemsTable)); err != nil {
		return nil, fmt.Errorf("creating staging tables: %w", err)
	}

	pctx, cancel := context.WithCancel(ctx)
	defer cancel()
	src := &stageSource{chunks: decodeAll(pctx, ur, stageRows(sp, fields, header)), res: res, o: &o, max: o.BatchSize}
	columns := append([]string{"line"}, sp.columns...)
	for !src.eof {
		if _, err := tx.CopyFrom(ctx, pgx.Identifier{"ingest_stage"}, columns, src); err != nil {
			if src.err != nil {
				return nil, src.err
			}
			return nil, fmt.Errorf("%s:%d: loading into the database failed, nothing imported: %w", o.Name, src.lastLine, err)
		}
		if src.err != nil {
			return nil, src.err
		}
		if len(src.problems) > 0 {
			if _, err := tx.CopyFrom(ctx, pgx.Identifier{problemsTable}, []string{"line", "message"}, pgx.CopyFromRows(src.problems)); err != nil {
				return nil, fmt.Errorf("%s: staging problems: %w", o.Name, err)
			}
			src.problems = src.problems[:0]
		}
	}
	fatal := src.fatal

	if _, err := tx.Exec(ctx, `ANALYZE ingest_stage`); err != nil {
		return nil, err
	}
	// Dropping a bad line can make a good one bad (an account whose referrer
	// was on the dropped line), so with SkipInvalid drop and check again
	// until nothing new turns up.
	check := func(checks []string) error {
		run := func() (int, error) {
			for _, q := range checks {
				if _, err := tx.Exec(ctx, q); err != nil {
					return 0, fmt.Errorf("%s: checking against the database: %w", o.Name, err)
				}
			}
			var n int
			err := tx.QueryRow(ctx, `SELECT count(*) FROM `+problemsTable).Scan(&n)
			return n, err
		}
		n, err := run()
		for err == nil && o.SkipInvalid && !fatal && n > 0 {
			if _, err = tx.Exec(ctx, `DELETE FROM ingest_stage WHERE line IN (SELECT line FROM `+problemsTable+`)`); err != nil {
				break
			}
			var m int
			if m, err = run(); m == n {
				break
			}
			n = m
		}
		return err
	}
	// Report every problem in line order, straight from the table, so that a
	// file full of mistakes costs no memory.
	report := func() error {
		prows, err := tx.Query(ctx, `SELECT line, message FROM `+problemsTable+` ORDER BY line, message`)
		if err != nil {
			return err
		}
		defer prows.Close()
		lastLine := -1
		for prows.Next() {
			var p Problem
			if err := prows.Scan(&p.Line, &p.Message); err != nil {
				return err
			}
			if p.Line != lastLine {
				res.Invalid++
				lastLine = p.Line
			}
			o.Report(p)
		}
		if err := prows.Err(); err != nil {
			return err
		}
		if res.Invalid > 0 && (!o.SkipInvalid || fatal) {
			return &InvalidError{File: o.Name, Lines: res.Invalid}
		}
		return nil
	}

	// A register is not asked about a file that is rejected already.
	var before int
	if err := tx.QueryRow(ctx, `SELECT count(*) FROM `+problemsTable).Scan(&before); err != nil {
		return nil, err
	}
	if sp.preChecks != nil && (before == 0 || (o.SkipInvalid && !fatal)) {
		var found [][]any
		err := sp.preChecks(ctx, tx, func(line int, msg string) { found = append(found, []any{line, msg}) })
		if err != nil {
			return nil, fmt.Errorf("%s: %w", o.Name, err)
		}
		if _, err := tx.CopyFrom(ctx, pgx.Identifier{problemsTable}, []string{"line", "message"}, pgx.CopyFromRows(found)); err != nil {
			return nil, fmt.Errorf("%s: staging problems: %w", o.Name, err)
		}
	}
	if err := check(sp.checks); err != nil {
		return nil, err
	}
	// A file that is already rejected needs no further work.
	var n int
	if err := tx.QueryRow(ctx, `SELECT count(*) FROM `+problemsTable).Scan(&n); err != nil {
		return nil, err
	}
	if n > 0 && (!o.SkipInvalid || fatal) {
		return res, report()
	}
	applied := false
	if sp.fastApply != nil {
		// The common case (only new rows) needs none of the slow checks:
		// try it in a savepoint, and fall back when a row conflicts.
		sptx, err := tx.Begin(ctx)
		if err != nil {
			return nil, err
		}
		ok, err := sp.fastApply(ctx, sptx, res)
		if err != nil {
			sptx.Rollback(ctx) //nolint:errcheck // the error below says what went wrong
			return nil, fmt.Errorf("%s: %w", o.Name, err)
		}
		if ok {
			if err := sptx.Commit(ctx); err != nil {
				return nil, err
			}
			applied = true
		} else if err := sptx.Rollback(ctx); err != nil {
			return nil, err
		}
	}
	if !applied {
		if err := check(sp.slowChecks); err != nil {
			return nil, err
		}
	}
	if err := report(); err != nil {
		return res, err
	}
	if !applied {
		if err := sp.apply(ctx, tx, res); err != nil {
			return nil, fmt.Errorf("%s: %w", o.Name, err)
		}
	}
	if err := tx.Commit(ctx); err != nil {
		return nil, fmt.Errorf("%s: committing: %w", o.Name, err)
	}
	return res, nil
}

// chunkSize is the number of lines decoded as one unit of parallel work.
const chunkSize = 1024

type decodedChunk struct {
	rows     [][]any
	problems [][]any
	fatal    bool
	lines    int
	err      error

	// The fast path's chunk: its rows already encoded for a binary COPY,
	// what the database must confirm about them, and whether a line was
	// wrong (the fast path then gives way to the staging one).
	copyData []byte
	keys     *usageKeys
	bad      bool
	lastLine int
}

// stageRows decodes a chunk into staged rows and problems, for the staging
// table.
func stageRows(sp *spec, fields fieldSet, header []*fieldSpec) func([]unit) decodedChunk {
	return func(units []unit) decodedChunk {
		d := decodedChunk{lines: len(units)}
		for _, u := range units {
			rec, prob := decodeUnit(u, fields, header)
			if prob == nil {
				fr := &fieldReader{rec: rec}
				vals := sp.decode(fr)
				prob = fr.problem()
				if prob == nil {
					d.rows = append(d.rows, append([]any{rec.line}, vals...))
					continue
				}
			}
			d.fatal = d.fatal || prob.fatal
			d.problems = append(d.problems, []any{prob.Line, prob.Message})
		}
		return d
	}
}

// decodeAll reads units in one goroutine and decodes chunks of them with
// work on every core, delivering the chunks in input order. At most a few
// chunks per core are in flight, so memory stays bounded whatever the input
// size.
func decodeAll(ctx context.Context, ur unitReader, work func([]unit) decodedChunk) <-chan chan decodedChunk {
	workers := runtime.GOMAXPROCS(0)
	ordered := make(chan chan decodedChunk, 2*workers)
	type job struct {
		units []unit
		out   chan decodedChunk
	}
	jobs := make(chan job, 2*workers)
	for range workers {
		go func() {
			for j := range jobs {
				j.out <- work(j.units)
			}
		}()
	}
	go func() {
		defer close(ordered)
		defer close(jobs)
		for {
			units := make([]unit, 0, chunkSize)
			var rerr error
			for len(units) < chunkSize {
				u, err := ur.next()
				if err != nil {
					if !errors.Is(err, io.EOF) {
						rerr = err
					}
					break
				}
				units = append(units, u)
			}
			out := make(chan decodedChunk, 1)
			if rerr != nil {
				out <- decodedChunk{err: rerr}
			} else if len(units) > 0 {
				select {
				case jobs <- job{units, out}:
				case <-ctx.Done():
					return
				}
			} else {
				return
			}
			select {
			case ordered <- out:
			case <-ctx.Done():
				return
			}
			if rerr != nil || len(units) < chunkSize {
				return
			}
		}
	}()
	return ordered
}

// stageSource feeds decoded rows to COPY. It ends a COPY early when enough
// problems are buffered, so that they can be stored and memory stays bounded.
type stageSource struct {
	chunks   <-chan chan decodedChunk
	res      *Result
	o        *Options
	max      int
	cur      [][]any
	row      []any
	problems [][]any
	fatal    bool
	lastLine int
	eof      bool
	err      error
}

func (s *stageSource) Next() bool {
	for len(s.cur) == 0 {
		if len(s.problems) >= s.max {
			return false
		}
		ch, ok := <-s.chunks
		if !ok {
			s.eof = true
			return false
		}
		d := <-ch
		if d.err != nil {
			s.err = fmt.Errorf("%s: reading after line %d: %w", s.o.Name, s.res.Lines, d.err)
			s.eof = true
			return false
		}
		s.res.Lines += d.lines
		s.fatal = s.fatal || d.fatal
		s.problems = append(s.problems, d.problems...)
		s.cur = d.rows
		s.o.Progress(s.res.Lines)
	}
	s.row, s.cur = s.cur[0], s.cur[1:]
	s.lastLine = s.row[0].(int)
	return true
}

func (s *stageSource) Values() ([]any, error) { return s.row, nil }
func (s *stageSource) Err() error             { return nil }
