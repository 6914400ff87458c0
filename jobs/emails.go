package jobs

import (
	"context"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"

	"github.com/billingengine/engine/internal/notify"
	"github.com/billingengine/engine/invoices"
)

// QueueEmails is where customer emails are sent: a mail server that is
// slow or down holds this queue's one worker, nothing else.
const QueueEmails = "emails"

// MailConfig is how customer emails are sent (SPEC §12).
type MailConfig struct {
	// Mailer hands messages to the server (BILLING_SMTP_URL); nil records
	// every email unsent.
	Mailer notify.Mailer
	// From is BILLING_MAIL_FROM; Seller signs the emails.
	From, Seller string
	// TestMode: sandbox mode, every email says TEST MODE.
	TestMode bool
	// PortalURL is BILLING_PORTAL_URL, CreditorID BILLING_SEPA_CREDITOR_ID.
	PortalURL, CreditorID string
	// SweepInterval is how often due emails get a job (retries, a job lost
	// to a killed process): 5 s when zero.
	SweepInterval time.Duration
}

// SendEmailsArgs sends the outbox's due emails (SPEC §12). Internal. One
// is live at a time (unique while available, scheduled or running):
// Enqueue inserts one per transaction that queued emails, and those of a
// run's chunks fold into the one waiting or running; rows committed after
// a running job's last claim are the sweep's.
type SendEmailsArgs struct{}

func (SendEmailsArgs) Kind() string { return "send_emails" }

func (SendEmailsArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{Queue: QueueEmails, MaxAttempts: 25, UniqueOpts: river.UniqueOpts{ByArgs: true,
		ByState: []rivertype.JobState{rivertype.JobStateAvailable, rivertype.JobStatePending, rivertype.JobStateRunning,
			rivertype.JobStateScheduled, rivertype.JobStateRetryable}}}
}

// SweepEmailsArgs gives the sender a job when an email is due that no job
// is sending (a retry came due, a worker was killed). Periodic. Internal.
type SweepEmailsArgs struct{}

func (SweepEmailsArgs) Kind() string { return "sweep_emails" }

func (SweepEmailsArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{Queue: QueueEmails, MaxAttempts: 3, UniqueOpts: river.UniqueOpts{ByArgs: true,
		ByState: []rivertype.JobState{rivertype.JobStateAvailable, rivertype.JobStatePending, rivertype.JobStateRunning,
			rivertype.JobStateScheduled}}}
}

// queueEmails writes the emails of events just recorded, in one
// statement, and one sender job when it wrote any and none is live.
//
// The live job is looked for first, without a lock: River's unique insert
// of a job that exists already updates that job's row (ON CONFLICT DO
// UPDATE), which stays locked until this transaction commits, so that
// every transaction queueing emails (each finalization chunk, each
// collection) waited for the one before it to commit. Seeing the live job
// and not inserting is what the unique insert would have done (a no-op);
// when that job has claimed its rows before this transaction commits, the
// rows are the sweep's, as they are for a running job's (SendEmailsArgs).
func queueEmails(ctx context.Context, tx pgx.Tx, client *Client, emails []notify.OutgoingEmail) error {
	n, err := notify.QueueEmails(ctx, tx, emails)
	if err != nil || n == 0 {
		return err
	}
	var live bool
	if err := tx.QueryRow(ctx, `
		SELECT EXISTS (SELECT 1 FROM river_job WHERE kind = $1
		               AND state IN ('available', 'pending', 'running', 'scheduled', 'retryable'))`,
		SendEmailsArgs{}.Kind()).Scan(&live); err != nil || live {
		return err
	}
	_, err = client.InsertTx(ctx, tx, SendEmailsArgs{}, nil)
	return err
}

type sendEmailsWorker struct {
	river.WorkerDefaults[SendEmailsArgs]
	d *deps
}

func (w *sendEmailsWorker) sender() *notify.EmailSender {
	cfg := w.d.cfg
	m := cfg.Mail
	return &notify.EmailSender{Mailer: m.Mailer, From: m.From, Seller: m.Seller, TestMode: m.TestMode,
		PortalURL: m.PortalURL, CreditorID: m.CreditorID, SEPADebitDelay: cfg.SEPADebitDelay, Location: cfg.Location,
		Log: cfg.Logger, RetryDelay: cfg.EmailRetryDelay, Now: cfg.Now,
		Budget: max(cfg.JobTimeout-15*time.Second, cfg.JobTimeout/2),
		// As long as River waits before retrying a job left running by a
		// killed worker, and a little more: a batch of a job that ran to its
		// timeout is not taken while that job may still be sending it.
		Lease: cfg.RescueAfter + 15*time.Second,
		Attach: func(ctx context.Context, number string) ([]notify.Attachment, error) {
			pdf, err := cfg.Renderer.EnsurePDF(ctx, w.d.pool, number)
			if err != nil {
				return nil, err
			}
			return pdfAttachment(number, pdf), nil
		},
		Prefetch: func(ctx context.Context, numbers []string) (map[string][]notify.Attachment, error) {
			pdfs, err := invoices.LatestPDFFiles(ctx, w.d.pool, numbers)
			if err != nil {
				return nil, err
			}
			out := make(map[string][]notify.Attachment, len(pdfs))
			for _, n := range numbers {
				if p, ok := pdfs[invoices.NormalizeNumber(n)]; ok {
					out[n] = pdfAttachment(n, p)
				}
			}
			return out, nil
		}}
}

// pdfAttachment is what an invoice's email attaches. A business buyer's
// PDF is its Factur-X (PDF/A-3b with factur-x.xml embedded): one
// attachment says it all.
func pdfAttachment(number string, pdf *invoices.PDF) []notify.Attachment {
	return []notify.Attachment{{Name: number + ".pdf", ContentType: "application/pdf", Data: pdf.Bytes}}
}

func (w *sendEmailsWorker) Work(ctx context.Context, job *river.Job[SendEmailsArgs]) error {
	st, err := w.sender().Send(ctx, w.d.pool)
	if err != nil && !errors.Is(err, invoices.ErrNoPDF) {
		return err
	}
	if st.Sent+st.Retried+st.Failed+st.Unsent > 0 {
		w.d.cfg.Logger.InfoContext(ctx, "emails", "sent", st.Sent, "retried", st.Retried, "failed", st.Failed, "unsent", st.Unsent)
	}
	if st.More {
		return river.JobSnooze(time.Millisecond)
	}
	return nil
}

type sweepEmailsWorker struct {
	river.WorkerDefaults[SweepEmailsArgs]
	d *deps
}

func (w *sweepEmailsWorker) Work(ctx context.Context, job *river.Job[SweepEmailsArgs]) error {
	due, err := notify.EmailsDue(ctx, w.d.pool)
	if err != nil || !due {
		return err
	}
	_, err = river.ClientFromContext[pgx.Tx](ctx).Insert(ctx, SendEmailsArgs{}, nil)
	return err
}

// emailPeriodics is the sweep, inserted only when some email is due
// without a job, so that an idle engine runs no job every few seconds.
func emailPeriodics(d *deps) []*river.PeriodicJob {
	interval := d.cfg.Mail.SweepInterval
	if interval <= 0 {
		interval = 5 * time.Second
	}
	return []*river.PeriodicJob{
		river.NewPeriodicJob(river.PeriodicInterval(interval), func() (river.JobArgs, *river.InsertOpts) {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			due, err := notify.EmailsDue(ctx, d.pool)
			if err == nil && !due {
				return nil, nil
			}
			return SweepEmailsArgs{}, nil
		}, &river.PeriodicJobOpts{ID: "sweep_emails", RunOnStart: true}),
	}
}
