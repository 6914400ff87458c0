package ingest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/billingengine/engine/billing"
	"github.com/billingengine/engine/internal/platform/pgdb"
)

var usageSpec = &spec{
	kind:   "usage",
	fields: []string{"id", "account_id", "app", "resource", "quantity", "started_at", "ended_at"},
	// An empty ended_at cell means still running: a file without the
	// column must not say that of every segment (and reopen finished ones).
	csvRequired: []string{"ended_at"},
	stageColumns: `id text COLLATE "C" NOT NULL, account_id text COLLATE "C" NOT NULL, app text NOT NULL, resource text COLLATE "C" NOT NULL,
		quantity integer NOT NULL, started_at timestamptz NOT NULL, ended_at timestamptz`,
	columns: []string{"id", "account_id", "app", "resource", "quantity", "started_at", "ended_at"},
	decode:  decodeUsage,
	// The checks below find unknown accounts and resources before anything
	// is applied.
	setup: setReferencesChecked,
	checks: []string{
		// Lock the accounts (in id order, against deadlocks) before looking
		// at their invoices: a run drafting them holds a share lock until
		// its drafts commit, and its drafts then refuse this usage; a run
		// starting after this waits for the import to commit.
		`SELECT 1 FROM accounts WHERE id IN (SELECT DISTINCT account_id FROM ingest_stage) ORDER BY id FOR NO KEY UPDATE`,
		// New usage must not fall inside a period invoiced (or being
		// invoiced) for its account. Identical re-imports and ended_at
		// moves of stored segments are judged in slowChecks.
		`INSERT INTO ingest_problems
		 SELECT s.line, 'usage inside a period already invoiced for ' || s.account_id || ': ' ||
		        (SELECT string_agg(i.period || CASE WHEN i.status = 'draft' THEN ' (being invoiced by run ' || i.run_id || ')'
		                                             ELSE ' (' || i.number || ')' END, ', ' ORDER BY i.period)
		         FROM invoices i
		         WHERE i.account_id = s.account_id AND i.status <> 'void'
		           AND i.period_start < coalesce(s.ended_at, 'infinity') AND i.period_end > s.started_at)
		 FROM ingest_stage s
		 JOIN (SELECT account_id, range_agg(tstzrange(period_start, period_end)) AS invoiced
		       FROM invoices
		       WHERE status <> 'void' AND account_id IN (SELECT DISTINCT account_id FROM ingest_stage)
		       GROUP BY account_id) iv ON iv.account_id = s.account_id
		 WHERE iv.invoiced && tstzrange(s.started_at, s.ended_at)
		   AND NOT EXISTS (SELECT 1 FROM usage_segments u WHERE u.id = s.id)`,
		`INSERT INTO ingest_problems
		 SELECT s.line, format('account_id: unknown account %s', s.account_id)
		 FROM ingest_stage s WHERE NOT EXISTS (SELECT 1 FROM accounts a WHERE a.id = s.account_id)`,
		monthFits,
		`INSERT INTO ingest_problems
		 SELECT s.line, CASE WHEN NOT EXISTS (SELECT 1 FROM resources r WHERE r.resource = s.resource)
		                     THEN format('resource: unknown resource %s (not in the catalog)', s.resource)
		                     ELSE format('resource: %s has no price in force at started_at %s', s.resource, rfc3339(s.started_at)) END
		 FROM ingest_stage s
		 WHERE NOT EXISTS (SELECT 1 FROM prices p WHERE p.resource = s.resource AND p.effective_from <= s.started_at)`,
	},
	// A file of new segments only (the usual case) is inserted at once; ids
	// already stored or repeated in the file send it down the slow path.
	fastApply: func(ctx context.Context, tx pgx.Tx, res *Result) (bool, error) {
		// A plain INSERT is cheaper than ON CONFLICT and stops at the first
		// conflict, which is all this path needs to know.
		tag, err := tx.Exec(ctx, `
			INSERT INTO usage_segments (id, account_id, app, resource, quantity, started_at, ended_at)
			SELECT id, account_id, app, resource, quantity, started_at, ended_at FROM ingest_stage`)
		if pgdb.UniqueViolation(err, "") {
			return false, nil
		}
		if err != nil {
			return false, err
		}
		res.Inserted = int(tag.RowsAffected())
		return true, nil
	},
	slowChecks: []string{
		// The window's frame is the whole partition in line order, so that
		// a repeated id's lines are listed in order.
		`INSERT INTO ingest_problems
		 SELECT line, format('id: duplicate id %s in this file (lines %s)', id, lines)
		 FROM (SELECT line, id, count(*) OVER w AS n, string_agg(line::text, ', ') OVER w AS lines
		       FROM ingest_stage WINDOW w AS (PARTITION BY id ORDER BY line ROWS BETWEEN UNBOUNDED PRECEDING AND UNBOUNDED FOLLOWING)) d
		 WHERE n > 1`,
		// A stored segment may only see its ended_at set or moved.
		`INSERT INTO ingest_problems
		 SELECT s.line, 'conflicting re-import of ' || s.id || ': ' || array_to_string(array_remove(ARRAY[
		     CASE WHEN u.account_id <> s.account_id THEN format('account_id is %s, stored %s', s.account_id, u.account_id) END,
		     CASE WHEN u.app <> s.app THEN format('app is %s, stored %s', s.app, u.app) END,
		     CASE WHEN u.resource <> s.resource THEN format('resource is %s, stored %s', s.resource, u.resource) END,
		     CASE WHEN u.quantity <> s.quantity THEN format('quantity is %s, stored %s', s.quantity, u.quantity) END,
		     CASE WHEN u.started_at <> s.started_at THEN format('started_at is %s, stored %s', rfc3339(s.started_at), rfc3339(u.started_at)) END
		 ], NULL), '; ') || ' (only ended_at may change)'
		 FROM ingest_stage s JOIN usage_segments u ON u.id = s.id
		 WHERE (u.account_id, u.app, u.resource, u.quantity, u.started_at) <> (s.account_id, s.app, s.resource, s.quantity, s.started_at)`,
		// A finished segment stays finished: a line saying it is still
		// running contradicts what was stored (an export that lost the end,
		// usually) and must not reopen it, which would bill it to this day.
		`INSERT INTO ingest_problems
		 SELECT s.line, format('conflicting re-import of %s: ended_at is null (still running), stored %s (a finished segment cannot be reopened; only ended_at may move)',
		                       s.id, rfc3339(u.ended_at))
		 FROM ingest_stage s JOIN usage_segments u ON u.id = s.id
		 WHERE u.ended_at IS NOT NULL AND s.ended_at IS NULL
		   AND (u.account_id, u.app, u.resource, u.quantity, u.started_at) = (s.account_id, s.app, s.resource, s.quantity, s.started_at)`,
		// Moving ended_at changes the usage between the old and the new
		// end: that span must not touch an invoiced period.
		`INSERT INTO ingest_problems
		 SELECT s.line, format('ended_at: moving it from %s to %s changes usage in period %s, already invoiced for %s (%s)',
		                       coalesce(rfc3339(u.ended_at), 'null'), coalesce(rfc3339(s.ended_at), 'null'), i.period, s.account_id,
		                       CASE WHEN i.status = 'draft' THEN 'being invoiced by run ' || i.run_id ELSE i.number END)
		 FROM ingest_stage s
		 JOIN usage_segments u ON u.id = s.id
		 JOIN invoices i ON i.account_id = s.account_id AND i.status <> 'void'
		  AND i.period_start < greatest(coalesce(u.ended_at, 'infinity'), coalesce(s.ended_at, 'infinity'))
		  AND i.period_end > least(coalesce(u.ended_at, 'infinity'), coalesce(s.ended_at, 'infinity'))
		 WHERE u.ended_at IS DISTINCT FROM s.ended_at AND s.ended_at IS NOT NULL
		   AND (u.account_id, u.app, u.resource, u.quantity, u.started_at) = (s.account_id, s.app, s.resource, s.quantity, s.started_at)`,
	},
	apply: func(ctx context.Context, tx pgx.Tx, res *Result) error {
		tag, err := tx.Exec(ctx, `
			UPDATE usage_segments u SET ended_at = s.ended_at, updated_at = now()
			FROM ingest_stage s
			WHERE u.id = s.id AND u.ended_at IS DISTINCT FROM s.ended_at`)
		if err != nil {
			return err
		}
		res.Updated = int(tag.RowsAffected())
		tag, err = tx.Exec(ctx, `
			INSERT INTO usage_segments (id, account_id, app, resource, quantity, started_at, ended_at)
			SELECT id, account_id, app, resource, quantity, started_at, ended_at FROM ingest_stage s
			WHERE NOT EXISTS (SELECT 1 FROM usage_segments u WHERE u.id = s.id)`)
		if err != nil {
			return err
		}
		res.Inserted = int(tag.RowsAffected())
		var staged int
		if err := tx.QueryRow(ctx, `SELECT count(*) FROM ingest_stage`).Scan(&staged); err != nil {
			return err
		}
		res.Unchanged = staged - res.Inserted - res.Updated
		return nil
	},
}

