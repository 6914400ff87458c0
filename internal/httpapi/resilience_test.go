package httpapi_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/billingengine/engine/internal/dbtest"
	"github.com/billingengine/engine/internal/httpapi"
	"github.com/billingengine/engine/internal/platform/auth"
	"github.com/billingengine/engine/internal/platform/pgdb"
	"github.com/billingengine/engine/internal/testutil"
	"github.com/billingengine/engine/invoices"
	"github.com/billingengine/engine/jobs"
	"github.com/billingengine/engine/payments/sandbox"
)

// failsafe is an API over its own small pool (8 connections, fewer than
// the slow clients below), with the server settings a test tunes.
type failsafe struct {
	pool *pgxpool.Pool // the server's
	// admin is the test's own pool, so that its setup and checks never wait
	// for the server's connections.
	admin   *pgxpool.Pool
	srv     *httptest.Server
	inv     testutil.Invoice
	finance string
	jobs    *jobs.Client
}

func newFailsafe(t *testing.T, worker bool, tune func(*httpapi.Config)) *failsafe {
	t.Helper()
	ctx := context.Background()
	db := dbtest.New(t)
	pool, err := pgdb.Open(ctx, db.URL, &pgdb.Config{MaxConns: 8})
	require.NoError(t, err)
	t.Cleanup(pool.Close)
	f := &failsafe{pool: pool, admin: db.Pool, inv: testutil.OpenInvoice(t, pool, "a1", 1, "12.00")}
	_, err = pool.Exec(ctx, `INSERT INTO resources VALUES ('c'); INSERT INTO prices VALUES ('c', '2026-01-01Z', 0.10, 'C')`)
	require.NoError(t, err)
	_, f.finance, err = auth.Create(ctx, pool, "finance", auth.ScopeFinance)
	require.NoError(t, err)
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	if worker {
		f.jobs, err = jobs.NewClient(pool, jobs.Config{TestOnly: true, Processor: &sandbox.Processor{Pool: pool}, Logger: log})
		require.NoError(t, err)
		require.NoError(t, f.jobs.Start(ctx))
		t.Cleanup(func() {
			stop, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			_ = f.jobs.Stop(stop)
		})
	} else {
		f.jobs, err = jobs.NewInsertClient(pool)
		require.NoError(t, err)
	}
	cfg := httpapi.Config{Pool: pool, Jobs: f.jobs, Logger: log, Invoices: &invoices.Config{Location: time.UTC}}
	if tune != nil {
		tune(&cfg)
	}
	f.srv = httptest.NewServer(httpapi.New(cfg))
	t.Cleanup(f.srv.Close)
	return f
}

// serviceToken creates a service token of its own.
func (f *failsafe) serviceToken(t *testing.T, name string) string {
	t.Helper()
	_, secret, err := auth.Create(context.Background(), f.admin, name, auth.ScopeService)
	require.NoError(t, err)
	return secret
}

// quick calls the API and fails the test unless it answers within a few
// seconds.
func (f *failsafe) quick(t *testing.T, token, method, path, body string) (int, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, f.srv.URL+path, strings.NewReader(body))
	require.NoError(t, err)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	res, err := apiClient(t).Do(req)
	require.NoError(t, err, "%s %s did not answer within 3 s", method, path)
	defer res.Body.Close()
	out, err := io.ReadAll(res.Body)
	require.NoError(t, err)
	return res.StatusCode, string(out)
}

// slowUpload is a client sending a usage upload: head byte by byte, every
// 25 ms, then nothing until release closes, then the rest.
type slowUpload struct {
	status int
	body   string
	err    error
}

func (f *failsafe) slowUpload(ctx context.Context, token, body string, head int, started *sync.WaitGroup, release <-chan struct{}) <-chan slowUpload {
	pr, pw := io.Pipe()
	go func() {
		for i := range head {
			if _, err := pw.Write([]byte{body[i]}); err != nil {
				return
			}
			if i == 9 {
				started.Done()
			}
			time.Sleep(25 * time.Millisecond)
		}
		select {
		case <-release:
		case <-ctx.Done():
			pw.CloseWithError(ctx.Err())
			return
		}
		_, _ = pw.Write([]byte(body[head:]))
		_ = pw.Close()
	}()
	done := make(chan slowUpload, 1)
	go func() {
		var u slowUpload
		defer func() { done <- u }()
		req, err := http.NewRequestWithContext(ctx, "POST", f.srv.URL+"/v1/usage", pr)
		if err != nil {
			u.err = err
			return
		}
		req.Header.Set("Authorization", "Bearer "+token)
		res, err := http.DefaultClient.Do(req) // no t here: the answers are checked by the tests that wait for them
		if err != nil {
			u.err = err
			return
		}
		defer res.Body.Close()
		b, err := io.ReadAll(res.Body)
		u.status, u.body, u.err = res.StatusCode, string(b), err
	}()
	return done
}

