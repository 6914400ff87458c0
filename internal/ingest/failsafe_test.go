package ingest_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/billingengine/engine/internal/ingest"
)

// A price whose month at the largest quantity could not fit on one invoice
// is refused where it enters, with its line, and nothing is written.
func TestImportRefusesOverflowingPrice(t *testing.T) {
	t.Parallel()
	tb := setup(t)
	in := `{"resource":"gpu:S","description":"S","price_per_hour":"500.00","effective_from":"2026-01-01T00:00:00Z"}
{"resource":"gpu:XL","description":"XL","price_per_hour":"999999.99","effective_from":"2026-01-01T00:00:00Z"}
{"resource":"gpu:L","description":"L","price_per_hour":"500.0000000001","effective_from":"2026-01-01T00:00:00Z"}
`
	_, problems, err := runImport(t, tb, catalogImport, "cat.ndjson", in, false)
	require.ErrorIs(t, err, ingest.ErrInvalid)
	require.Equal(t, []string{
		"cat.ndjson:2: price_per_hour: 999999.99 is over the maximum 500: a month of the largest quantity (1000000 units) must fit on one invoice",
		"cat.ndjson:3: price_per_hour: 500.0000000001 is over the maximum 500: a month of the largest quantity (1000000 units) must fit on one invoice",
	}, problems)
	require.Equal(t, 3, tb.count(t, `SELECT count(*) FROM prices`), "nothing written, the bound itself included")

	// The bound itself is a valid price.
	_, problems, err = runImport(t, tb, catalogImport, "cat.ndjson", `{"resource":"gpu:S","description":"S","price_per_hour":"500","effective_from":"2026-01-01T00:00:00Z"}`, false)
	require.NoError(t, err, "%v", problems)
}

// A segment whose month alone could overflow an invoice (a price stored
// before the catalog bound, here inserted directly) is refused at import
// with its line, while the same resource at a fitting quantity and a
// segment that ends before the big price are accepted.
func TestImportRefusesSegmentWhoseMonthCouldOverflow(t *testing.T) {
	t.Parallel()
	tb := setup(t)
	ctx := context.Background()
	_, err := tb.pool.Exec(ctx, `
		INSERT INTO resources (resource) VALUES ('gpu:legacy');
		INSERT INTO prices (resource, effective_from, price_per_hour, description) VALUES
		    ('gpu:legacy', '2026-01-01T00:00:00Z', 1.00, 'legacy'),
		    ('gpu:legacy', '2026-10-10T00:00:00Z', 999999.99, 'legacy, mistyped')`)
	require.NoError(t, err)

	in := segment(`id="big",resource="gpu:legacy",quantity=1000000,ended_at=null`) + "\n" +
		segment(`id="small",resource="gpu:legacy",quantity=600`) + "\n" +
		segment(`id="before",resource="gpu:legacy",quantity=1000000,started_at="2026-10-01T00:00:00Z",ended_at="2026-10-10T00:00:00Z"`) + "\n"
	_, problems, err := runImport(t, tb, usageImport, "u.ndjson", in, false)
	require.ErrorIs(t, err, ingest.ErrInvalid)
	require.Equal(t, []string{
		"u.ndjson:1: quantity: 1000000 units of gpu:legacy at 999999.99/h would bill 745999992540000.00 in a month of 746 h, over the 499999999999.99 one invoice can hold",
	}, problems)
	require.Zero(t, tb.count(t, `SELECT count(*) FROM usage_segments`))

	res, problems, err := runImport(t, tb, usageImport, "u.ndjson", in, true)
	require.NoError(t, err)
	require.Len(t, problems, 1)
	require.Equal(t, 2, res.Inserted, "the fitting segments are imported with --skip-invalid")
}