// setReferencesChecked tells usage_segments' reference trigger that this
// transaction checks the accounts and resources of what it inserts itself,
// set-based (migration 0021): both import paths do, before they commit.
const setReferencesChecked = `SET LOCAL billing.usage_references = 'checked'`

// monthFits refuses a segment whose month alone could overflow an invoice:
// quantity × a price in force during it × the longest month over
// billing.MaxSubtotal. The catalog import bounds prices so that this can't
// happen; the check guards against prices stored before that bound. Only
// prices that could overflow with the largest quantity are looked at, so
// with a bounded catalog it joins nothing.
var monthFits = fmt.Sprintf(`
	INSERT INTO ingest_problems
	SELECT DISTINCT ON (s.line) s.line,
	       format('quantity: %%s units of %%s at %%s/h would bill %%s in a month of %%s h, over the %%s one invoice can hold',
	              s.quantity, s.resource, p.price_per_hour, round(s.quantity * p.price_per_hour * %[1]d, 2), %[1]d, %[2]s::numeric)
	FROM (SELECT resource, effective_from, price_per_hour,
	             lead(effective_from) OVER (PARTITION BY resource ORDER BY effective_from) AS until
	      FROM prices
	      WHERE resource IN (SELECT resource FROM prices WHERE price_per_hour * %[3]d * %[1]d > %[2]s)) p
	JOIN ingest_stage s ON s.resource = p.resource
	WHERE s.quantity * p.price_per_hour * %[1]d > %[2]s
	  AND p.effective_from < coalesce(s.ended_at, 'infinity') AND coalesce(p.until, 'infinity') > s.started_at
	ORDER BY s.line, p.price_per_hour DESC`, billing.MaxHoursInMonth, billing.MaxSubtotal.String(), billing.MaxQuantity)

