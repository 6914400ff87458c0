package notify_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	stdmail "net/mail"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/billingengine/engine/billing"
	"github.com/billingengine/engine/internal/dbtest"
	"github.com/billingengine/engine/internal/notify"
	"github.com/billingengine/engine/internal/testfactory"
	"github.com/billingengine/engine/internal/testutil"
)

// concurrency wraps a Mailer and records how many of its Sends overlap.
type concurrency struct {
	notify.Mailer
	now, peak atomic.Int32
}

func (c *concurrency) Send(ctx context.Context, msgs []notify.Outgoing, done func(int, error)) {
	n := c.now.Add(1)
	for {
		p := c.peak.Load()
		if n <= p || c.peak.CompareAndSwap(p, n) {
			break
		}
	}
	defer c.now.Add(-1)
	// Hold the connection a moment, so that parallel senders overlap even
	// on an idle machine.
	time.Sleep(20 * time.Millisecond)
	c.Mailer.Send(ctx, msgs, done)
}

// queueEventEmails writes n events of type typ for the account, event i's
// data the SQL expression data of i, and queues an email of template for
// each, in one transaction. The events are written as internal/events
// writes them (notify stands beside it and may not import it): the
// outbox keys are (txid, seq).
func queueEventEmails(ctx context.Context, t *testing.T, db *pgxpool.Pool, template billing.EmailTemplate, accountID string,
	n int, typ, data string) {
	t.Helper()
	require.NoError(t, pgx.BeginFunc(ctx, db, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `
			INSERT INTO events (type, account_id, created_at, data)
			SELECT $1, $2, now(), `+data+`
			FROM generate_series(1, $3) AS i ORDER BY i
			RETURNING txid, seq`, typ, accountID, n)
		if err != nil {
			return err
		}
		var out []notify.OutgoingEmail
		for rows.Next() {
			e := notify.OutgoingEmail{Template: template, AccountID: accountID}
			if err := rows.Scan(&e.TxID, &e.Seq); err != nil {
				return err
			}
			out = append(out, e)
		}
		if err := rows.Err(); err != nil {
			return err
		}
		_, err = notify.QueueEmails(ctx, tx, out)
		return err
	}))
}

// queueInvoiceEmails queues the invoice emails of n finalized invoices
// INV-2026-000001… of the account.
func queueInvoiceEmails(ctx context.Context, t *testing.T, db *pgxpool.Pool, accountID string, n int) {
	t.Helper()
	queueEventEmails(ctx, t, db, billing.EmailInvoiceIssued, accountID, n, string(billing.EventInvoiceFinalized),
		`json_build_object('number', 'INV-2026-00000' || i, 'period', '2026-10', 'total', '12.00', 'amount_due', '12.00',
		                   'issued_at', now())`)
}

// A backlog of many batches is handed to a real SMTP server by parallel
// senders, each on its own connection: every email exactly once (the
// senders' claims never overlap), every row sent, at most Parallel
// connections at once, and the outbox's rows recorded with their
// Message-IDs.
func TestEmailBacklogSentOnceByParallelSenders(t *testing.T) {
	t.Parallel()
	mp := testutil.StartMailpit(t, 0)
	db := dbtest.New(t)
	ctx := context.Background()
	acc := testfactory.Account(ctx, t, db.Pool, nil)
	const n = 130
	queueEventEmails(ctx, t, db.Pool, billing.EmailCreditReceipt, acc.ID, n, string(billing.EventCreditAdded),
		`json_build_object('amount', i || '.00', 'kind', 'manual_credit', 'reference', 'r' || i)`)

	m := &concurrency{Mailer: &notify.SMTPMailer{Host: "127.0.0.1", Port: mp.SMTPPort}}
	s := &notify.EmailSender{Mailer: m, From: "Billing <billing@mail.example.com>", Seller: "Billing SAS", Batch: 7, Parallel: 4,
		Budget: time.Minute}
	st, err := s.Send(ctx, db.Pool)
	require.NoError(t, err)
	require.Equal(t, notify.EmailStats{Sent: n}, st)
	require.LessOrEqual(t, m.peak.Load(), int32(4))
	require.Greater(t, m.peak.Load(), int32(1), "the batches were sent in parallel")

	rows, err := notify.Emails(ctx, db.Pool, notify.EmailParams{})
	require.NoError(t, err)
	require.Len(t, rows, n)
	want := map[string]bool{}
	for _, r := range rows {
		require.Equal(t, notify.EmailSent, r.State)
		require.Equal(t, 1, r.Attempts)
		want[r.MessageID] = true
	}
	require.Len(t, want, n)

	// Nothing is due any more: a second Send sends nothing.
	st, err = s.Send(ctx, db.Pool)
	require.NoError(t, err)
	require.Equal(t, notify.EmailStats{}, st)

	var got []testutil.MailpitMessage
	require.Eventually(t, func() bool { got = mp.Messages(t); return len(got) >= n }, 10*time.Second, 50*time.Millisecond)
	// mailpit shows the Message-ID without its angle brackets.
	seen := map[string]int{}
	for _, g := range got {
		seen["<"+g.MessageID+">"]++
		seen[g.MessageID]++
	}
	for id := range want {
		require.Equal(t, 1, seen[id], "%s received once", id)
	}
}

