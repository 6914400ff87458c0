package notify

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/mail"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/shopspring/decimal"

	"github.com/billingengine/engine/billing"
	"github.com/billingengine/engine/internal/platform/pgdb"
)

// EmailState is an outbox row's state (SPEC §12).
type EmailState string

const (
	// EmailPending: not accepted by the server yet; tried at next_attempt_at.
	EmailPending EmailState = "pending"
	// EmailSent: the server accepted it.
	EmailSent EmailState = "sent"
	// EmailFailed: it could not be built (a recipient that is not an
	// address), or the server refused it for EmailRetryWindow.
	EmailFailed EmailState = "failed"
	// EmailUnsent: no BILLING_SMTP_URL when it came due; kept, not sent.
	EmailUnsent EmailState = "unsent"
)

// Valid reports whether s is an email state.
func (s EmailState) Valid() bool {
	return s == EmailPending || s == EmailSent || s == EmailFailed || s == EmailUnsent
}

// EmailRetryWindow is how long an email the server refuses is retried.
const EmailRetryWindow = 72 * time.Hour

var emailDelays = []time.Duration{10 * time.Second, time.Minute, 5 * time.Minute, 30 * time.Minute, time.Hour}

// EmailRetryDelay is the wait after the n-th failed attempt (n >= 1):
// 10 s, 1 min, 5 min, 30 min, then every hour.
func EmailRetryDelay(n int) time.Duration {
	if n < 1 {
		n = 1
	}
	return emailDelays[min(n, len(emailDelays))-1]
}

// OutgoingEmail is an email to queue: a recorded event's key, the
// template it gives and the account it goes to.
type OutgoingEmail struct {
	TxID, Seq int64
	Template  billing.EmailTemplate
	AccountID string
}

// QueueEmails writes, in tx, the outbox rows of emails in one statement
// (pending, due now) and returns how many it wrote. A row that exists
// already for its (event, template) is left alone.
func QueueEmails(ctx context.Context, tx pgx.Tx, emails []OutgoingEmail) (int64, error) {
	if len(emails) == 0 {
		return 0, nil
	}
	txids, seqs := make([]int64, len(emails)), make([]int64, len(emails))
	tpls, accts := make([]string, len(emails)), make([]string, len(emails))
	for i, e := range emails {
		txids[i], seqs[i], tpls[i], accts[i] = e.TxID, e.Seq, string(e.Template), e.AccountID
	}
	tag, err := tx.Exec(ctx, `
		INSERT INTO emails (event_txid, event_seq, template, account_id)
		SELECT * FROM unnest($1::bigint[], $2::bigint[], $3::text[], $4::text[])
		ON CONFLICT DO NOTHING`, txids, seqs, tpls, accts)
	return tag.RowsAffected(), err
}

// Email is an outbox row as `billing emails list` shows it.
type Email struct {
	ID            int64                 `json:"id"`
	EventID       string                `json:"event_id"`
	Template      billing.EmailTemplate `json:"template"`
	AccountID     string                `json:"account_id"`
	State         EmailState            `json:"state"`
	Attempts      int                   `json:"attempts"`
	NextAttemptAt *time.Time            `json:"next_attempt_at"`
	MessageID     string                `json:"message_id"`
	To            string                `json:"to"`
	Subject       string                `json:"subject"`
	LastError     string                `json:"last_error"`
	SentAt        *time.Time            `json:"sent_at"`
	CreatedAt     time.Time             `json:"created_at"`
}

// EmailParams selects emails; zero fields don't filter.
type EmailParams struct {
	AccountID string
	State     EmailState
	Limit     int
}

// Emails lists outbox rows, oldest first (the order they were written).
func Emails(ctx context.Context, q pgdb.Executor, p EmailParams) ([]Email, error) {
	if p.State != "" && !p.State.Valid() {
		return nil, &InputError{"state", fmt.Sprintf("%q is not pending, sent, failed or unsent", p.State)}
	}
	limit := p.Limit
	if limit <= 0 {
		limit = 10000
	}
	rows, err := q.Query(ctx, `
		SELECT m.id, e.id, m.template, m.account_id, m.state, m.attempts,
		       CASE WHEN m.state = 'pending' THEN m.next_attempt_at END, m.message_id, m.recipient, m.subject,
		       m.last_error, m.sent_at, m.created_at
		FROM emails m JOIN events e ON (e.txid, e.seq) = (m.event_txid, m.event_seq)
		WHERE ($1 = '' OR m.account_id = $1) AND ($2 = '' OR m.state = $2)
		ORDER BY m.id LIMIT $3`, p.AccountID, string(p.State), limit)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (Email, error) {
		var m Email
		err := r.Scan(&m.ID, &m.EventID, &m.Template, &m.AccountID, &m.State, &m.Attempts, &m.NextAttemptAt, &m.MessageID,
			&m.To, &m.Subject, &m.LastError, &m.SentAt, &m.CreatedAt)
		m.CreatedAt = m.CreatedAt.UTC()
		for _, t := range []*time.Time{m.NextAttemptAt, m.SentAt} {
			if t != nil {
				*t = t.UTC()
			}
		}
		return m, err
	})
}

