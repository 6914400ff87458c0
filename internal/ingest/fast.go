package ingest

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/billingengine/engine/billing"
	"github.com/billingengine/engine/internal/platform/pgdb"
)

// The fast path of a usage import: a file of new segments only, all valid
// (the usual monthly file), is copied straight into usage_segments, its
// rows encoded for a binary COPY by the decoding goroutines while the
// connection sends the previous chunks, so that parsing and Postgres run
// on both cores and every row is written once. What needs the database is
// then asked once, set-based, from the keys the decoders collected (the
// file's accounts with the span of their usage, its resources with their
// earliest start), in the same transaction.
//
// The path is optimistic and gives way at the first sign of anything else:
// a line with a problem, an id stored already or repeated in the file (the
// primary key says so during the COPY), an unknown account or resource, an
// account with an invoice that its usage's span touches, or a price that
// could overflow a month. The transaction is then rolled back whole, the
// input is read again from where it started, and the staging path (run)
// decides and reports every problem with its line, exactly as before: the
// fast path never reports a problem of its own. It needs an input it can
// read twice, so a stream that cannot seek always takes the staging path.

// errNotNew says the fast path cannot take this input; the staging path will.
var errNotNew = errors.New("not a file of valid new segments")

// maxFastAccounts bounds the memory the fast path spends on the file's
// distinct accounts (about 100 bytes each); a file naming more takes the
// staging path, whose memory is bounded whatever the file.
const maxFastAccounts = 2_000_000

// usageSpan is the union of an account's segments in a file, as one range:
// from the earliest start to the latest end, open when one still runs.
type usageSpan struct {
	lo, hi time.Time
	open   bool
}

// usageKeys is what the database must confirm about a file of new segments.
type usageKeys struct {
	accounts  map[string]usageSpan
	resources map[string]time.Time // the earliest start of each resource's segments
}

func newUsageKeys() *usageKeys {
	return &usageKeys{accounts: map[string]usageSpan{}, resources: map[string]time.Time{}}
}

func (k *usageKeys) addAccount(acc string, sp usageSpan) {
	if cur, ok := k.accounts[acc]; ok {
		if cur.lo.Before(sp.lo) {
			sp.lo = cur.lo
		}
		if cur.hi.After(sp.hi) {
			sp.hi = cur.hi
		}
		sp.open = sp.open || cur.open
	}
	k.accounts[acc] = sp
}

func (k *usageKeys) addResource(res string, start time.Time) {
	if cur, ok := k.resources[res]; !ok || start.Before(cur) {
		k.resources[res] = start
	}
}

func (k *usageKeys) merge(o *usageKeys) {
	for acc, sp := range o.accounts {
		k.addAccount(acc, sp)
	}
	for res, start := range o.resources {
		k.addResource(res, start)
	}
}

// Binary COPY framing (the PostgreSQL COPY documentation, "Binary Format").
var (
	copyHeader  = []byte("PGCOPY\n\xff\r\n\x00\x00\x00\x00\x00\x00\x00\x00\x00")
	copyTrailer = []byte{0xff, 0xff}
)

// pgEpochMicros is 2000-01-01 UTC in Unix microseconds: a binary
// timestamptz counts microseconds from there.
var pgEpochMicros = time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC).UnixMicro()

const usageCopyColumns = 7

func appendText(b []byte, s string) []byte {
	b = binary.BigEndian.AppendUint32(b, uint32(len(s)))
	return append(b, s...)
}

func appendTimestamptz(b []byte, t time.Time) []byte {
	b = binary.BigEndian.AppendUint32(b, 8)
	return binary.BigEndian.AppendUint64(b, uint64(t.UnixMicro()-pgEpochMicros))
}

