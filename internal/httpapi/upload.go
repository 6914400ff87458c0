package httpapi

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/billingengine/engine/internal/ingest"
)

// Usage uploads are received in full before they take a database
// connection: an import holds one transaction from its first row to its
// last, so streaming a slow client's body straight into it would let a few
// slow uploads hold the whole pool, and with it the API and every job.

// spoolInMemory is how much of an upload is kept in memory; the rest goes
// to a temporary file, so that a 256 MiB upload costs disk, not RAM.
const spoolInMemory = 4 << 20

// importWriteBudget is how long answering an upload may take once it has
// been received: the import itself. The server's WriteTimeout started
// counting when the request arrived, which may be minutes earlier.
const importWriteBudget = 10 * time.Minute

// uploadLimiter counts the uploads in progress per token.
type uploadLimiter struct {
	max int
	mu  sync.Mutex
	n   map[int64]int
}

// acquire takes one of the token's upload slots, reporting false when all
// are taken.
func (l *uploadLimiter) acquire(token int64) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.n[token] >= l.max {
		return false
	}
	l.n[token]++
	return true
}

func (l *uploadLimiter) release(token int64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.n[token]--; l.n[token] <= 0 {
		delete(l.n, token)
	}
}

// spool is a received body: in memory, or in a temporary file past
// spoolInMemory.
type spool struct {
	mem  bytes.Buffer
	file *os.File
}

// ReadFrom reads r to its end into the spool.
func (s *spool) ReadFrom(r io.Reader) (int64, error) {
	n, err := io.CopyN(&s.mem, r, spoolInMemory)
	if err != nil {
		if errors.Is(err, io.EOF) {
			err = nil
		}
		return n, err
	}
	if s.file, err = os.CreateTemp("", "billing-usage-*"); err != nil {
		return n, fmt.Errorf("spooling the upload: %w", err)
	}
	// Unlinked at once: the file goes away with the last descriptor, even
	// if the process dies mid-import.
	_ = os.Remove(s.file.Name())
	// The whole body in the file, the part read into memory first: the
	// import reads a seekable input twice if it must, rather than keep a
	// copy of its own.
	if _, err := s.mem.WriteTo(s.file); err != nil {
		return n, fmt.Errorf("spooling the upload: %w", err)
	}
	m, err := io.Copy(s.file, r)
	n += m
	if err == nil {
		_, err = s.file.Seek(0, io.SeekStart)
	}
	return n, err
}

// Reader returns the spooled body from its start, seekable.
func (s *spool) Reader() io.ReadSeeker {
	if s.file == nil {
		return bytes.NewReader(s.mem.Bytes())
	}
	return s.file
}

func (s *spool) Close() {
	if s.file != nil {
		_ = s.file.Close()
	}
}

// postUsage imports NDJSON (or CSV with ?format=csv or Content-Type
// text/csv) with the validation and all-or-nothing behaviour of `billing
// usage import`; ?skip_invalid=true imports the valid lines. A token has at
// most MaxUploadsPerToken uploads in progress (429 beyond), each must
// arrive within UploadTimeout (408 beyond), and only then does the import
// wait for one of MaxConcurrentImports slots and take a connection.
func (s *Server) postUsage(w http.ResponseWriter, r *http.Request, p *principal) {
	q := r.URL.Query()
	if v := q.Get("format"); q.Has("format") && v != "csv" && v != "ndjson" {
		writeError(w, http.StatusBadRequest, "invalid_parameter", fmt.Sprintf("format: expected ndjson or csv, got %q", v))
		return
	}
	if v := q.Get("skip_invalid"); q.Has("skip_invalid") && v != "true" && v != "false" {
		writeError(w, http.StatusBadRequest, "invalid_parameter", fmt.Sprintf("skip_invalid: expected true or false, got %q", v))
		return
	}
	if !s.uploads.acquire(p.token.ID) {
		w.Header().Set("Retry-After", "5")
		writeError(w, http.StatusTooManyRequests, "too_many_uploads", fmt.Sprintf(
			"this token already has %d usage uploads in progress: wait for one to finish before sending another", s.uploads.max))
		return
	}
	defer s.uploads.release(p.token.ID)

	format := ingest.FormatNDJSON
	if r.URL.Query().Get("format") == "csv" || strings.HasPrefix(r.Header.Get("Content-Type"), "text/csv") {
		format = ingest.FormatCSV
	}
	rc := http.NewResponseController(w)
	// The server's ReadTimeout suits the API's small bodies; an upload gets
	// its own, longer bound. Servers that can't set deadlines keep theirs.
	_ = rc.SetReadDeadline(time.Now().Add(s.cfg.UploadTimeout))
	var body spool
	defer body.Close()
	_, err := body.ReadFrom(r.Body)
	var tooLarge *http.MaxBytesError
	switch {
	case errors.As(err, &tooLarge):
		writeError(w, http.StatusRequestEntityTooLarge, "too_large", fmt.Sprintf("request body over %d bytes: nothing imported", tooLarge.Limit))
		return
	case isTimeout(err):
		writeError(w, http.StatusRequestTimeout, "upload_timeout", fmt.Sprintf("the upload did not arrive within %s: nothing imported", s.cfg.UploadTimeout))
		return
	case err != nil && r.Context().Err() != nil:
		return // the client went away
	case err != nil:
		s.cfg.Logger.WarnContext(r.Context(), "reading a usage upload", "error", err)
		writeError(w, http.StatusBadRequest, "bad_request", "the request body could not be read: nothing imported")
		return
	}
	_ = rc.SetWriteDeadline(time.Now().Add(importWriteBudget))

	ctx := r.Context()
	select {
	case s.imports <- struct{}{}:
		defer func() { <-s.imports }()
	case <-ctx.Done():
		return
	}
	var problems []problemJSON
	total := 0
	res, err := ingest.ImportUsage(ctx, s.cfg.Pool, body.Reader(), ingest.Options{
		Name: "request", Format: format, SkipInvalid: r.URL.Query().Get("skip_invalid") == "true",
		Report: func(p ingest.Problem) {
			total++
			if len(problems) < maxProblems {
				problems = append(problems, problemJSON{p.Line, p.Message})
			}
		},
	})
	switch {
	case errors.Is(err, ingest.ErrInvalid):
		writeJSON(w, http.StatusUnprocessableEntity, map[string]any{"error": map[string]any{
			"code": "invalid_input", "message": err.Error(), "problems": problems, "problem_count": total,
		}})
	case errors.Is(err, context.Canceled) && ctx.Err() != nil:
		return // the client went away; the import rolled back
	case err != nil:
		s.internalError(w, r, err)
	default:
		writeJSON(w, http.StatusOK, map[string]any{"result": res, "problems": nonNil(problems)})
	}
}