// In NDJSON an empty ended_at is an error, not a third way of saying
// "still running" (null and no field are the two ways).
func TestImportRefusesEmptyEndedAtInNDJSON(t *testing.T) {
	t.Parallel()
	tb := setup(t)
	in := segment(`id="null",ended_at=null`) + "\n" + segment(`id="absent",ended_at=-`) + "\n" + segment(`id="empty",ended_at=""`) + "\n"
	_, problems, err := runImport(t, tb, usageImport, "u.ndjson", in, false)
	require.ErrorIs(t, err, ingest.ErrInvalid)
	require.Equal(t, []string{`u.ndjson:3: ended_at: must be an RFC 3339 timestamp, or null while the segment is still running; got ""`}, problems)
	require.Zero(t, tb.count(t, `SELECT count(*) FROM usage_segments`))

	_, problems, err = runImport(t, tb, usageImport, "u.ndjson", in, true)
	require.NoError(t, err)
	require.Len(t, problems, 1)
	require.Equal(t, 2, tb.count(t, `SELECT count(*) FROM usage_segments WHERE ended_at IS NULL AND id IN ('null', 'absent')`))
}

// In CSV the ended_at column is required: a file without it would say
// "still running" of every segment.
func TestImportRefusesCSVWithoutEndedAtColumn(t *testing.T) {
	t.Parallel()
	tb := setup(t)
	in := "id,account_id,app,resource,quantity,started_at\n" +
		"s1,a1,web,container:M,2,2026-10-03T12:00:00Z\n"
	for _, skip := range []bool{false, true} {
		_, problems, err := runImport(t, tb, usageImport, "u.csv", in, skip)
		require.ErrorIs(t, err, ingest.ErrInvalid, "rejected whole even with --skip-invalid: no line can be read right")
		require.Equal(t, []string{"u.csv:1: CSV header: missing column ended_at (required: an empty cell says the segment is still running, a missing column says nothing)"}, problems)
		require.Zero(t, tb.count(t, `SELECT count(*) FROM usage_segments`))
	}
}

// Re-importing a finished segment as still running (null or no ended_at in
// NDJSON, an empty cell in CSV) is a conflicting re-import: the stored end
// stays, whatever the file says.
func TestReimportRefusesReopeningAFinishedSegment(t *testing.T) {
	t.Parallel()
	tb := setup(t)
	ctx := context.Background()
	_, _, err := runImport(t, tb, usageImport, "u.ndjson", segment(""), false)
	require.NoError(t, err)

	const want = "conflicting re-import of s1: ended_at is null (still running), stored 2026-10-05T12:00:00Z (a finished segment cannot be reopened; only ended_at may move)"
	for _, tc := range []struct{ name, in string }{
		{"u.ndjson", segment(`ended_at=null`)},
		{"u.ndjson", segment(`ended_at=-`)},
		{"u.csv", "id,account_id,app,resource,quantity,started_at,ended_at\ns1,a1,web,container:M,2,2026-10-03T12:00:00Z,\n"},
	} {
		_, problems, err := runImport(t, tb, usageImport, tc.name, tc.in, false)
		require.ErrorIs(t, err, ingest.ErrInvalid, tc.in)
		lineNo := "1"
		if tc.name == "u.csv" {
			lineNo = "2"
		}
		require.Equal(t, []string{tc.name + ":" + lineNo + ": " + want}, problems)

		res, _, err := runImport(t, tb, usageImport, tc.name, tc.in, true)
		require.NoError(t, err)
		require.Equal(t, 1, res.Invalid)
		require.Zero(t, res.Updated, "--skip-invalid drops the line, never reopens")
	}
	var end string
	require.NoError(t, tb.pool.QueryRow(ctx, `SELECT rfc3339(ended_at) FROM usage_segments WHERE id = 's1'`).Scan(&end))
	require.Equal(t, "2026-10-05T12:00:00Z", end)

	// Moving the end is still allowed.
	res, _, err := runImport(t, tb, usageImport, "u.ndjson", segment(`ended_at="2026-10-06T00:00:00Z"`), false)
	require.NoError(t, err)
	require.Equal(t, 1, res.Updated)
}