// The invoices' PDFs of a batch are read in one Prefetch; an invoice it
// leaves out (not rendered yet) is Attach's, and every email carries its
// own invoice's PDF.
func TestEmailBatchAttachmentsPrefetchedThenAttachedOneByOne(t *testing.T) {
	t.Parallel()
	db := dbtest.New(t)
	ctx := context.Background()
	acc := testfactory.Account(ctx, t, db.Pool, nil)
	const n = 5
	queueInvoiceEmails(ctx, t, db.Pool, acc.ID, n)

	pdfOf := func(number string) []notify.Attachment {
		return []notify.Attachment{{Name: number + ".pdf", ContentType: "application/pdf", Data: []byte("%PDF-1.7 " + number)}}
	}
	var prefetched [][]string
	var attached []string
	dir := t.TempDir()
	s := &notify.EmailSender{Mailer: &notify.FileMailer{Dir: dir}, From: "billing@mail.example.com", Batch: 10, Parallel: 1,
		Prefetch: func(_ context.Context, numbers []string) (map[string][]notify.Attachment, error) {
			prefetched = append(prefetched, numbers)
			out := map[string][]notify.Attachment{}
			for _, num := range numbers {
				if num != "INV-2026-000003" {
					out[num] = pdfOf(num)
				}
			}
			return out, nil
		},
		Attach: func(_ context.Context, number string) ([]notify.Attachment, error) {
			attached = append(attached, number)
			return pdfOf(number), nil
		}}
	st, err := s.Send(ctx, db.Pool)
	require.NoError(t, err)
	require.Equal(t, notify.EmailStats{Sent: n}, st)
	require.Equal(t, [][]string{{"INV-2026-000001", "INV-2026-000002", "INV-2026-000003", "INV-2026-000004", "INV-2026-000005"}},
		prefetched, "one read for the batch")
	require.Equal(t, []string{"INV-2026-000003"}, attached, "only the one left out")

	files, err := filepath.Glob(filepath.Join(dir, "*.eml"))
	require.NoError(t, err)
	require.Len(t, files, n)
	seen := map[string]bool{}
	for _, f := range files {
		b, err := os.ReadFile(f)
		require.NoError(t, err)
		m, err := stdmail.ReadMessage(bytes.NewReader(b))
		require.NoError(t, err)
		number := strings.TrimPrefix(strings.TrimPrefix(m.Header.Get("Subject"), "Votre facture "), "Your invoice ")
		number, _, _ = strings.Cut(number, " ")
		require.Contains(t, string(b), base64.StdEncoding.EncodeToString([]byte("%PDF-1.7 "+number)), f)
		seen[number] = true
	}
	require.Len(t, seen, n)
}

// A sender job whose time runs out while its invoices' PDFs are being
// rendered gives those emails back untried: none counts an attempt or
// waits for a retry, and the next job sends them all at once.
func TestEmailCutByItsJobsDeadlineIsReleasedUntried(t *testing.T) {
	t.Parallel()
	db := dbtest.New(t)
	ctx := context.Background()
	acc := testfactory.Account(ctx, t, db.Pool, nil)
	const n = 4
	queueInvoiceEmails(ctx, t, db.Pool, acc.ID, n)
	dir := t.TempDir()
	jobCtx, timeout := context.WithCancelCause(ctx)
	slow := func(ctx context.Context, number string) ([]notify.Attachment, error) {
		// A render longer than the job may run: its deadline passes.
		timeout(context.DeadlineExceeded)
		<-ctx.Done()
		return nil, fmt.Errorf("rendering %s: %w", number, ctx.Err())
	}
	s := &notify.EmailSender{Mailer: &notify.FileMailer{Dir: dir}, From: "billing@mail.example.com", Batch: 10, Parallel: 1,
		Budget: time.Minute, RetryDelay: func(int) time.Duration { return time.Hour }, Attach: slow}
	// One is past its give-up time: that one fails, as it would have.
	_, err := db.Pool.Exec(ctx, `UPDATE emails SET give_up_at = now() - interval '1 minute' WHERE id = (SELECT max(id) FROM emails)`)
	require.NoError(t, err)
	st, err := s.Send(jobCtx, db.Pool)
	require.NoError(t, err)
	require.Equal(t, notify.EmailStats{Failed: 1, More: true}, st)
	var pending, tried, leased int
	require.NoError(t, db.Pool.QueryRow(ctx, `
		SELECT count(*) FILTER (WHERE state = 'pending' AND next_attempt_at <= now()),
		       count(*) FILTER (WHERE state = 'pending' AND (attempts > 0 OR last_error <> '')),
		       count(*) FILTER (WHERE leased_until IS NOT NULL)
		FROM emails`).Scan(&pending, &tried, &leased))
	require.Equal(t, []int{n - 1, 0, 0}, []int{pending, tried, leased}, "due now, untried, unleased")

	s.Attach = func(_ context.Context, number string) ([]notify.Attachment, error) {
		return []notify.Attachment{{Name: number + ".pdf", ContentType: "application/pdf", Data: []byte("%PDF-1.7 " + number)}}, nil
	}
	st, err = s.Send(ctx, db.Pool)
	require.NoError(t, err)
	require.Equal(t, notify.EmailStats{Sent: n - 1}, st, "the next job sends them without waiting for a retry")
}
