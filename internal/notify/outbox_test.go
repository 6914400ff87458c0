package notify_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
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
	require.NoError(t, pgx.BeginFunc(ctx, db.Pool, func(tx pgx.Tx) error {
		// The events written as internal/events writes them (notify stands
		// beside it and may not import it): the outbox keys are (txid, seq).
		rows, err := tx.Query(ctx, `
			INSERT INTO events (type, account_id, created_at, data)
			SELECT $1, $2, now(), json_build_object('amount', i || '.00', 'kind', 'manual_credit', 'reference', 'r' || i)
			FROM generate_series(1, $3) AS i ORDER BY i
			RETURNING txid, seq`, string(billing.EventCreditAdded), acc.ID, n)
		if err != nil {
			return err
		}
		var out []notify.OutgoingEmail
		for rows.Next() {
			e := notify.OutgoingEmail{Template: billing.EmailCreditReceipt, AccountID: acc.ID}
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
