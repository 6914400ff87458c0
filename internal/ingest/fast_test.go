package ingest_test

import (
	"context"
	"fmt"
	"io"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/billingengine/engine/internal/ingest"
)

// unseekable hides a reader's Seek, as a pipe or standard input does.
type unseekable struct{ io.Reader }

// storedSegments is every stored segment as text, in id order.
func (tb *testBundle) storedSegments(t *testing.T) []string {
	t.Helper()
	rows, err := tb.pool.Query(context.Background(), `
		SELECT concat_ws('|', id, account_id, app, resource, quantity, rfc3339(started_at), coalesce(rfc3339(ended_at), 'running'))
		FROM usage_segments ORDER BY id`)
	require.NoError(t, err)
	got, err := pgx.CollectRows(rows, pgx.RowTo[string])
	require.NoError(t, err)
	return got
}

// A file of new segments lands the same whichever path it takes: the one
// that copies straight into the table and the staging one, to the
// microsecond and the still-running segment.
func TestNewSegmentsLandTheSameOnBothPaths(t *testing.T) {
	t.Parallel()
	in := segment(`started_at="2026-10-03T12:00:00.123456+02:00"`) + "\n" +
		segment(`id="s2",account_id="a0",app="api é",resource="addon:redis",quantity=1000000,ended_at=null`) + "\n\n" +
		segment(`id="s3",started_at="2026-10-31T23:59:59Z",ended_at="2026-11-01T00:00:00.000001Z"`) + "\n"
	fast, slow := setup(t), setup(t)
	res, _, err := runImport(t, fast, usageImport, "u.ndjson", in, false)
	require.NoError(t, err)
	require.Equal(t, ingest.Result{File: "u.ndjson", Kind: "usage", Lines: 3, Inserted: 3}, *res)
	res, err = ingest.ImportUsageStaged(context.Background(), slow.pool, strings.NewReader(in), ingest.Options{Name: "u.ndjson"})
	require.NoError(t, err)
	require.Equal(t, ingest.Result{File: "u.ndjson", Kind: "usage", Lines: 3, Inserted: 3}, *res)
	want := []string{
		"s1|a1|web|container:M|2|2026-10-03T10:00:00.123456Z|2026-10-05T12:00:00Z",
		"s2|a0|api é|addon:redis|1000000|2026-10-03T12:00:00Z|running",
		"s3|a1|web|container:M|2|2026-10-31T23:59:59Z|2026-11-01T00:00:00.000001Z",
	}
	require.Equal(t, want, fast.storedSegments(t))
	require.Equal(t, want, slow.storedSegments(t))
}

// A file mixing new ids with stored ones (one ended_at set, one moved, one
// identical) falls back from the fast path and is applied whole.
func TestFileMixingNewAndStoredSegments(t *testing.T) {
	t.Parallel()
	tb := setup(t)
	first := segment(`ended_at=null`) + "\n" + segment(`id="s2"`) + "\n" + segment(`id="s3"`) + "\n"
	_, _, err := runImport(t, tb, usageImport, "u.ndjson", first, false)
	require.NoError(t, err)
	var lines []string
	for i := 10; i < 2010; i++ {
		lines = append(lines, segment(fmt.Sprintf(`id="n%d"`, i)))
	}
	// The stored ids come last, after 2,000 new lines already copied.
	lines = append(lines, segment(`ended_at="2026-10-09T00:00:00Z"`), segment(`id="s2",ended_at="2026-10-06T00:00:00Z"`), segment(`id="s3"`))
	res, problems, err := runImport(t, tb, usageImport, "u.ndjson", strings.Join(lines, "\n")+"\n", false)
	require.NoError(t, err)
	require.Empty(t, problems)
	require.Equal(t, ingest.Result{File: "u.ndjson", Kind: "usage", Lines: 2003, Inserted: 2000, Updated: 2, Unchanged: 1}, *res)
	got := tb.storedSegments(t)
	require.Len(t, got, 2003)
	require.Contains(t, got, "s1|a1|web|container:M|2|2026-10-03T12:00:00Z|2026-10-09T00:00:00Z")
	require.Contains(t, got, "s2|a1|web|container:M|2|2026-10-03T12:00:00Z|2026-10-06T00:00:00Z")
	require.Contains(t, got, "s3|a1|web|container:M|2|2026-10-03T12:00:00Z|2026-10-05T12:00:00Z")
}

