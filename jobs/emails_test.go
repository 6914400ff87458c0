package jobs_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"io"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	netmail "net/mail"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/shopspring/decimal"
	"github.com/stretchr/testify/require"

	"github.com/billingengine/engine/billing"
	"github.com/billingengine/engine/internal/notify"
	"github.com/billingengine/engine/internal/testutil"
	"github.com/billingengine/engine/jobs"
	"github.com/billingengine/engine/payments"
)

const mailFrom = "Billing <billing@mail.example.com>"

func (tb *testBundle) emails(t *testing.T, account string) []notify.Email {
	t.Helper()
	ms, err := notify.Emails(context.Background(), tb.pool, notify.EmailParams{AccountID: account})
	require.NoError(t, err)
	return ms
}

// waitEmails waits until no email is pending.
func (tb *testBundle) waitEmails(t *testing.T, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		var pending int
		require.NoError(t, tb.pool.QueryRow(context.Background(), `SELECT count(*) FROM emails WHERE state = 'pending'`).Scan(&pending))
		if pending == 0 {
			return
		}
		require.True(t, time.Now().Before(deadline), "%d emails still pending", pending)
		time.Sleep(50 * time.Millisecond)
	}
}

func fastEmails(tb *testBundle, m notify.Mailer) {
	tb.cfg.Mail = jobs.MailConfig{Mailer: m, From: mailFrom, Seller: "Billing SAS", TestMode: true, CreditorID: "FR72ZZZ123456",
		SweepInterval: 100 * time.Millisecond}
	tb.cfg.EmailRetryDelay = func(int) time.Duration { return 200 * time.Millisecond }
}

// Without BILLING_SMTP_URL every email is recorded unsent, and billing and
// collection go on as ever.
func TestEmailsUnsentWithoutSMTP(t *testing.T) {
	t.Parallel()
	tb := setup(t)
	tb.loadPayers(t)
	client := tb.startWorker(t)
	tb.run(t, client, "2026-10")
	tb.waitIdle(t)
	tb.waitEmails(t, 30*time.Second)

	ms := tb.emails(t, "")
	count := map[billing.EmailTemplate]int{}
	for _, m := range ms {
		require.Equal(t, notify.EmailUnsent, m.State, "%+v", m)
		require.Equal(t, "BILLING_SMTP_URL is not set", m.LastError)
		count[m.Template]++
	}
	require.Equal(t, 8, count[billing.EmailInvoiceIssued], "one per invoice: %v", count)
	var failed []string
	for _, m := range ms {
		if m.Template == billing.EmailPaymentFailed {
			failed = append(failed, m.AccountID)
		}
	}
	slices.Sort(failed)
	require.Equal(t, []string{"broke", "declined", "sepafail"}, failed)
	c := tb.collected(t)
	require.Equal(t, "paid", c["visa"].status, "collection is not held back by emails")
}

// parsed is an email read back from its source.
type parsed struct {
	messageID, subject, to, text, html string
	attachments                        map[string][]byte
}

func parseEmail(t *testing.T, raw []byte) parsed {
	t.Helper()
	msg, err := netmail.ReadMessage(bytes.NewReader(raw))
	require.NoError(t, err)
	dec := new(mime.WordDecoder)
	subject, err := dec.DecodeHeader(msg.Header.Get("Subject"))
	require.NoError(t, err)
	p := parsed{messageID: msg.Header.Get("Message-Id"), subject: subject, to: msg.Header.Get("To"), attachments: map[string][]byte{}}
	var walk func(ct string, body io.Reader, enc string)
	walk = func(ct string, body io.Reader, enc string) {
		mt, params, err := mime.ParseMediaType(ct)
		require.NoError(t, err)
		if strings.HasPrefix(mt, "multipart/") {
			mr := multipart.NewReader(body, params["boundary"])
			for {
				part, err := mr.NextRawPart()
				if errors.Is(err, io.EOF) {
					return
				}
				require.NoError(t, err)
				data, err := io.ReadAll(part)
				require.NoError(t, err)
				if _, dp, err := mime.ParseMediaType(part.Header.Get("Content-Disposition")); err == nil && dp["filename"] != "" {
					p.attachments[dp["filename"]] = decodePart(t, data, part.Header.Get("Content-Transfer-Encoding"))
					continue
				}
				walk(part.Header.Get("Content-Type"), bytes.NewReader(data), part.Header.Get("Content-Transfer-Encoding"))
			}
		}
		data, err := io.ReadAll(body)
		require.NoError(t, err)
		s := strings.ReplaceAll(string(decodePart(t, data, enc)), "\r\n", "\n")
		switch mt {
		case "text/plain":
			p.text = s
		case "text/html":
			p.html = s
		}
	}
	walk(msg.Header.Get("Content-Type"), msg.Body, msg.Header.Get("Content-Transfer-Encoding"))
	return p
}

