package ingest_test

import (
	"context"
	"fmt"
	"io"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/billingengine/engine/internal/ingest"
)

// lines is a reader of n generated lines, made on the fly: a file far
// larger than anything the test holds in memory.
type lines struct {
	n, i  int
	line  func(i int) string
	buf   []byte
	onEnd func(i int) // called as line i is produced
}

func (l *lines) Read(p []byte) (int, error) {
	for len(l.buf) == 0 {
		if l.i >= l.n {
			return 0, io.EOF
		}
		l.i++
		if l.onEnd != nil {
			l.onEnd(l.i)
		}
		l.buf = []byte(l.line(l.i) + "\n")
	}
	n := copy(p, l.buf)
	l.buf = l.buf[n:]
	return n, nil
}

// A huge file whose very last line is wrong is refused whole, with the
// problem at its line, and writes nothing.
func TestHugeFileLandsWholeOrNotAtAll(t *testing.T) {
	t.Parallel()
	tb := setup(t)
	const n = 300_000
	in := &lines{n: n, line: func(i int) string {
		if i == n {
			return segment(fmt.Sprintf(`id="s%d",quantity=0`, i))
		}
		return segment(fmt.Sprintf(`id="s%d"`, i))
	}}
	var problems []string
	_, err := ingest.ImportUsage(context.Background(), tb.pool, in, ingest.Options{Name: "huge.ndjson",
		Report: func(p ingest.Problem) { problems = append(problems, p.String("huge.ndjson")) }})
	require.ErrorIs(t, err, ingest.ErrInvalid)
	require.Equal(t, []string{"huge.ndjson:300000: quantity: must be an integer from 1 to 1000000, got 0"}, problems)
	require.Zero(t, tb.count(t, `SELECT count(*) FROM usage_segments`))
}

// Postgres lost in the middle of the COPY (a crash, a full disk: the
// server ends the statement with an error) fails the import with the file
// and the line it had reached, and nothing of it lands: on the path that
// copies new segments straight into the table, and on the staging path a
// bad first line sends the stream down.
func TestConnectionLostDuringCopy(t *testing.T) {
	t.Parallel()
	for name, first := range map[string]string{"fast": `id="s1"`, "staging": `id="s1",quantity=0`} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			tb := setup(t)
			ctx := context.Background()
			var killed atomic.Bool
			line := func(i int) string {
				if i == 1 {
					return segment(first)
				}
				return segment(fmt.Sprintf(`id="s%d"`, i))
			}
			in := &lines{n: 50_000, line: line, onEnd: func(i int) {
				if i != 30_000 {
					return
				}
				// The import's backend is the one copying rows: end it.
				tag, err := tb.pool.Exec(ctx, `SELECT pg_terminate_backend(pid) FROM pg_stat_activity
					WHERE datname = current_database() AND pid <> pg_backend_pid()
					  AND query LIKE $1`, map[string]string{"fast": "COPY usage_segments%", "staging": "%ingest_stage%"}[name])
				if err != nil {
					t.Errorf("ending the import's backend: %v", err) // not FailNow: this is the reader's goroutine
					return
				}
				killed.Store(tag.RowsAffected() == 1)
			}}
			_, err := ingest.ImportUsage(ctx, tb.pool, in, ingest.Options{Name: "u.ndjson"})
			require.True(t, killed.Load(), "no import backend to end")
			require.Error(t, err)
			require.Regexp(t, `^u\.ndjson:\d+: loading into the database failed, nothing imported: `, err.Error())
			require.True(t, strings.Contains(err.Error(), "terminat") || strings.Contains(err.Error(), "conn"), err.Error())
			t.Log(err)
			require.Zero(t, tb.count(t, `SELECT count(*) FROM usage_segments`))
		})
	}
}