// A large file of new segments with one unknown account deep inside is
// refused with that line named, and nothing of it is written; the same for
// an unknown resource, a resource without a price yet, and an id repeated.
func TestLargeFileWithOneBadReference(t *testing.T) {
	t.Parallel()
	const n, bad = 60_000, 45_678
	for name, c := range map[string]struct{ over, msg string }{
		"account":  {`account_id="nobody"`, "account_id: unknown account nobody"},
		"resource": {`resource="gpu:XL"`, "resource: unknown resource gpu:XL (not in the catalog)"},
		"price":    {`resource="addon:redis",started_at="2026-05-31T23:00:00Z"`, "resource: addon:redis has no price in force at started_at 2026-05-31T23:00:00Z"},
		"repeated": {`id="s7"`, "id: duplicate id s7 in this file (lines 7, 45678)"},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			tb := setup(t)
			var b strings.Builder
			for i := 1; i <= n; i++ {
				if i == bad {
					b.WriteString(segment(fmt.Sprintf(`id="s%d",`, i) + c.over))
				} else {
					b.WriteString(segment(fmt.Sprintf(`id="s%d"`, i)))
				}
				b.WriteByte('\n')
			}
			_, problems, err := runImport(t, tb, usageImport, "big.ndjson", b.String(), false)
			require.ErrorIs(t, err, ingest.ErrInvalid)
			require.Contains(t, problems, fmt.Sprintf("big.ndjson:%d: %s", bad, c.msg))
			require.Zero(t, tb.count(t, `SELECT count(*) FROM usage_segments`))
		})
	}
}

// The table still refuses an unknown account or resource from a writer
// other than the importer, which checks them itself.
func TestUsageReferencesCheckedForOtherWriters(t *testing.T) {
	t.Parallel()
	tb := setup(t)
	ctx := context.Background()
	insert := `INSERT INTO usage_segments (id, account_id, app, resource, quantity, started_at) VALUES ($1, $2, 'web', $3, 1, '2026-10-01')`
	_, err := tb.pool.Exec(ctx, insert, "x1", "nobody", "container:M")
	require.ErrorContains(t, err, "usage_segments: unknown account nobody")
	_, err = tb.pool.Exec(ctx, insert, "x2", "a1", "gpu:XL")
	require.ErrorContains(t, err, "usage_segments: unknown resource gpu:XL")
	_, err = tb.pool.Exec(ctx, insert, "x3", "a1", "container:M")
	require.NoError(t, err)
	_, err = tb.pool.Exec(ctx, `UPDATE usage_segments SET account_id = 'nobody' WHERE id = 'x3'`)
	require.ErrorContains(t, err, "usage_segments: unknown account nobody")
}