// EmailsDue reports whether some email is due and not being sent: the
// sweep then gives the sender a job.
func EmailsDue(ctx context.Context, q pgdb.Executor) (bool, error) {
	var due bool
	err := q.QueryRow(ctx, `
		SELECT EXISTS (SELECT 1 FROM emails WHERE state = 'pending' AND next_attempt_at <= now()
		               AND (leased_until IS NULL OR leased_until < now()))`).Scan(&due)
	return due, err
}

// EmailSender sends the outbox's due emails.
type EmailSender struct {
	// Mailer hands messages to the server; nil (no BILLING_SMTP_URL)
	// records every due email unsent.
	Mailer Mailer
	// From is BILLING_MAIL_FROM; the Message-IDs are at its domain.
	From string
	// Seller signs the emails; TestMode says TEST MODE in each (sandbox).
	Seller   string
	TestMode bool
	// PortalURL is BILLING_PORTAL_URL ("" omits the portal sentence);
	// CreditorID BILLING_SEPA_CREDITOR_ID.
	PortalURL, CreditorID string
	// SEPADebitDelay is when a SEPA debit is collected after the invoice
	// that pre-notifies it (BILLING_SEPA_DEBIT_DELAY).
	SEPADebitDelay time.Duration
	Location       *time.Location
	// Attach returns an invoice's attachments: its PDF (rendered if it is
	// not yet), for a business buyer its Factur-X.
	Attach func(ctx context.Context, number string) ([]Attachment, error)
	// Prefetch, when set, returns the attachments of a batch's invoices
	// that are ready, keyed by number, in one read; those it leaves out
	// (not rendered yet) are Attach's.
	Prefetch func(ctx context.Context, numbers []string) (map[string][]Attachment, error)
	Log      *slog.Logger
	// Batch is how many emails are claimed and sent on one connection (20
	// when zero); Budget bounds one Send (10 s when zero).
	Batch  int
	Budget time.Duration
	// Parallel is how many batches are sent at once, each on its own
	// connection (4 when zero). Sending one email is mostly waiting (the
	// PDF read, the SMTP conversation, the commit of its row), so one
	// sender at a time handed over about 60 emails/s on a loaded 2-core
	// machine while using a tenth of a core; the outbox's one job still
	// bounds the load: Parallel connections and database sessions, never
	// more, however many emails wait.
	Parallel int
	// Lease is how long a claimed batch is held (2 minutes when zero): a
	// worker killed while sending leaves it to be taken again once it runs
	// out. It should outlast a batch's sending.
	Lease time.Duration
	// RetryDelay replaces EmailRetryDelay (tests); Now is the clock.
	RetryDelay func(n int) time.Duration
	Now        func() time.Time
}

// EmailStats is what one Send did.
type EmailStats struct {
	Sent, Retried, Failed, Unsent int
	// More: due emails were left for the next call.
	More bool
}

// defaultLease is how long a claimed batch is held when Lease is zero.
const defaultLease = 2 * time.Minute

// claimed is an outbox row claimed for sending, with what its email shows.
type claimed struct {
	id                  int64
	eventID             string
	template            billing.EmailTemplate
	accountID           string
	attempts            int
	giveUpAt            time.Time
	data                []byte
	email, name, lang   string
	pmType, pmReference *string
}

func claimEmails(ctx context.Context, db pgdb.DB, n int, lease time.Duration) (cs []claimed, err error) {
	err = inIndexOrder(ctx, db, func(q pgx.Tx) error {
		cs, err = claimEmailsTx(ctx, q, n, lease)
		return err
	})
	return cs, err
}