// newUsageChunk decodes a chunk for the fast path: every line valid, or the
// chunk is marked bad at the first one that is not.
func newUsageChunk(fields fieldSet, header []*fieldSpec) func([]unit) decodedChunk {
	return func(units []unit) decodedChunk {
		d := decodedChunk{lines: len(units), keys: newUsageKeys(), copyData: make([]byte, 0, 128*len(units))}
		for _, u := range units {
			rec, prob := decodeUnit(u, fields, header)
			if prob != nil {
				d.bad = true
				return d
			}
			fr := &fieldReader{rec: rec}
			vals := decodeUsage(fr)
			if vals == nil {
				d.bad = true
				return d
			}
			id, acc, app, res := vals[0].(string), vals[1].(string), vals[2].(string), vals[3].(string)
			qty, start := vals[4].(int32), vals[5].(time.Time)
			b := binary.BigEndian.AppendUint16(d.copyData, usageCopyColumns)
			b = appendText(appendText(appendText(appendText(b, id), acc), app), res)
			b = binary.BigEndian.AppendUint32(b, 4)
			b = binary.BigEndian.AppendUint32(b, uint32(qty))
			b = appendTimestamptz(b, start)
			sp := usageSpan{lo: start, hi: start}
			if end, ok := vals[6].(time.Time); ok {
				b = appendTimestamptz(b, end)
				sp.hi = end
			} else {
				b = binary.BigEndian.AppendUint32(b, 0xffffffff) // NULL: still running
				sp.open = true
			}
			d.copyData = b
			d.keys.addAccount(acc, sp)
			d.keys.addResource(res, start)
			d.lastLine = u.line
		}
		return d
	}
}

// copyReader is the binary COPY stream of the decoded chunks, in order. It
// merges each chunk's keys as it goes and ends the COPY with errNotNew at
// the first bad chunk.
type copyReader struct {
	chunks   <-chan chan decodedChunk
	o        *Options
	res      *Result
	keys     *usageKeys
	buf      []byte
	done     bool
	notNew   bool
	err      error // reading the input failed
	lastLine int
}

func (r *copyReader) Read(p []byte) (int, error) {
	for len(r.buf) == 0 {
		if r.done {
			return 0, io.EOF
		}
		ch, ok := <-r.chunks
		if !ok {
			r.buf, r.done = copyTrailer, true
			break
		}
		d := <-ch
		switch {
		case d.err != nil:
			r.err = fmt.Errorf("%s: reading after line %d: %w", r.o.Name, r.res.Lines, d.err)
			return 0, r.err
		case d.bad:
			r.notNew = true
			return 0, errNotNew
		}
		r.res.Lines += d.lines
		r.lastLine = max(r.lastLine, d.lastLine)
		r.keys.merge(d.keys)
		if len(r.keys.accounts) > maxFastAccounts {
			r.notNew = true
			return 0, errNotNew
		}
		r.o.Progress(r.res.Lines)
		r.buf = d.copyData
	}
	n := copy(p, r.buf)
	r.buf = r.buf[n:]
	return n, nil
}

// importNewUsage is the fast path. It returns errNotNew, having written
// nothing, when the input is anything but valid new segments.
func importNewUsage(ctx context.Context, db pgdb.DB, r io.Reader, o Options) (*Result, error) {
	o = o.withDefaults()
	res := &Result{File: o.Name, Kind: usageSpec.kind}
	ur, fields, header, err := openUnits(r, usageSpec, o)
	if err != nil {
		return nil, err
	}

	tx, err := db.Begin(ctx)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback(context.WithoutCancel(ctx)) //nolint:errcheck // after Commit this is a no-op
	if _, err := tx.Exec(ctx, setReferencesChecked); err != nil {
		return nil, err
	}

	pctx, cancel := context.WithCancel(ctx)
	chunks := decodeAll(pctx, ur, newUsageChunk(fields, header))
	// The staging path reads the input again after this one: the reading
	// goroutine must have stopped first.
	stop := func() {
		cancel()
		for range chunks { //nolint:revive // draining until the reader has let go of the input
		}
	}
	defer stop()
	src := &copyReader{chunks: chunks, o: &o, res: res, keys: newUsageKeys(), buf: copyHeader}
	tag, err := tx.Conn().PgConn().CopyFrom(ctx, src,
		`COPY usage_segments (id, account_id, app, resource, quantity, started_at, ended_at) FROM STDIN WITH (FORMAT binary)`)
	stop()
	var pgErr *pgconn.PgError
	switch {
	case src.err != nil:
		return nil, src.err
	case src.notNew:
		return nil, errNotNew
	case errors.As(err, &pgErr) && pgErr.Code[:2] == "23":
		// An id stored already or repeated in the file (or a value the
		// table's checks refuse): the staging path tells which and where.
		return nil, errNotNew
	case err != nil:
		return nil, fmt.Errorf("%s:%d: loading into the database failed, nothing imported: %w", o.Name, src.lastLine, err)
	}
	ok, err := newUsageFits(ctx, tx, src.keys)
	if err != nil {
		return nil, fmt.Errorf("%s: checking against the database: %w", o.Name, err)
	}
	if !ok {
		return nil, errNotNew
	}
	if err := tx.Commit(ctx); err != nil {
		return nil, fmt.Errorf("%s: committing: %w", o.Name, err)
	}
	res.Inserted = int(tag.RowsAffected())
	return res, nil
}

