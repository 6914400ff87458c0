package jobs

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river"

	"github.com/billingengine/engine/billing"
	"github.com/billingengine/engine/internal/accounts"
	"github.com/billingengine/engine/internal/notify"
	"github.com/billingengine/engine/internal/platform/metrics"
	"github.com/billingengine/engine/internal/platform/pgdb"
	"github.com/billingengine/engine/payments"
)

// DefaultDunningSchedule runs the dunning pass every day at 06:00.
const DefaultDunningSchedule = "0 6 * * *"

// DunningPassArgs runs one dunning pass (SPEC §5): the retries that are due
// and the suspensions that are due. Day makes the scheduled pass unique per
// day; Now, honoured only with a simulated processor (the sandbox, a
// payments.Settler), is the time the pass and the retries it triggers see.
type DunningPassArgs struct {
	Day string     `json:"day"`
	Now *time.Time `json:"now,omitempty"`
}

func (DunningPassArgs) Kind() string { return "dunning_pass" }

func (DunningPassArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{Queue: QueuePayments, MaxAttempts: 10, UniqueOpts: river.UniqueOpts{ByArgs: true}}
}

// AccountWebhookArgs delivers an account's suspension or reactivation to
// SUSPENSION_WEBHOOK_URL, retried until the receiver accepts it.
type AccountWebhookArgs struct {
	ID              string    `json:"id"`
	Event           string    `json:"event"` // account.suspended, account.reactivated
	AccountID       string    `json:"account_id"`
	At              time.Time `json:"at"`
	OverdueInvoices []string  `json:"overdue_invoices,omitempty"`
}

func (AccountWebhookArgs) Kind() string { return "account_webhook" }

func (AccountWebhookArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{Queue: QueueDefault, MaxAttempts: 25}
}

// DunningReport is what a pass did.
type DunningReport struct {
	Now         time.Time `json:"now"`
	Retries     []string  `json:"retries"`
	Overdue     []string  `json:"overdue"`
	Suspended   []string  `json:"suspended"`
	Reactivated []string  `json:"reactivated"`
}

// RunDunningPass makes one pass at now (SPEC §5). First, in one
// transaction, over every open invoice that isn't overdue yet, read
// without locks: it enqueues the retries that are due (one per slot,
// however many passes run: a second pass the same day does nothing new; a
// retry of an invoice paid meanwhile charges nothing). That read only
// names the accounts that may have an invoice overdue now; it decides no
// suspension, since a payment may commit right after it. Each of those
// accounts, and each whose standing disagrees with its invoices (suspended
// with nothing overdue, as an earlier version of this pass left paid
// accounts; active with an overdue open invoice), is then decided again,
// behind its invoices' and its own locks, from what it owes at that moment
// (decideStandings, a hundred accounts a transaction). A pass killed
// anywhere is done again by its job: every step is idempotent. simulated
// passes now on to the retries.
func RunDunningPass(ctx context.Context, db pgdb.DB, client *Client, now time.Time, simulated bool) (*DunningReport, error) {
	rep := &DunningReport{Now: now, Retries: []string{}, Overdue: []string{}, Suspended: []string{}, Reactivated: []string{}}
	var review []string
	err := pgx.BeginFunc(ctx, db, func(tx pgx.Tx) error {
		cands, err := payments.DunningCandidates(ctx, tx, now)
		if err != nil {
			return err
		}
		var retries []river.InsertManyParams
		seen := map[string]bool{}
		for _, c := range cands {
			d := billing.DecideDunning(c.Input)
			switch {
			case d.RetrySlot > 0:
				args := CollectInvoiceArgs{InvoiceNumber: c.InvoiceNumber, DunningSlot: d.RetrySlot}
				if simulated {
					t := now
					args.Now = &t
				}
				retries = append(retries, river.InsertManyParams{Args: args})
				rep.Retries = append(rep.Retries, fmt.Sprintf("%s#%d", c.InvoiceNumber, d.RetrySlot))
			case d.Overdue && !seen[c.AccountID]:
				seen[c.AccountID] = true
				review = append(review, c.AccountID)
			}
		}
		if len(retries) > 0 {
			if _, err := client.InsertManyTx(ctx, tx, retries); err != nil {
				return err
			}
		}
		misfits, err := accounts.StandingToReview(ctx, tx)
		if err != nil {
			return err
		}
		for _, acc := range misfits {
			if !seen[acc] {
				seen[acc] = true
				review = append(review, acc)
			}
		}
		return nil
	})
	if err != nil {
		return rep, err
	}
	slices.Sort(review)
	for len(review) > 0 {
		n := min(len(review), standingChunk)
		decided, err := decideStandings(ctx, db, client, review[:n], now)
		if err != nil {
			return rep, err
		}
		rep.Overdue = append(rep.Overdue, decided.overdue...)
		rep.Suspended = append(rep.Suspended, decided.suspended...)
		rep.Reactivated = append(rep.Reactivated, decided.reactivated...)
		review = review[n:]
	}
	slices.Sort(rep.Overdue)
	return rep, nil
}