func decodeUsage(f *fieldReader) []any {
	id, _ := f.ident("id", true)
	acc, _ := f.ident("account_id", true)
	app, _ := f.text("app", true, 128)
	res, _ := f.ident("resource", true)
	qty, ok := f.integer("quantity")
	if ok && (qty < 1 || qty > billing.MaxQuantity) {
		f.fail("quantity", "must be an integer from 1 to %d, got %d", billing.MaxQuantity, qty)
	}
	start, okStart := f.timestamp("started_at", true)
	var end any
	if v := f.rec.get("ended_at"); !f.rec.csv && v.kind == kindString && v.s == "" {
		// In NDJSON, null or no field means still running; "" is a
		// mistake (an export that lost the value), not a third spelling.
		f.fail("ended_at", `must be an RFC 3339 timestamp, or null while the segment is still running; got ""`)
	} else if e, ok := f.timestamp("ended_at", false); ok {
		end = e
		if okStart && !e.After(start) {
			f.fail("ended_at", "%s is not after started_at %s", e.Format(time.RFC3339Nano), start.Format(time.RFC3339Nano))
		}
	}
	if f.msgs != nil {
		return nil
	}
	return []any{id, acc, app, res, int32(qty), start, end}
}

// ImportUsage loads usage segments (SPEC §2). Re-importing a segment with
// identical content is a no-op; the only change allowed is setting or moving
// its ended_at.
//
// Every input first takes the fast path of a file of new segments (see
// fast.go); an input that path gives way on goes through the staging
// table. A file is read again from where it started; a stream (a pipe,
// standard input) is kept in a temporary file as the fast path reads it
// (importStream).
func ImportUsage(ctx context.Context, db pgdb.DB, r io.Reader, o Options) (*Result, error) {
	if rs, ok := r.(io.ReadSeeker); ok {
		if at, err := rs.Seek(0, io.SeekCurrent); err == nil {
			res, err := importNewUsage(ctx, db, rs, o)
			if !errors.Is(err, errNotNew) {
				usagePath(o.Name, true)
				return res, err
			}
			if _, err := rs.Seek(at, io.SeekStart); err != nil {
				return nil, fmt.Errorf("%s: reading the input again: %w", o.withDefaults().Name, err)
			}
			usagePath(o.Name, false)
			return run(ctx, db, rs, usageSpec, o)
		}
	}
	return importStream(ctx, db, r, o)
}

