package ingest

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// failAfter accepts n bytes, then fails every write.
type failAfter struct {
	n   int
	buf bytes.Buffer
}

func (f *failAfter) Write(p []byte) (int, error) {
	if f.buf.Len()+len(p) > f.n {
		return 0, errors.New("no space left on device")
	}
	return f.buf.Write(p)
}

// A copy that cannot be written any more does not stop the reading (the
// fast path may still finish): the reader gets every byte, and err says
// the copy is short.
func TestSpoolerKeepsReadingWhenItsCopyFails(t *testing.T) {
	in := strings.Repeat("0123456789", 1000)
	w := &failAfter{n: 4000}
	sp := &spooler{r: io.LimitReader(strings.NewReader(in), int64(len(in))), w: w}
	got, err := io.ReadAll(sp)
	require.NoError(t, err)
	require.Equal(t, in, string(got))
	require.ErrorContains(t, sp.err, "no space left on device")
	require.Equal(t, in[:w.buf.Len()], w.buf.String(), "the copy is a prefix")

	w = &failAfter{n: len(in)}
	sp = &spooler{r: strings.NewReader(in), w: w}
	got, err = io.ReadAll(sp)
	require.NoError(t, err)
	require.Equal(t, in, string(got))
	require.NoError(t, sp.err)
	require.Equal(t, in, w.buf.String())
}