func decodePart(t *testing.T, data []byte, enc string) []byte {
	t.Helper()
	switch strings.ToLower(enc) {
	case "base64":
		out, err := io.ReadAll(newBase64(data))
		require.NoError(t, err)
		return out
	case "quoted-printable":
		out, err := io.ReadAll(newQP(data))
		require.NoError(t, err)
		return out
	}
	return data
}

// checkPDF requires a valid PDF: its header, and pdfinfo's reading when
// poppler is installed.
func checkPDF(t *testing.T, name string, b []byte) {
	t.Helper()
	require.True(t, bytes.HasPrefix(b, []byte("%PDF-")), "%s is not a PDF", name)
	if _, err := exec.LookPath("pdfinfo"); err != nil {
		return
	}
	f := filepath.Join(t.TempDir(), "a.pdf")
	require.NoError(t, os.WriteFile(f, b, 0o600))
	out, err := exec.Command("pdfinfo", f).CombinedOutput()
	require.NoError(t, err, "pdfinfo %s: %s", name, out)
}

// The dunning story of SPEC §5 told by email to a French customer whose
// card is declined: the invoice at t0, a failure at t0 and at each daily
// retry naming the next retry and the suspension date t0 + 5 days, the
// warning with the fourth retry's failure (the day before suspension), the
// suspension, then the receipt of the credit that pays, and the
// reactivation. Each arrives once, at a real SMTP server, in French, in
// TEST MODE; the invoice carries its PDF.
func TestEmailsDunningStory(t *testing.T) {
	t.Parallel()
	mp := testutil.StartMailpit(t, 0)
	tb := setup(t)
	fastEmails(tb, &notify.SMTPMailer{Host: "127.0.0.1", Port: mp.SMTPPort})
	tb.loadPayers(t)
	client := tb.startWorker(t)
	tb.run(t, client, "2026-10")
	tb.waitIdle(t)
	b := &dunningBundle{testBundle: tb, client: client}
	require.NoError(t, tb.pool.QueryRow(context.Background(), `SELECT issued_at FROM invoices WHERE account_id = 'declined'`).Scan(&b.t0))
	for d := 1; d <= 5; d++ {
		b.day(t, float64(d))
	}
	status, _ := b.account(t, "declined")
	require.Equal(t, "suspended", status)
	ctx := context.Background()
	require.NoError(t, pgx.BeginFunc(ctx, tb.pool, func(tx pgx.Tx) error {
		cr, err := payments.AddCredit(ctx, tx, payments.NewEntry{AccountID: "declined", Kind: payments.EntryManualCredit,
			Amount: decimal.NewFromInt(20), Reference: "rescue"}, "rescue")
		if err != nil {
			return err
		}
		_, err = jobs.Enqueue(ctx, tx, client, cr.Effects)
		return err
	}))
	tb.waitIdle(t)
	tb.waitEmails(t, 60*time.Second)

	rows := tb.emails(t, "declined")
	var got []string
	for _, m := range rows {
		require.Equal(t, notify.EmailSent, m.State, "%+v", m)
		require.Equal(t, "d@example.test", m.To)
		require.Equal(t, "<"+m.EventID+"."+string(m.Template)+"@mail.example.com>", "<"+m.MessageID+">")
		got = append(got, string(m.Template))
	}
	require.Equal(t, []string{"invoice_issued", "payment_failed", "payment_failed", "payment_failed", "payment_failed",
		"payment_failed", "suspension_warning", "payment_failed", "suspended", "credit_receipt", "reactivated"}, got)

	byID := map[string]testutil.MailpitMessage{}
	for _, m := range mp.Messages(t) {
		_, dup := byID[m.MessageID]
		require.False(t, dup, "%s received twice", m.MessageID)
		byID[m.MessageID] = m
	}
	date := func(k int) string {
		return notify.FormatDate(b.t0.Add(time.Duration(k)*24*time.Hour), billing.LanguageFrench, time.UTC)
	}
	failures := 0
	for _, row := range rows {
		m, ok := byID[row.MessageID]
		require.True(t, ok, "%s not received", row.MessageID)
		e := parseEmail(t, mp.Raw(t, m.ID))
		require.Equal(t, "<"+row.MessageID+">", e.messageID)
		require.True(t, strings.HasPrefix(e.subject, "[TEST MODE] "), e.subject)
		require.True(t, strings.HasPrefix(e.text, "TEST MODE\n"), e.text)
		require.Contains(t, e.html, "TEST MODE")
		require.Contains(t, e.text, "Bonjour D,")
		switch row.Template {
		case billing.EmailInvoiceIssued:
			require.Contains(t, e.subject, "Votre facture "+tb.number(t, "declined")+" pour 2026-10")
			require.Contains(t, e.text, "12,00\u00a0€")
			require.NotContains(t, e.text, "SEPA")
			pdf := e.attachments[tb.number(t, "declined")+".pdf"]
			checkPDF(t, "invoice", pdf)
		case billing.EmailPaymentFailed:
			require.Contains(t, e.text, "votre banque a refusé la carte")
			require.Contains(t, e.text, "votre compte sera suspendu le "+date(5))
			if failures < 5 {
				require.Contains(t, e.text, "Nous réessaierons le "+date(failures+1)+".", "failure %d", failures)
			} else {
				require.Contains(t, e.text, "Aucune nouvelle tentative")
			}
			failures++
		case billing.EmailSuspensionWarning:
			require.Contains(t, e.subject, "Votre compte sera suspendu le "+date(5))
			require.Contains(t, e.text, "une dernière fois le "+date(5))
		case billing.EmailSuspended:
			require.Contains(t, e.subject, "Votre compte est suspendu")
		case billing.EmailCreditReceipt:
			require.Contains(t, e.subject, "20,00\u00a0€ de crédit prépayé")
			require.Contains(t, e.text, "crédit manuel, référence rescue")
		case billing.EmailReactivated:
			require.Contains(t, e.subject, "Votre compte est de nouveau actif")
		}
	}
	require.Equal(t, 6, failures)

	// The SEPA customer's invoice is its pre-notification: amount, debit
	// date (at issue: BILLING_SEPA_DEBIT_DELAY is 0), mandate, creditor.
	sepa := tb.emails(t, "sepa")
	require.NotEmpty(t, sepa)
	e := parseEmail(t, mp.Raw(t, byID[sepa[0].MessageID].ID))
	var issued time.Time
	require.NoError(t, tb.pool.QueryRow(ctx, `SELECT issued_at FROM invoices WHERE account_id = 'sepa'`).Scan(&issued))
	require.Contains(t, e.text, "Pré-notification de prélèvement SEPA : 12,00\u00a0€ sera prélevé sur votre compte le "+
		notify.FormatDate(issued, billing.LanguageFrench, time.UTC))
	require.Contains(t, e.text, "au titre du mandat pm_sepa_debit_success")
	require.Contains(t, e.text, "identifiant créancier FR72ZZZ123456")
}