func claimEmailsTx(ctx context.Context, q pgx.Tx, n int, lease time.Duration) ([]claimed, error) {
	rows, err := q.Query(ctx, `
		WITH c AS (
			SELECT id FROM emails
			WHERE state = 'pending' AND next_attempt_at <= now() AND (leased_until IS NULL OR leased_until < now())
			ORDER BY id LIMIT $1 FOR UPDATE SKIP LOCKED),
		u AS (
			UPDATE emails m SET leased_until = now() + $2::interval FROM c WHERE m.id = c.id
			RETURNING m.id, m.event_txid, m.event_seq, m.template, m.account_id, m.attempts, m.give_up_at)
		SELECT u.id, e.id, u.template, u.account_id, u.attempts, u.give_up_at, e.data, a.email, a.name, a.language,
		       pm.type, coalesce(pm.mandate_id, pm.external_id)
		FROM u JOIN events e ON (e.txid, e.seq) = (u.event_txid, u.event_seq)
		JOIN accounts a ON a.id = u.account_id
		LEFT JOIN payment_methods pm ON pm.account_id = u.account_id AND pm.replaced_at IS NULL
		ORDER BY u.id`, n, lease)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (claimed, error) {
		var c claimed
		err := r.Scan(&c.id, &c.eventID, &c.template, &c.accountID, &c.attempts, &c.giveUpAt, &c.data, &c.email, &c.name,
			&c.lang, &c.pmType, &c.pmReference)
		return c, err
	})
}

// eventFields are the fields of an event's data the emails show.
type eventFields struct {
	Number       string     `json:"number"`
	Period       string     `json:"period"`
	Total        string     `json:"total"`
	AmountDue    string     `json:"amount_due"`
	IssuedAt     time.Time  `json:"issued_at"`
	Code         string     `json:"code"`
	NextRetryAt  *time.Time `json:"next_retry_at"`
	SuspensionAt time.Time  `json:"suspension_at"`
	Amount       string     `json:"amount"`
	Kind         string     `json:"kind"`
	Reference    string     `json:"reference"`
}

func amount(s string) decimal.Decimal {
	d, err := decimal.NewFromString(s)
	if err != nil {
		return decimal.Zero
	}
	return d
}

// fields reads what a claimed row's email shows from its event.
func (c *claimed) fields() (eventFields, error) {
	var f eventFields
	if err := json.Unmarshal(c.data, &f); err != nil {
		return f, &permanentError{fmt.Errorf("event %s: %w", c.eventID, err)}
	}
	return f, nil
}

// attachmentsOf returns the attachments of a batch's invoices that
// Prefetch found, nil without Prefetch or when it failed (each email then
// asks Attach).
func (s *EmailSender) attachmentsOf(ctx context.Context, cs []claimed, fs []eventFields) map[string][]Attachment {
	if s.Prefetch == nil || s.Attach == nil {
		return nil
	}
	var numbers []string
	for i, c := range cs {
		if c.template == billing.EmailInvoiceIssued && fs[i].Number != "" {
			numbers = append(numbers, fs[i].Number)
		}
	}
	if len(numbers) == 0 {
		return nil
	}
	got, err := s.Prefetch(ctx, numbers)
	if err != nil {
		s.log().WarnContext(ctx, "reading a batch's attachments failed: reading them one by one", "error", err)
		return nil
	}
	return got
}

// input builds the email of a claimed row from its event's fields; its
// invoice's attachments are taken from have when there, from Attach
// otherwise.
func (s *EmailSender) input(ctx context.Context, c claimed, f eventFields, have map[string][]Attachment) (*EmailInput, error) {
	in := &EmailInput{Template: c.template, Language: billing.Language(c.lang), Name: c.name, To: c.email,
		Seller: s.Seller, TestMode: s.TestMode, PortalURL: s.PortalURL, Location: s.Location,
		InvoiceNumber: f.Number, Period: f.Period, Total: amount(f.Total), AmountDue: amount(f.AmountDue),
		DeclineCode: f.Code, NextRetry: f.NextRetryAt, Suspension: f.SuspensionAt,
		CreditAmount: amount(f.Amount), CreditKind: f.Kind, CreditReference: f.Reference}
	if c.template == billing.EmailInvoiceIssued {
		if c.pmType != nil && *c.pmType == "sepa_debit" && in.AmountDue.IsPositive() {
			in.SEPA = &SEPANotice{DebitDate: f.IssuedAt.Add(s.SEPADebitDelay), CreditorID: s.CreditorID}
			if c.pmReference != nil {
				in.SEPA.MandateReference = *c.pmReference
			}
		}
		if att, ok := have[f.Number]; ok {
			in.Attachments = att
		} else if s.Attach != nil && f.Number != "" {
			att, err := s.Attach(ctx, f.Number)
			if err != nil {
				return nil, fmt.Errorf("invoice %s: %w", f.Number, err)
			}
			in.Attachments = att
		}
	}
	return in, nil
}

