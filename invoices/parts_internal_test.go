package invoices

import (
	"crypto/sha256"
	"encoding/hex"
	"testing"

	"github.com/stretchr/testify/require"
	"pgregory.net/rapid"

	"github.com/billingengine/engine/invoices/pdf"
)

// A file cut into its row and its parts comes back whole, byte for byte,
// whatever its spans: none, small ones left in the row, adjacent ones, at
// the very start or end, the same part twice.
func TestSplitAndJoinGiveTheFileBack(t *testing.T) {
	t.Parallel()
	rapid.Check(t, func(t *rapid.T) {
		n := rapid.IntRange(0, 6).Draw(t, "spans")
		var file []byte
		var spans []pdf.Span
		common := rapid.SliceOfN(rapid.Byte(), minPart, minPart+64).Draw(t, "common")
		for range n {
			file = append(file, rapid.SliceOfN(rapid.Byte(), 0, 40).Draw(t, "gap")...)
			data := common
			if !rapid.Bool().Draw(t, "same") {
				data = rapid.SliceOfN(rapid.Byte(), 1, 2*minPart).Draw(t, "data")
			}
			spans = append(spans, pdf.Span{At: len(file), Data: data})
			file = append(file, data...)
		}
		file = append(file, rapid.SliceOfN(rapid.Byte(), 0, 40).Draw(t, "tail")...)
		if len(file) == 0 {
			file = []byte{0}
		}
		parts := map[[32]byte][]byte{}
		s, err := split(pdf.File{Bytes: file, Shared: spans}, parts)
		require.NoError(t, err)
		kept := 0
		for _, sp := range spans {
			if len(sp.Data) >= minPart {
				kept += len(sp.Data)
			}
		}
		require.Len(t, s.rest, len(file)-kept, "every span of a part's size is out of the row")
		require.Len(t, s.at, len(s.hashes))
		sum := sha256.Sum256(file)
		got, back, err := join("INV-2026-000001", s.rest, s.at, s.hashes, parts, hex.EncodeToString(sum[:]))
		require.NoError(t, err)
		require.Equal(t, file, got)
		again := map[[32]byte][]byte{}
		s2, err := split(pdf.File{Bytes: got, Shared: back}, again)
		require.NoError(t, err)
		require.Equal(t, s, s2, "a file read back is stored as it was")
	})
}

// A part missing, a digest that does not match, or a span that is not the
// file's is an error: never a wrong document.
func TestSplitAndJoinRefuseWhatIsNotTheFile(t *testing.T) {
	t.Parallel()
	data := make([]byte, minPart)
	for i := range data {
		data[i] = byte(i)
	}
	file := append(append([]byte("head"), data...), []byte("tail")...)
	sum := sha256.Sum256(file)
	sha := hex.EncodeToString(sum[:])
	parts := map[[32]byte][]byte{}
	s, err := split(pdf.File{Bytes: file, Shared: []pdf.Span{{At: 4, Data: data}}}, parts)
	require.NoError(t, err)
	require.Equal(t, "headtail", string(s.rest))

	_, _, err = join("INV-2026-000001", s.rest, s.at, s.hashes, map[[32]byte][]byte{}, sha)
	require.ErrorContains(t, err, "is not stored")
	_, _, err = join("INV-2026-000001", s.rest, s.at, s.hashes, parts, sha[:63]+"0")
	require.ErrorContains(t, err, "do not give the file stored")
	_, _, err = join("INV-2026-000001", s.rest, []int32{9}, s.hashes, parts, sha)
	require.ErrorContains(t, err, "out of order")

	_, err = split(pdf.File{Bytes: file, Shared: []pdf.Span{{At: 5, Data: data}}}, parts)
	require.ErrorContains(t, err, "is not the file's")
	_, err = split(pdf.File{Bytes: file, Shared: []pdf.Span{{At: 4, Data: data}, {At: 4, Data: data}}}, parts)
	require.ErrorContains(t, err, "is not the file's", "overlapping spans")
}