// The mail server is down when the month is billed: the emails are
// retried, listed with their error, and all sent once it is back, each
// once.
func TestEmailsSMTPDownThenBack(t *testing.T) {
	t.Parallel()
	port := testutil.FreePort(t)
	tb := setup(t)
	fastEmails(tb, &notify.SMTPMailer{Host: "127.0.0.1", Port: port, Timeout: 2 * time.Second})
	tb.loadPayers(t)
	client := tb.startWorker(t)
	tb.run(t, client, "2026-10")
	tb.waitIdle(t)
	require.Eventually(t, func() bool {
		ms := tb.emails(t, "")
		for _, m := range ms {
			if m.State != notify.EmailPending || m.Attempts < 2 || !strings.Contains(m.LastError, "connecting to the SMTP server") {
				return false
			}
		}
		return len(ms) > 0
	}, 60*time.Second, 100*time.Millisecond, "every email retried while the server is down")

	mp := testutil.StartMailpit(t, port)
	tb.waitEmails(t, 60*time.Second)
	ms := tb.emails(t, "")
	ids := map[string]bool{}
	for _, m := range ms {
		require.Equal(t, notify.EmailSent, m.State, "%+v", m)
		ids[m.MessageID] = true
	}
	got := map[string]int{}
	for _, m := range mp.Messages(t) {
		got[m.MessageID]++
	}
	require.Len(t, got, len(ms))
	for id := range ids {
		require.Equal(t, 1, got[id], id)
	}
}