// standingChunk bounds the accounts whose standings one transaction
// decides: a commit per account would make a pass over tens of thousands
// of overdue accounts outlast its job's timeout, and a larger chunk would
// hold more payments behind its locks for longer.
const standingChunk = 100

// standings is what decideStandings did.
type standings struct {
	overdue, suspended, reactivated []string
}

// decideStandings decides the accounts' standings at now in one
// transaction, with their jobs and events: behind accounts.LockStandings
// (their unpaid invoices, then the accounts, the order payment paths lock
// in) it reads their candidates again, marks overdue those whose retries
// are exhausted, and then suspends each account that has an overdue
// invoice unpaid and reactivates each suspended one that has none left. A
// payment racing with it has either committed, and is seen here, or
// waits, and then sees the suspension and undoes it (afterPayments).
// Postgres may break a deadlock with a path that locks accounts in another
// order (an outcome batch, a void): the chunk is then simply decided again.
func decideStandings(ctx context.Context, db pgdb.DB, client *Client, accountIDs []string, now time.Time) (s standings, err error) {
	for try := 1; ; try++ {
		s = standings{}
		err = pgx.BeginFunc(ctx, db, func(tx pgx.Tx) error {
			status, err := accounts.LockStandings(ctx, tx, accountIDs)
			if err != nil {
				return err
			}
			cands, err := payments.DunningCandidatesOf(ctx, tx, accountIDs, now)
			if err != nil {
				return err
			}
			overdue := map[string][]int64{}
			for _, c := range cands {
				if billing.DecideDunning(c.Input).Overdue {
					overdue[c.AccountID] = append(overdue[c.AccountID], c.InvoiceID)
					s.overdue = append(s.overdue, c.InvoiceNumber)
				}
			}
			for _, acc := range accountIDs {
				switch status[acc] {
				case "suspended":
					if err := markOverdue(ctx, tx, client, overdue[acc], now); err != nil {
						return err
					}
					back, err := reactivate(ctx, tx, client, acc, now)
					if err != nil {
						return err
					}
					if back {
						s.reactivated = append(s.reactivated, acc)
					}
				case "active":
					suspended, err := becameOverdue(ctx, tx, client, acc, overdue[acc], now)
					if err != nil {
						return err
					}
					if suspended {
						s.suspended = append(s.suspended, acc)
					}
				}
			}
			return nil
		})
		if try < 3 && pgdb.Retryable(err) {
			continue
		}
		if err != nil {
			err = fmt.Errorf("deciding the standing of %d accounts from %s: %w", len(accountIDs), accountIDs[0], err)
		}
		return s, err
	}
}

// overdueAfterDeclines marks overdue those of the declined or failed
// attempts' invoices that the dunning rules say are (the last retry failed),
// in the attempts' order. Their facts are read in one statement: a first
// collection declines hundreds of invoices a batch, and each becoming
// overdue touches only its own invoice and account.
func overdueAfterDeclines(ctx context.Context, tx pgx.Tx, client *Client, attempts []*payments.Attempt, now time.Time) error {
	if len(attempts) == 0 {
		return nil
	}
	ids := make([]int64, len(attempts))
	for i, a := range attempts {
		ids[i] = a.InvoiceID
	}
	cands, err := payments.DunningCandidatesByID(ctx, tx, ids, now)
	if err != nil {
		return err
	}
	for _, a := range attempts {
		if c := cands[a.InvoiceID]; c != nil && billing.DecideDunning(c.Input).Overdue {
			if _, err := becameOverdue(ctx, tx, client, a.AccountID, []int64{a.InvoiceID}, now); err != nil {
				return err
			}
		}
	}
	return nil
}

// becameOverdue marks invoices overdue (the caller holds their locks and
// found them overdue) and suspends their account if it has an overdue
// invoice unpaid, with its webhook listing the overdue invoices, in tx.
func becameOverdue(ctx context.Context, tx pgx.Tx, client *Client, accountID string, invoiceIDs []int64, now time.Time) (bool, error) {
	if err := markOverdue(ctx, tx, client, invoiceIDs, now); err != nil {
		return false, err
	}
	overdue, suspended, err := accounts.Suspend(ctx, tx, accountID, now)
	if err != nil || !suspended {
		return false, err
	}
	metrics.Suspensions.Inc()
	if _, err := Enqueue(ctx, tx, client, billing.Effects{At: now, Events: []billing.Event{{Type: billing.EventAccountSuspended,
		AccountID: accountID, At: now, Data: map[string]any{"overdue_invoices": overdue}}}}); err != nil {
		return false, err
	}
	_, err = client.InsertTx(ctx, tx, AccountWebhookArgs{ID: webhookID("suspended", accountID, now), Event: "account.suspended",
		AccountID: accountID, At: now, OverdueInvoices: overdue}, nil)
	return true, err
}