// newUsageFits asks the database, once per file, what the staging path's
// checks would: that every account exists (locking them, as the staging
// path does, before looking at their invoices), that every resource has a
// price in force at its earliest start, that no price of the file's
// resources could overflow a month, and that no invoice (or draft) of an
// account meets the span of its new usage. Each question is one statement
// over arrays of the file's distinct keys; false means one of the answers
// was not the usual one, and the staging path must judge line by line.
func newUsageFits(ctx context.Context, tx pgdb.Executor, k *usageKeys) (bool, error) {
	accs := make([]string, 0, len(k.accounts))
	los := make([]time.Time, 0, len(k.accounts))
	his := make([]pgtype.Timestamptz, 0, len(k.accounts))
	for acc, sp := range k.accounts {
		accs = append(accs, acc)
		los = append(los, sp.lo)
		hi := pgtype.Timestamptz{Time: sp.hi, Valid: true}
		if sp.open {
			hi = pgtype.Timestamptz{InfinityModifier: pgtype.Infinity, Valid: true}
		}
		his = append(his, hi)
	}
	ress := make([]string, 0, len(k.resources))
	firsts := make([]time.Time, 0, len(k.resources))
	for res, start := range k.resources {
		ress = append(ress, res)
		firsts = append(firsts, start)
	}
	var locked int
	// In id order against deadlocks, as the staging path's first check.
	if err := tx.QueryRow(ctx, `
		SELECT count(*) FROM (SELECT 1 FROM accounts WHERE id = ANY($1::text[]) ORDER BY id FOR NO KEY UPDATE) a`,
		accs).Scan(&locked); err != nil {
		return false, err
	}
	if locked != len(accs) {
		return false, nil
	}
	var unpriced int
	var overflow bool
	if err := tx.QueryRow(ctx, fmt.Sprintf(`
		SELECT (SELECT count(*) FROM unnest($1::text[], $2::timestamptz[]) f(resource, first_start)
		        WHERE NOT EXISTS (SELECT 1 FROM prices p WHERE p.resource = f.resource AND p.effective_from <= f.first_start)),
		       EXISTS (SELECT 1 FROM prices WHERE resource = ANY($1::text[]) AND price_per_hour * %d * %d > %s)`,
		billing.MaxQuantity, billing.MaxHoursInMonth, billing.MaxSubtotal.String()),
		ress, firsts).Scan(&unpriced, &overflow); err != nil {
		return false, err
	}
	if unpriced > 0 || overflow {
		return false, nil
	}
	var invoiced bool
	if err := tx.QueryRow(ctx, `
		SELECT EXISTS (
		    SELECT 1 FROM unnest($1::text[], $2::timestamptz[], $3::timestamptz[]) f(account_id, lo, hi)
		    JOIN invoices i ON i.account_id = f.account_id
		    WHERE i.status <> 'void' AND i.period_start < f.hi AND i.period_end > f.lo)`,
		accs, los, his).Scan(&invoiced); err != nil {
		return false, err
	}
	return !invoiced, nil
}