// importStream is ImportUsage for an input that cannot seek. What the fast
// path reads is copied to a temporary file, unlinked at once (a killed
// import leaves nothing behind), so that if it gives way the staging path
// reads that copy and then the rest of the stream: the input as it came,
// read from its source once. The copy takes the stream's size on the
// temporary directory's disk while the import runs; when it cannot be
// made, the stream takes the staging path alone, and when writing it fails
// midway the fast path still finishes a file of new segments, while
// anything else is refused, nothing written, with the reason.
func importStream(ctx context.Context, db pgdb.DB, r io.Reader, o Options) (*Result, error) {
	f, err := os.CreateTemp("", "billing-usage-stream-*")
	if err != nil {
		usagePath(o.Name, false)
		return run(ctx, db, r, usageSpec, o)
	}
	_ = os.Remove(f.Name())
	defer f.Close() //nolint:errcheck // a temporary copy, read only
	sp := &spooler{r: r, w: f}
	res, err := importNewUsage(ctx, db, sp, o)
	if !errors.Is(err, errNotNew) {
		usagePath(o.Name, true)
		return res, err
	}
	name := o.withDefaults().Name
	if sp.err != nil {
		return nil, fmt.Errorf("%s: not a file of new segments only, and the copy of the stream the staging path needs could not be written to %s: %w (import from a file, or set TMPDIR to a disk with room for it); nothing imported",
			name, os.TempDir(), sp.err)
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return nil, fmt.Errorf("%s: reading the input again: %w", name, err)
	}
	usagePath(o.Name, false)
	return run(ctx, db, io.MultiReader(f, r), usageSpec, o)
}

// spooler is a reader that copies what it reads to w, until a write
// fails: then it goes on reading, and err says the copy is short.
type spooler struct {
	r   io.Reader
	w   io.Writer
	err error
}

func (s *spooler) Read(p []byte) (int, error) {
	n, err := s.r.Read(p)
	if n > 0 && s.err == nil {
		_, s.err = s.w.Write(p[:n])
	}
	return n, err
}

// usagePath is told which path each usage import took (true: the fast
// one), by its Options.Name; tests set it.
var usagePath = func(name string, fast bool) {}