// markOverdue marks invoices overdue, with their invoice.overdue events.
func markOverdue(ctx context.Context, tx pgx.Tx, client *Client, invoiceIDs []int64, now time.Time) error {
	e, err := payments.MarkOverdue(ctx, tx, invoiceIDs, now)
	if err != nil {
		return err
	}
	_, err = Enqueue(ctx, tx, client, e)
	return err
}

func webhookID(event, account string, at time.Time) string {
	h := sha256.Sum256([]byte(event + "\x00" + account + "\x00" + at.UTC().Format(time.RFC3339Nano)))
	return "evt_" + hex.EncodeToString(h[:12])
}

// AfterOutcome updates an account's standing after a collection outcome,
// in the transaction that recorded it: a payment may clear the last overdue
// invoice (reactivation), a decline or failure may exhaust an invoice's
// retries (suspension). It also asks for the PDF to show the new status.
//
// It first applies what recording the outcome implied (rec.Effects, from
// payments.Settle or RecordCharge: its timeline events, the collections a
// late refund triggers), so that they precede what follows here.
func AfterOutcome(ctx context.Context, tx pgx.Tx, client *Client, rec *payments.Recorded, now time.Time) error {
	if rec != nil {
		if _, err := Enqueue(ctx, tx, client, rec.Effects); err != nil {
			return err
		}
	}
	recs := []*payments.Recorded{rec}
	// Outcomes recorded here come from a real processor's webhook: none
	// waits for a Settler.
	if err := afterOutcomes(ctx, tx, client, recs, now, nil, 0, false); err != nil {
		return err
	}
	// A failed debit may have been paid by credit at once: the account's
	// standing follows, as on every other path.
	return afterCredit(ctx, tx, client, recs, now)
}

// afterOutcomes is AfterOutcome for a batch of outcomes, in a few
// statements: debits the settler's processor accepted as processing get
// their settlement job (sepaDelay later), PDFs one render job, accounts paid
// one reactivation check. settler is nil where no outcome can wait for one.
// What the recording itself implied (its timeline events, the collection
// of the open invoices of an account refunded a late payment) is the
// caller's to apply first, with Enqueue.
func afterOutcomes(ctx context.Context, tx pgx.Tx, client *Client, recs []*payments.Recorded, now time.Time, settler payments.Settler, sepaDelay time.Duration, simulated bool) error {
	var settle, render, paid []string
	var unpaid []*payments.Attempt // declined or failed: may be overdue now
	for _, rec := range recs {
		if rec == nil || rec.Already {
			continue
		}
		a := rec.Attempt
		metrics.Outcomes.WithLabelValues(string(a.Method.Type), string(rec.Outcome), rec.Code).Inc()
		// The PDF shows the payment status (a decline leaves it unpaid, but
		// a first attempt's invoice has no PDF yet: rendering skips an
		// invoice whose PDF already shows its state).
		render = append(render, a.InvoiceNumber)
		switch rec.Outcome {
		case billing.AttemptStatePending:
			// An outcome not learnt yet records nothing new: its
			// reconciliation will.
		case payments.OutcomeProcessing:
			if settler != nil && a.Processor == settler.Name() {
				settle = append(settle, rec.Reference)
			}
		case payments.OutcomeSucceeded:
			metrics.Collected.WithLabelValues(string(a.Method.Type)).Add(metrics.Cents(a.Amount))
			paid = append(paid, a.AccountID)
		case payments.OutcomeDeclined, payments.OutcomeFailed:
			unpaid = append(unpaid, a)
		}
	}
	if err := overdueAfterDeclines(ctx, tx, client, unpaid, now); err != nil {
		return err
	}
	for len(settle) > 0 {
		n := min(len(settle), collectBatchSize)
		args := SettleSandboxArgs{References: settle[:n]}
		if simulated {
			at := now.Add(sepaDelay)
			args.Now = &at
		}
		// Without a delay the settlement is available at once (a scheduled
		// time, even "now", would wait for River's scheduler).
		opts := &river.InsertOpts{}
		if sepaDelay > 0 {
			opts.ScheduledAt = time.Now().Add(sepaDelay)
		}
		if _, err := client.InsertTx(ctx, tx, args, opts); err != nil {
			return err
		}
		settle = settle[n:]
	}
	if err := enqueueRenders(ctx, tx, client, render...); err != nil {
		return err
	}
	return afterPayments(ctx, tx, client, paid, now)
}

