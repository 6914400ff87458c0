package invoices

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"slices"
	"sync"

	"github.com/jackc/pgx/v5"

	"github.com/billingengine/engine/internal/platform/pgdb"
	"github.com/billingengine/engine/invoices/pdf"
)

// A stored version's file is its own bytes with the parts it shares with
// other documents cut out (migration 0023): the font subsets' streams and
// the sRGB profile, kept once in document_parts under their SHA-256.

// minPart is the smallest shared span worth a part: below it the bytes
// cost less in the row than the part's name does.
const minPart = 1024

// splitFile is what the documents table stores of a file: rest, and the
// parts that go back in at their offsets in rest.
type splitFile struct {
	rest   []byte
	at     []int32
	hashes [][]byte
}

// row values for the parts and part_at columns: NULL without parts.
func (s splitFile) columns() (parts, at any) {
	if len(s.hashes) == 0 {
		return nil, nil
	}
	return s.hashes, s.at
}

// split cuts f's shared spans out, adding each to parts (by digest). A
// span that is not what the file holds at its offset is the renderer's
// bug: the file would not come back whole, so nothing is stored.
func split(f pdf.File, parts map[[32]byte][]byte) (splitFile, error) {
	var s splitFile
	var rest []byte
	from := 0
	for _, sp := range f.Shared {
		if len(sp.Data) < minPart {
			continue
		}
		end := sp.At + len(sp.Data)
		if sp.At < from || end > len(f.Bytes) || !bytes.Equal(f.Bytes[sp.At:end], sp.Data) {
			return splitFile{}, fmt.Errorf("a shared span of %d bytes at %d is not the file's", len(sp.Data), sp.At)
		}
		if rest == nil {
			rest = make([]byte, 0, len(f.Bytes))
		}
		rest = append(rest, f.Bytes[from:sp.At]...)
		sum := sp.SHA256 // computed once with the renderer's cache
		if sum == ([32]byte{}) {
			sum = sha256.Sum256(sp.Data)
		}
		parts[sum] = sp.Data
		s.at = append(s.at, int32(len(rest)))
		s.hashes = append(s.hashes, sum[:])
		from = end
	}
	if rest == nil {
		s.rest = f.Bytes
		return s, nil
	}
	s.rest = append(rest, f.Bytes[from:]...)
	return s, nil
}

// storeParts writes the parts not stored yet, in tx. In the order of their
// digests: two transactions writing the same new parts wait for each other
// in one order, never in a cycle.
func storeParts(ctx context.Context, tx pgx.Tx, parts map[[32]byte][]byte) error {
	if len(parts) == 0 {
		return nil
	}
	keys := make([][32]byte, 0, len(parts))
	for k := range parts {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b [32]byte) int { return bytes.Compare(a[:], b[:]) })
	sums, data := make([][]byte, len(keys)), make([][]byte, len(keys))
	for i, k := range keys {
		sums[i], data[i] = k[:], parts[k]
	}
	_, err := tx.Exec(ctx, `
		INSERT INTO document_parts (sha256, bytes)
		SELECT s, b FROM unnest($1::bytea[], $2::bytea[]) WITH ORDINALITY AS u(s, b, n) ORDER BY n
		ON CONFLICT (sha256) DO NOTHING`, sums, data)
	return err
}

// knownParts holds the parts read so far. A part is named by its digest
// and never changes, so a copy never goes stale; the bound keeps a
// process that reads unusual documents from growing without end.
var knownParts = struct {
	sync.RWMutex
	m map[[32]byte][]byte
}{m: map[[32]byte][]byte{}}

const maxKnownParts = 4096

// loadParts returns the parts named by hashes, read once per process.
func loadParts(ctx context.Context, q pgdb.Executor, hashes [][]byte) (map[[32]byte][]byte, error) {
	out := make(map[[32]byte][]byte, len(hashes))
	var missing [][]byte
	knownParts.RLock()
	for _, h := range hashes {
		k := [32]byte(h)
		if b, ok := knownParts.m[k]; ok {
			out[k] = b
		} else if _, ok := out[k]; !ok {
			out[k] = nil
			missing = append(missing, h)
		}
	}
	knownParts.RUnlock()
	if len(missing) == 0 {
		return out, nil
	}
	rows, err := q.Query(ctx, `SELECT sha256, bytes FROM document_parts WHERE sha256 = ANY($1)`, missing)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	knownParts.Lock()
	defer knownParts.Unlock()
	for rows.Next() {
		var h, b []byte
		if err := rows.Scan(&h, &b); err != nil {
			return nil, err
		}
		if len(h) != 32 {
			return nil, fmt.Errorf("document part named %x: not a SHA-256", h)
		}
		k := [32]byte(h)
		out[k] = b
		if len(knownParts.m) < maxKnownParts {
			knownParts.m[k] = b
		}
	}
	return out, rows.Err()
}

// join puts a stored version's parts back and checks the result against
// its digest: a document is served whole and as stored, or not at all.
// It returns the spans the parts fill, for storing the file again.
func join(number string, rest []byte, at []int32, hashes [][]byte, parts map[[32]byte][]byte, sha string) ([]byte, []pdf.Span, error) {
	if len(hashes) == 0 {
		return rest, nil, nil
	}
	if len(at) != len(hashes) {
		return nil, nil, fmt.Errorf("document %s: %d parts at %d offsets", number, len(hashes), len(at))
	}
	size := len(rest)
	for _, h := range hashes {
		size += len(parts[[32]byte(h)])
	}
	out := make([]byte, 0, size)
	spans := make([]pdf.Span, 0, len(hashes))
	from := 0
	for i, h := range hashes {
		b := parts[[32]byte(h)]
		if b == nil {
			return nil, nil, fmt.Errorf("document %s: its part %x is not stored", number, h)
		}
		a := int(at[i])
		if a < from || a > len(rest) {
			return nil, nil, fmt.Errorf("document %s: part %d at offset %d, out of order", number, i, a)
		}
		out = append(out, rest[from:a]...)
		spans = append(spans, pdf.Span{At: len(out), Data: b, SHA256: [32]byte(h)})
		out = append(out, b...)
		from = a
	}
	out = append(out, rest[from:]...)
	sum := sha256.Sum256(out)
	if hex.EncodeToString(sum[:]) != sha {
		return nil, nil, fmt.Errorf("document %s: its parts put back do not give the file stored (SHA-256 %s)", number, sha)
	}
	return out, spans, nil
}