// A worker killed after the server accepted an email and before it was
// recorded leaves the row pending under a lease: once the lease runs out
// it is sent again, with the same Message-ID, and nothing is lost. (The
// kill is staged by putting rows back in that state.)
func TestEmailsResentAfterKillWithSameMessageID(t *testing.T) {
	t.Parallel()
	mp := testutil.StartMailpit(t, 0)
	tb := setup(t)
	fastEmails(tb, &notify.SMTPMailer{Host: "127.0.0.1", Port: mp.SMTPPort})
	tb.loadPayers(t)
	client := tb.startWorker(t)
	tb.run(t, client, "2026-10")
	tb.waitIdle(t)
	tb.waitEmails(t, 60*time.Second)
	ctx := context.Background()
	tag, err := tb.pool.Exec(ctx, `UPDATE emails SET state = 'pending', sent_at = NULL, leased_until = now() - interval '1 second'
		WHERE account_id IN ('visa', 'declined')`)
	require.NoError(t, err)
	require.Positive(t, tag.RowsAffected())
	tb.waitEmails(t, 60*time.Second)

	ms := tb.emails(t, "")
	got := map[string]int{}
	for _, m := range mp.Messages(t) {
		got[m.MessageID]++
	}
	require.Len(t, got, len(ms), "only the outbox's Message-IDs")
	for _, m := range ms {
		require.Equal(t, notify.EmailSent, m.State)
		want := 1
		if m.AccountID == "visa" || m.AccountID == "declined" {
			want = 2
		}
		require.Equal(t, want, got[m.MessageID], "%s %s", m.AccountID, m.Template)
	}
}

func newBase64(b []byte) io.Reader { return base64.NewDecoder(base64.StdEncoding, bytes.NewReader(b)) }

func newQP(b []byte) io.Reader { return quotedprintable.NewReader(bytes.NewReader(b)) }

// BILLING_SEPA_DEBIT_DELAY=3 days: the SEPA invoice is its
// pre-notification announcing the debit 3 days after issue; nothing is
// attempted at issue, the collection job is due then, and dunning's t0 is
// then (no retry on day 1 or 2); a card account is collected at issue as
// before.
func TestSEPADebitDelay(t *testing.T) {
	t.Parallel()
	mp := testutil.StartMailpit(t, 0)
	tb := setup(t)
	fastEmails(tb, &notify.SMTPMailer{Host: "127.0.0.1", Port: mp.SMTPPort})
	tb.cfg.SEPADebitDelay = 3 * 24 * time.Hour
	tb.loadPayers(t)
	client := tb.startWorker(t)
	tb.run(t, client, "2026-10")
	tb.waitIdle(t)
	tb.waitEmails(t, 60*time.Second)
	ctx := context.Background()

	var issued, collectAt time.Time
	require.NoError(t, tb.pool.QueryRow(ctx, `SELECT issued_at, collect_at FROM invoices WHERE account_id = 'sepa'`).Scan(&issued, &collectAt))
	require.Equal(t, 3*24*time.Hour, collectAt.Sub(issued))
	var cardCollectAt *time.Time
	require.NoError(t, tb.pool.QueryRow(ctx, `SELECT collect_at FROM invoices WHERE account_id = 'visa'`).Scan(&cardCollectAt))
	require.Nil(t, cardCollectAt, "a card is charged at issue")
	c := tb.collected(t)
	require.Equal(t, "paid", c["visa"].status)
	require.Equal(t, "open", c["sepa"].status)
	require.Empty(t, c["sepa"].attempts, "no debit before the announced date")
	var scheduled time.Time
	require.NoError(t, tb.pool.QueryRow(ctx, `SELECT scheduled_at FROM river_job WHERE kind = 'collect_invoices' AND state = 'scheduled'
		AND args->'invoices' @> jsonb_build_array(jsonb_build_object('number', $1::text))`, tb.number(t, "sepa")).Scan(&scheduled))
	require.WithinDuration(t, collectAt, scheduled, time.Second)

	b := &dunningBundle{testBundle: tb, client: client, t0: issued}
	for _, d := range []float64{1, 2} {
		rep := b.day(t, d)
		require.NotContains(t, strings.Join(rep.Retries, " "), tb.number(t, "sepa"), "day %v: t0 is the debit", d)
	}
	cands, err := payments.DunningCandidates(ctx, tb.pool, time.Now())
	require.NoError(t, err)
	for _, cand := range cands {
		if cand.AccountID == "sepa" {
			require.True(t, cand.Input.IssuedAt.Equal(collectAt), "t0 %s", cand.Input.IssuedAt)
		}
	}

	sepa := tb.emails(t, "sepa")
	require.Len(t, sepa, 1)
	var raw []byte
	for _, m := range mp.Messages(t) {
		if m.MessageID == sepa[0].MessageID {
			raw = mp.Raw(t, m.ID)
		}
	}
	e := parseEmail(t, raw)
	require.Contains(t, e.text, "sera prélevé sur votre compte le "+notify.FormatDate(collectAt, billing.LanguageFrench, time.UTC))
}