// A stream (a pipe, standard input) is imported exactly as the same bytes
// in a file are: new segments take the fast path, anything else falls back
// to the staging path, which reads again what the fast path had read (kept
// in a temporary file) then the rest of the stream: the same result, the
// same problems on the same lines, the same rows.
func TestStreamsImportAsFilesDo(t *testing.T) {
	t.Parallel()
	var fresh, mixed, badDeep, repeated strings.Builder
	for i := 1; i <= 30_000; i++ {
		line := segment(fmt.Sprintf(`id="n%d"`, i)) + "\n"
		fresh.WriteString(line)
		mixed.WriteString(line)
		switch i {
		case 23_456:
			badDeep.WriteString(segment(fmt.Sprintf(`id="n%d",account_id="nobody"`, i)) + "\n")
			repeated.WriteString(segment(`id="n17"`) + "\n")
		default:
			badDeep.WriteString(line)
			repeated.WriteString(line)
		}
	}
	// Stored ids after 30,000 new lines: one ended_at moved, one identical.
	mixed.WriteString(segment(`id="s1",ended_at="2026-10-09T00:00:00Z"`) + "\n" + segment(`id="s2"`) + "\n")
	stored := segment(`id="s1"`) + "\n" + segment(`id="s2"`) + "\n"
	for _, c := range []struct {
		name, in string
		fast     bool
	}{
		{"fresh", fresh.String(), true},
		{"mixed", mixed.String(), false},
		{"bad-deep", badDeep.String(), false},
		{"repeated", repeated.String(), false},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			type outcome struct {
				res      *ingest.Result
				problems []string
				err      string
				rows     []string
			}
			imp := func(name string, r io.Reader) outcome {
				tb := setup(t)
				_, _, err := runImport(t, tb, usageImport, "stored-"+name, stored, false)
				require.NoError(t, err)
				var o outcome
				res, err := ingest.ImportUsage(context.Background(), tb.pool, r, ingest.Options{Name: name,
					Report: func(p ingest.Problem) { o.problems = append(o.problems, p.String("u.ndjson")) }})
				if err != nil {
					o.err = strings.ReplaceAll(err.Error(), name, "u.ndjson")
				}
				if res != nil {
					res.File = "u.ndjson"
				}
				o.res, o.rows = res, tb.storedSegments(t)
				return o
			}
			fileName, streamName := t.Name()+"/file", t.Name()+"/stream"
			file := imp(fileName, strings.NewReader(c.in))
			pr, pw := io.Pipe()
			go func() {
				// Small writes, as a pipe delivers them.
				in := c.in
				for len(in) > 0 {
					n := min(len(in), 4093)
					if _, err := pw.Write([]byte(in[:n])); err != nil {
						return
					}
					in = in[n:]
				}
				pw.Close()
			}()
			stream := imp(streamName, unseekable{pr})
			require.Equal(t, file, stream)
			require.Equal(t, []bool{c.fast}, ingest.UsagePaths(fileName))
			require.Equal(t, []bool{c.fast}, ingest.UsagePaths(streamName))
			switch c.name {
			case "fresh":
				require.Equal(t, 30_000, file.res.Inserted)
			case "mixed":
				require.Equal(t, ingest.Result{File: "u.ndjson", Kind: "usage", Lines: 30_002, Inserted: 30_000, Updated: 1, Unchanged: 1}, *file.res)
			case "bad-deep":
				require.Equal(t, []string{"u.ndjson:23456: account_id: unknown account nobody"}, file.problems)
			case "repeated":
				require.Equal(t, []string{"u.ndjson:17: id: duplicate id n17 in this file (lines 17, 23456)",
					"u.ndjson:23456: id: duplicate id n17 in this file (lines 17, 23456)"}, file.problems)
			}
			require.Len(t, file.rows, map[bool]int{true: 30_002, false: 2}[c.name == "fresh" || c.name == "mixed"])
		})
	}
}

// Without a temporary directory to keep a copy of the stream in, a stream
// takes the staging path alone, with the same result.
func TestStreamWithoutATemporaryDirectory(t *testing.T) {
	t.Setenv("TMPDIR", "/nonexistent/billing-tmp")
	tb := setup(t)
	in := segment(`id="s1"`) + "\n" + segment(`id="s2",ended_at=null`) + "\n"
	name := t.Name()
	res, err := ingest.ImportUsage(context.Background(), tb.pool, unseekable{strings.NewReader(in)}, ingest.Options{Name: name})
	require.NoError(t, err)
	require.Equal(t, ingest.Result{File: name, Kind: "usage", Lines: 2, Inserted: 2}, *res)
	require.Equal(t, []bool{false}, ingest.UsagePaths(name))
	require.Len(t, tb.storedSegments(t), 2)
}