// FromDomain is the domain of a From address ("localhost" without one).
func FromDomain(from string) string {
	if a, err := mail.ParseAddress(from); err == nil {
		if _, d, ok := strings.Cut(a.Address, "@"); ok && d != "" {
			return d
		}
	}
	return "localhost"
}

// Send sends the due emails, oldest first, a batch at a time on one
// connection, Parallel batches at once, until none is due or Budget is
// spent. Each email is marked sent as soon as the server accepted it,
// before the next of its batch is sent; a process killed between the two
// sends it again, with the same Message-ID, once its lease runs out: at
// least once. Without a Mailer every due email is recorded unsent. q is
// used by the Parallel senders at once: a pool, not a transaction.
func (s *EmailSender) Send(ctx context.Context, q pgdb.DB) (EmailStats, error) {
	var st EmailStats
	if s.Mailer == nil {
		tag, err := q.Exec(ctx, `
			UPDATE emails SET state = 'unsent', last_error = 'BILLING_SMTP_URL is not set', leased_until = NULL
			WHERE state = 'pending' AND next_attempt_at <= now()`)
		st.Unsent = int(tag.RowsAffected())
		return st, err
	}
	batch, budget := s.Batch, s.Budget
	if batch <= 0 {
		batch = 20
	}
	if budget <= 0 {
		budget = 10 * time.Second
	}
	lease := s.Lease
	if lease <= 0 {
		lease = defaultLease
	}
	deadline := time.Now().Add(budget)
	parallel := s.Parallel
	if parallel <= 0 {
		parallel = 4
	}
	var mu sync.Mutex
	var firstErr error
	var wg sync.WaitGroup
	for range parallel {
		wg.Add(1)
		go func() {
			defer wg.Done()
			one, err := s.sendBatches(ctx, q, batch, lease, deadline)
			mu.Lock()
			defer mu.Unlock()
			st.Sent += one.Sent
			st.Retried += one.Retried
			st.Failed += one.Failed
			st.Unsent += one.Unsent
			st.More = st.More || one.More
			if err != nil && firstErr == nil {
				firstErr = err
			}
		}()
	}
	wg.Wait()
	return st, firstErr
}

// sendBatches is one of Send's parallel senders: it claims and sends a
// batch at a time until none is due or the deadline passed.
func (s *EmailSender) sendBatches(ctx context.Context, q pgdb.DB, batch int, lease time.Duration, deadline time.Time) (EmailStats, error) {
	var st EmailStats
	domain := FromDomain(s.From)
	for {
		if time.Now().After(deadline) || ctx.Err() != nil {
			st.More = true
			return st, nil
		}
		cs, err := claimEmails(ctx, q, batch, lease)
		if err != nil || len(cs) == 0 {
			return st, err
		}
		fs := make([]eventFields, len(cs))
		ferrs := make([]error, len(cs))
		for i := range cs {
			fs[i], ferrs[i] = cs[i].fields()
		}
		have := s.attachmentsOf(ctx, cs, fs)
		var out []Outgoing
		var outRows []claimed
		var subjects []string
		for i, c := range cs {
			err := ferrs[i]
			var in *EmailInput
			if err == nil {
				in, err = s.input(ctx, c, fs[i], have)
			}
			var msg *Outgoing
			var subject string
			if err == nil {
				id := MessageID(c.eventID, c.template, domain)
				var r *Rendered
				if r, err = Render(in); err != nil {
					err = &permanentError{err}
				} else {
					subject = r.Subject
					m, berr := buildMessage(in, r, s.From, id, s.now())
					if berr != nil {
						err = &permanentError{berr}
					}
					msg = &Outgoing{Msg: m, MessageID: id, Name: fmt.Sprintf("%s.%s.%s.eml", safeName(c.accountID), c.eventID, c.template)}
				}
			}
			if s.cutShort(ctx, err, c) {
				// The job's own time ran out (rendering its PDF, say): the
				// email was not tried, so it is released for the next job
				// rather than counted as an attempt and retried later. Past
				// its give-up time it fails as any other error would, so an
				// email no job can prepare in time does not loop for ever.
				if rerr := s.release(ctx, q, c); rerr != nil {
					return st, rerr
				}
				st.More = true
				continue
			}
			if err != nil {
				// A permanent error (the recipient is not an address) fails
				// it at once; another (its PDF could not be rendered yet) is
				// retried like a refusal.
				state, rerr := s.recordOutcome(ctx, q, c, "", "", err)
				if rerr != nil {
					return st, rerr
				}
				if state == EmailFailed {
					st.Failed++
				} else {
					st.Retried++
				}
				continue
			}
			out = append(out, *msg)
			outRows = append(outRows, c)
			subjects = append(subjects, subject)
		}
		if len(out) == 0 {
			continue
		}
		var recordErr error
		s.Mailer.Send(ctx, out, func(i int, sendErr error) {
			if recordErr != nil {
				return
			}
			if s.cutShort(ctx, sendErr, outRows[i]) {
				// Not handed over: the job's time ran out before the dial.
				if recordErr = s.release(ctx, q, outRows[i]); recordErr == nil {
					st.More = true
				}
				return
			}
			state, err := s.recordOutcome(ctx, q, outRows[i], out[i].MessageID, subjects[i], sendErr)
			if err != nil {
				recordErr = err
				return
			}
			switch state {
			case EmailSent:
				st.Sent++
			case EmailPending:
				st.Retried++
			case EmailFailed:
				st.Failed++
			case EmailUnsent:
				st.Unsent++
			}
		})
		if recordErr != nil {
			return st, recordErr
		}
	}
}