// 20 clients trickle usage uploads, each with a token of its own, more
// than the pool has connections. While they do, /healthz, a request that
// reads the database and a job (inserted over the API, worked by a worker
// on the same pool) all go through within seconds; released, every upload
// lands.
func TestConcurrentSlowUploadsLeaveTheAPIAndJobsServed(t *testing.T) {
	t.Parallel()
	f := newFailsafe(t, true, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()

	const clients = 20
	var started sync.WaitGroup
	started.Add(clients)
	release := make(chan struct{})
	var tokens []string
	for i := range clients {
		tokens = append(tokens, f.serviceToken(t, fmt.Sprintf("service-%d", i)))
	}
	var uploads []<-chan slowUpload
	for i, token := range tokens {
		uploads = append(uploads, f.slowUpload(ctx, token, fmt.Sprintf(segment, fmt.Sprint(i))+"\n", 60, &started, release))
	}
	started.Wait()

	// The uploads go on trickling (60 bytes take 1.5 s each) and then stall.
	for range 5 {
		status, body := f.quick(t, "", "GET", "/healthz", "")
		require.Equal(t, 200, status, body)
		status, body = f.quick(t, f.finance, "GET", "/v1/accounts/a1", "")
		require.Equal(t, 200, status, body)
		time.Sleep(200 * time.Millisecond)
	}
	status, body := f.quick(t, f.finance, "POST", "/v1/invoices/"+f.inv.Number+"/collect", "")
	require.Equal(t, 202, status, body)
	var queued struct {
		JobID int64 `json:"job_id"`
	}
	require.NoError(t, json.Unmarshal([]byte(body), &queued))
	require.Eventually(t, func() bool {
		var state string
		require.NoError(t, f.admin.QueryRow(ctx, `SELECT state FROM river_job WHERE id = $1`, queued.JobID).Scan(&state))
		return state == "completed"
	}, 30*time.Second, 50*time.Millisecond, "the job is worked while the uploads stall")

	close(release)
	for i, done := range uploads {
		select {
		case u := <-done:
			require.NoError(t, u.err, "upload %d", i)
			require.Equal(t, 200, u.status, "upload %d: %s", i, u.body)
			require.Contains(t, u.body, `"inserted":1`)
		case <-ctx.Done():
			t.Fatalf("upload %d never answered", i)
		}
	}
	var n int
	require.NoError(t, f.admin.QueryRow(ctx, `SELECT count(*) FROM usage_segments`).Scan(&n))
	require.Equal(t, clients, n)
}

// A token has at most MaxUploadsPerToken uploads in progress: one more is
// a 429 that says so, while other tokens are unaffected; once the stalled
// uploads end, the token uploads again.
func TestConcurrentUploadsPerTokenAreLimited(t *testing.T) {
	t.Parallel()
	f := newFailsafe(t, false, func(c *httpapi.Config) { c.MaxUploadsPerToken = 2 })
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	busy, other := f.serviceToken(t, "busy"), f.serviceToken(t, "other")
	var started sync.WaitGroup
	started.Add(2)
	release := make(chan struct{})
	// The second is over the 4 MiB kept in memory: the rest of it waits in
	// a temporary file.
	var big strings.Builder
	for i := range 30_000 {
		fmt.Fprintf(&big, segment+"\n", fmt.Sprintf("big-%d", i))
	}
	require.Greater(t, big.Len(), 4<<20)
	stalled := []<-chan slowUpload{
		f.slowUpload(ctx, busy, fmt.Sprintf(segment, "stalled-1")+"\n", 10, &started, release),
		f.slowUpload(ctx, busy, big.String(), 10, &started, release),
	}
	started.Wait()

	// The stalled uploads take their slots as soon as the server reads
	// their headers: until then a third one may still go through.
	var status int
	var body, retryAfter string
	require.Eventually(t, func() bool {
		req, err := http.NewRequestWithContext(ctx, "POST", f.srv.URL+"/v1/usage", strings.NewReader(fmt.Sprintf(segment, "third")+"\n"))
		require.NoError(t, err)
		req.Header.Set("Authorization", "bearer "+busy)
		res, err := apiClient(t).Do(req)
		require.NoError(t, err)
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		status, body, retryAfter = res.StatusCode, string(b), res.Header.Get("Retry-After")
		return status == 429
	}, 10*time.Second, 20*time.Millisecond)
	var e struct {
		Error struct{ Code, Message string }
	}
	require.NoError(t, json.Unmarshal([]byte(body), &e), body)
	require.Equal(t, "too_many_uploads", e.Error.Code)
	require.Contains(t, e.Error.Message, "already has 2 usage uploads in progress")
	require.NotEmpty(t, retryAfter)

	status, body = f.quick(t, other, "POST", "/v1/usage", fmt.Sprintf(segment, "other")+"\n")
	require.Equal(t, 200, status, "another token is not limited: %s", body)

	close(release)
	for i, done := range stalled {
		u := <-done
		require.NoError(t, u.err)
		require.Equal(t, 200, u.status, u.body)
		require.Contains(t, u.body, fmt.Sprintf(`"inserted":%d`, []int{1, 30_000}[i]))
	}
	status, body = f.quick(t, busy, "POST", "/v1/usage", fmt.Sprintf(segment, "after")+"\n")
	require.Equal(t, 200, status, "the slots are free again: %s", body)
}

// An upload whose body doesn't arrive within UploadTimeout is a 408 and
// imports nothing; its slot is free again at once.
func TestUploadTimeout(t *testing.T) {
	t.Parallel()
	f := newFailsafe(t, false, func(c *httpapi.Config) {
		c.UploadTimeout = time.Second
		c.MaxUploadsPerToken = 1
	})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	token := f.serviceToken(t, "slow")
	var started sync.WaitGroup
	started.Add(1)
	never := make(chan struct{})
	defer close(never)
	begin := time.Now()
	u := <-f.slowUpload(ctx, token, fmt.Sprintf(segment, "late")+"\n", 10, &started, never)
	require.NoError(t, u.err)
	require.Equal(t, 408, u.status, u.body)
	require.Contains(t, u.body, `"code":"upload_timeout"`)
	require.Contains(t, u.body, "did not arrive within 1s: nothing imported")
	require.Less(t, time.Since(begin), 10*time.Second)
	status, body := f.quick(t, token, "POST", "/v1/usage", fmt.Sprintf(segment, "on-time")+"\n")
	require.Equal(t, 200, status, body)
	var ids []string
	rows, err := f.admin.Query(ctx, `SELECT id FROM usage_segments`)
	require.NoError(t, err)
	for rows.Next() {
		var id string
		require.NoError(t, rows.Scan(&id))
		ids = append(ids, id)
	}
	require.NoError(t, rows.Err())
	require.Equal(t, []string{"s-on-time"}, ids)
}

// The server's timeouts: a client trickling its headers is cut off, and so
// is one whose small API body stalls (408), while a usage upload gets its
// own, longer deadline.
func TestServerTimeoutsCutSlowClientsOff(t *testing.T) {
	t.Parallel()
	f := newFailsafe(t, false, func(c *httpapi.Config) { c.UploadTimeout = 20 * time.Second })
	srv := httpapi.HTTPServer(f.srv.Config.Handler, httpapi.Timeouts{ReadHeader: 300 * time.Millisecond, Read: time.Second})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	addr := ln.Addr().String()

	// Headers that never end: the connection is closed.
	conn, err := net.Dial("tcp", addr)
	require.NoError(t, err)
	defer conn.Close()
	_, err = io.WriteString(conn, "GET /healthz HTTP/1.1\r\nHost: x\r\n")
	require.NoError(t, err)
	require.NoError(t, conn.SetReadDeadline(time.Now().Add(5*time.Second)))
	_, err = io.ReadAll(conn)
	require.NoError(t, err, "the server closes the connection (a read deadline here would be an error)")

	// A JSON body that stalls past the read timeout: 408.
	conn2, err := net.Dial("tcp", addr)
	require.NoError(t, err)
	defer conn2.Close()
	_, err = fmt.Fprintf(conn2, "POST /v1/runs HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\nContent-Length: 40\r\n\r\n{\"period\":", f.finance)
	require.NoError(t, err)
	require.NoError(t, conn2.SetReadDeadline(time.Now().Add(5*time.Second)))
	res, err := http.ReadResponse(bufio.NewReader(conn2), nil)
	require.NoError(t, err)
	b, _ := io.ReadAll(res.Body)
	require.Equal(t, 408, res.StatusCode, "%s", b)

	// An upload trickled over twice the read timeout still lands.
	pr, pw := io.Pipe()
	line := fmt.Sprintf(segment, "patient") + "\n"
	go func() {
		for i := range len(line) {
			_, _ = pw.Write([]byte{line[i]})
			time.Sleep(2 * time.Second / time.Duration(len(line)))
		}
		_ = pw.Close()
	}()
	req, err := http.NewRequest("POST", "http://"+addr+"/v1/usage", pr)
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+f.serviceToken(t, "patient"))
	res, err = apiClient(t).Do(req)
	require.NoError(t, err)
	b, _ = io.ReadAll(res.Body)
	res.Body.Close()
	require.Equal(t, 200, res.StatusCode, "%s", b)
}
