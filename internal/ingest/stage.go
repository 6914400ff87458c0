package ingest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/jackc/pgx/v5"
)

// Beginner starts transactions: a *pgxpool.Pool, a *pgx.Conn or a pgx.Tx
// (which makes the import a savepoint of the caller's transaction).
type Beginner interface {
	Begin(ctx context.Context) (pgx.Tx, error)
}

// spec describes one kind of import to the shared pipeline.
type spec struct {
	kind string
	// fields the records may carry; "x." marks x as a nested object.
	fields []string
	// stageColumns is the column list of the staging table, after "line int".
	stageColumns string
	// columns names the staged columns in the order decode returns them.
	columns []string
	// decode turns a record into staged values; it reports problems through
	// the fieldReader and returns nil then.
	decode func(*fieldReader) []any
	// checks are statements that insert (line, message) rows into
	// ingest_problems for staged rows that conflict with the database or with
	// each other.
	checks []string
	// apply merges the valid staged rows into the real tables.
	apply func(ctx context.Context, tx pgx.Tx, res *Result) error
}

const problemsTable = "ingest_problems"

// run is the pipeline every import shares: parse and stage in batches, check
// as set operations, then apply, all in one transaction.
func run(ctx context.Context, db Beginner, r io.Reader, sp *spec, o Options) (*Result, error) {
	o = o.withDefaults()
	res := &Result{File: o.Name, Kind: sp.kind}
	br := newReader(r)
	format := o.Format
	if format == "" {
		format = detectFormat(o.Name, br)
	}
	known := map[string]bool{}
	for _, f := range sp.fields {
		known[f] = true
	}
	rr, err := newRecordReader(br, format, o.MaxLineBytes, known)
	if err != nil {
		return nil, err
	}

	tx, err := db.Begin(ctx)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback(context.WithoutCancel(ctx)) //nolint:errcheck // after Commit this is a no-op

	if _, err := tx.Exec(ctx, fmt.Sprintf(`
		CREATE TEMP TABLE ingest_stage (line integer NOT NULL, %s) ON COMMIT DROP;
		CREATE TEMP TABLE %s (line integer NOT NULL, message text NOT NULL) ON COMMIT DROP`,
		sp.stageColumns, problemsTable)); err != nil {
		return nil, fmt.Errorf("creating staging tables: %w", err)
	}

	columns := append([]string{"line"}, sp.columns...)
	rows := make([][]any, 0, o.BatchSize)
	var problems [][]any
	flush := func() error {
		if len(rows) > 0 {
			if _, err := tx.CopyFrom(ctx, pgx.Identifier{"ingest_stage"}, columns, pgx.CopyFromRows(rows)); err != nil {
				return copyError(o.Name, rows, err)
			}
			rows = rows[:0]
			o.Progress(res.Lines)
		}
		if len(problems) > 0 {
			if _, err := tx.CopyFrom(ctx, pgx.Identifier{problemsTable}, []string{"line", "message"}, pgx.CopyFromRows(problems)); err != nil {
				return fmt.Errorf("%s: staging problems: %w", o.Name, err)
			}
			problems = problems[:0]
		}
		return nil
	}
	for {
		rec, prob, err := rr.next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("%s: reading line %d: %w", o.Name, res.Lines+1, err)
		}
		res.Lines++
		if prob != nil {
			problems = append(problems, []any{prob.Line, prob.Message})
		} else {
			fr := &fieldReader{rec: rec}
			vals := sp.decode(fr)
			if p := fr.problem(); p != nil {
				problems = append(problems, []any{p.Line, p.Message})
			} else {
				rows = append(rows, append([]any{rec.line}, vals...))
			}
		}
		if len(rows) >= o.BatchSize || len(problems) >= o.BatchSize {
			if err := flush(); err != nil {
				return nil, err
			}
		}
		if err := ctx.Err(); err != nil {
			return nil, err
		}
	}
	if err := flush(); err != nil {
		return nil, err
	}

	if _, err := tx.Exec(ctx, `ANALYZE ingest_stage`); err != nil {
		return nil, err
	}
	check := func() (int, error) {
		for _, q := range sp.checks {
			if _, err := tx.Exec(ctx, q); err != nil {
				return 0, fmt.Errorf("%s: checking against the database: %w", o.Name, err)
			}
		}
		var n int
		err := tx.QueryRow(ctx, `SELECT count(*) FROM `+problemsTable).Scan(&n)
		return n, err
	}
	n, err := check()
	if err != nil {
		return nil, err
	}
	// Dropping a bad line can make a good one bad (an account whose referrer
	// was on the dropped line), so with SkipInvalid drop and check again
	// until nothing new turns up.
	for o.SkipInvalid && n > 0 {
		if _, err := tx.Exec(ctx, `DELETE FROM ingest_stage WHERE line IN (SELECT line FROM `+problemsTable+`)`); err != nil {
			return nil, err
		}
		m, err := check()
		if err != nil {
			return nil, err
		}
		if m == n {
			break
		}
		n = m
	}

	// Report every problem in line order, straight from the table, so that a
	// file full of mistakes costs no memory.
	prows, err := tx.Query(ctx, `SELECT line, message FROM `+problemsTable+` ORDER BY line, message`)
	if err != nil {
		return nil, err
	}
	lastLine := -1
	for prows.Next() {
		var p Problem
		if err := prows.Scan(&p.Line, &p.Message); err != nil {
			prows.Close()
			return nil, err
		}
		if p.Line != lastLine {
			res.Invalid++
			lastLine = p.Line
		}
		o.Report(p)
	}
	prows.Close()
	if err := prows.Err(); err != nil {
		return nil, err
	}
	if res.Invalid > 0 && !o.SkipInvalid {
		return res, &InvalidError{File: o.Name, Lines: res.Invalid}
	}
	if err := sp.apply(ctx, tx, res); err != nil {
		return nil, fmt.Errorf("%s: %w", o.Name, err)
	}
	if err := tx.Commit(ctx); err != nil {
		return nil, fmt.Errorf("%s: committing: %w", o.Name, err)
	}
	return res, nil
}

// copyError names the file and the line span of a batch that COPY refused
// (a full disk, a lost connection): the import wrote nothing either way.
func copyError(file string, rows [][]any, err error) error {
	first, last := rows[0][0], rows[len(rows)-1][0]
	return fmt.Errorf("%s:%v-%v: loading into the database failed, nothing imported: %w", file, first, last, err)
}

// quoteList renders names for messages: a, b and c.
func quoteList(names []string) string {
	switch len(names) {
	case 0:
		return ""
	case 1:
		return names[0]
	}
	return strings.Join(names[:len(names)-1], ", ") + " and " + names[len(names)-1]
}