// AfterPayment reactivates the account if no overdue invoice remains, with
// its webhook, in tx.
func AfterPayment(ctx context.Context, tx pgx.Tx, client *Client, accountID string, now time.Time) error {
	_, err := reactivate(ctx, tx, client, accountID, now)
	return err
}

// reactivate is AfterPayment, reporting whether the account came back.
func reactivate(ctx context.Context, tx pgx.Tx, client *Client, accountID string, now time.Time) (bool, error) {
	back, err := accounts.ReactivateIfClear(ctx, tx, accountID, now)
	if err != nil || !back {
		return false, err
	}
	metrics.Reactivations.Inc()
	if _, err := Enqueue(ctx, tx, client, billing.Effects{At: now, Events: []billing.Event{{Type: billing.EventAccountReactivated,
		AccountID: accountID, At: now}}}); err != nil {
		return false, err
	}
	_, err = client.InsertTx(ctx, tx, AccountWebhookArgs{ID: webhookID("reactivated", accountID, now), Event: "account.reactivated",
		AccountID: accountID, At: now}, nil)
	return true, err
}

// afterPayments is AfterPayment for the accounts of a batch. Only suspended
// accounts can be reactivated: the others are found in one query, without
// their locks, and skipped. That is safe because the caller holds the paid
// invoices' locks and the dunning pass takes them before it suspends
// (accounts.LockStandings): a suspension either committed before this
// query, which sees it, or waits for this transaction and then sees the
// invoices paid.
func afterPayments(ctx context.Context, tx pgx.Tx, client *Client, accountIDs []string, now time.Time) error {
	if len(accountIDs) == 0 {
		return nil
	}
	rows, err := tx.Query(ctx, `SELECT id FROM accounts WHERE id = ANY($1) AND status = 'suspended' ORDER BY id`, accountIDs)
	if err != nil {
		return err
	}
	suspended, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return err
	}
	for _, id := range suspended {
		if err := AfterPayment(ctx, tx, client, id, now); err != nil {
			return err
		}
	}
	return nil
}

type dunningPassWorker struct {
	river.WorkerDefaults[DunningPassArgs]
	d *deps
}

func (w *dunningPassWorker) Work(ctx context.Context, job *river.Job[DunningPassArgs]) error {
	now, simulated := w.d.cfg.now(), false
	if w.d.cfg.simulated(job.Args.Now) {
		now, simulated = *job.Args.Now, true
	}
	rep, err := RunDunningPass(ctx, w.d.pool, river.ClientFromContext[pgx.Tx](ctx), now, simulated)
	if err != nil {
		return err
	}
	w.d.cfg.Logger.InfoContext(ctx, "dunning pass", "now", now, "retries", len(rep.Retries), "overdue", len(rep.Overdue), "suspended", len(rep.Suspended), "reactivated", len(rep.Reactivated))
	return nil
}

// dailyDunning is the periodic job of the dunning pass. Like the monthly
// run it may fire more than once a day (a new leader starts over, and it
// fires on start so that a cluster down at 06:00 doesn't skip a day): the
// pass is unique per day and idempotent.
func dailyDunning(spec string, loc *time.Location, now func() time.Time) (*river.PeriodicJob, error) {
	s, err := parseSchedule(spec)
	if err != nil {
		return nil, err
	}
	return river.NewPeriodicJob(cronSchedule{s, loc}, func() (river.JobArgs, *river.InsertOpts) {
		return DunningPassArgs{Day: now().In(loc).Format(time.DateOnly)}, nil
	}, &river.PeriodicJobOpts{ID: "daily_dunning_pass", RunOnStart: true}), nil
}

type accountWebhookWorker struct {
	river.WorkerDefaults[AccountWebhookArgs]
	d *deps
}

// NextRetry backs off from a second to an hour: a receiver that is down
// gets the event when it is back.
func (w *accountWebhookWorker) NextRetry(job *river.Job[AccountWebhookArgs]) time.Time {
	return time.Now().Add(min(time.Second<<min(job.Attempt-1, 20), time.Hour))
}

func (w *accountWebhookWorker) Work(ctx context.Context, job *river.Job[AccountWebhookArgs]) error {
	url := w.d.cfg.SuspensionWebhookURL
	if url == "" {
		return nil // nobody to tell
	}
	body, err := json.Marshal(job.Args)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return river.JobCancel(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "billing-engine")
	req.Header.Set(notify.SuspensionSignatureHeader, notify.SignSuspension(w.d.cfg.SuspensionWebhookSecret, body, time.Now()))
	res, err := w.d.cfg.HTTPClient.Do(req)
	if err != nil {
		return fmt.Errorf("posting %s: %w", job.Args.Event, err)
	}
	defer res.Body.Close() //nolint:errcheck // the answer was read; closing cannot fail it
	if res.StatusCode/100 != 2 {
		return fmt.Errorf("posting %s: the receiver answered %s", job.Args.Event, res.Status)
	}
	return nil
}