type permanentError struct{ error }

func (s *EmailSender) recordOutcome(ctx context.Context, q pgdb.Executor, c claimed, messageID, subject string, sendErr error) (EmailState, error) {
	// What the server said is recorded even if the job's time ran out
	// meanwhile: otherwise it is sent again.
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if sendErr == nil {
		_, err := q.Exec(rctx, `
			UPDATE emails SET state = 'sent', attempts = attempts + 1, sent_at = $2, message_id = $3, recipient = $4,
			    subject = $5, last_error = '', leased_until = NULL
			WHERE id = $1 AND state = 'pending'`, c.id, s.now(), messageID, c.email, subject)
		return EmailSent, err
	}
	return s.recordErr(rctx, q, c, messageID, subject, sendErr)
}

// cutShort says err is the job's own time running out before email c was
// tried, while c may still be given to the next job (before its give-up
// time).
func (s *EmailSender) cutShort(ctx context.Context, err error, c claimed) bool {
	return err != nil && ctx.Err() != nil && errors.Is(err, ctx.Err()) && s.now().Before(c.giveUpAt)
}

// release gives a claimed email back untried: its lease ends now, its
// attempts and next attempt stay as they were.
func (s *EmailSender) release(ctx context.Context, q pgdb.Executor, c claimed) error {
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	_, err := q.Exec(rctx, `UPDATE emails SET leased_until = NULL WHERE id = $1 AND state = 'pending'`, c.id)
	return err
}

func (s *EmailSender) recordErr(ctx context.Context, q pgdb.Executor, c claimed, messageID, subject string, sendErr error) (EmailState, error) {
	delay := EmailRetryDelay
	if s.RetryDelay != nil {
		delay = s.RetryDelay
	}
	next := s.now().Add(delay(c.attempts + 1))
	state := EmailPending
	var perm *permanentError
	if next.After(c.giveUpAt) || errors.As(sendErr, &perm) {
		state = EmailFailed
	}
	msg := sendErr.Error()
	if len(msg) > 500 {
		msg = msg[:500]
	}
	_, err := q.Exec(ctx, `
		UPDATE emails SET state = $2, attempts = attempts + 1, next_attempt_at = $3, message_id = $4, recipient = $5,
		    subject = $6, last_error = $7, leased_until = NULL
		WHERE id = $1 AND state = 'pending'`, c.id, string(state), next, messageID, c.email, subject, msg)
	if state == EmailFailed {
		s.log().WarnContext(ctx, "email failed", "event_id", c.eventID, "template", c.template, "error", sendErr)
	}
	return state, err
}

func safeName(s string) string {
	return strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' {
			return r
		}
		return '_'
	}, s)
}

func (s *EmailSender) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

func (s *EmailSender) log() *slog.Logger {
	if s.Log != nil {
		return s.Log
	}
	return slog.Default()
}
