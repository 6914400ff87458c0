package jobs

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"

	"github.com/billingengine/engine/billing"
	"github.com/billingengine/engine/internal/platform/metrics"
	"github.com/billingengine/engine/internal/platform/pgdb"
	"github.com/billingengine/engine/payments"
)

// CollectInvoiceArgs collects an invoice (SPEC §9):
// {"invoice_number":"INV-2026-000001"}. Collection is idempotent: inserting
// it twice, or for a paid or void invoice, charges nothing more.
type CollectInvoiceArgs struct {
	InvoiceNumber string `json:"invoice_number"`
	// DunningSlot is set by the dunning pass: the retry it makes (1..5).
	DunningSlot int `json:"dunning_slot,omitempty"`
	// Now, honoured only with a simulated processor (the sandbox, a
	// payments.Settler), is the time the collection sees (`billing
	// dunning run --now`).
	Now *time.Time `json:"now,omitempty"`
}

func (CollectInvoiceArgs) Kind() string { return "collect_invoice" }

func (CollectInvoiceArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{Queue: QueuePayments, MaxAttempts: 20}
}

// CollectItem is one invoice of a collection batch.
type CollectItem struct {
	Number string `json:"number"`
	Slot   int    `json:"slot,omitempty"`
}

// CollectInvoicesArgs collects a batch of invoices in one job, with a
// handful of statements for the whole batch: the first collection of a
// finalized chunk, the dunning pass's retries, an account's open invoices.
// Internal: its arguments may change.
type CollectInvoicesArgs struct {
	Invoices []CollectItem `json:"invoices"`
	Now      *time.Time    `json:"now,omitempty"`
	// Resend marks the batch of attempts whose first sending failed
	// technically: it is all or nothing, retried by River with backoff.
	Resend bool `json:"resend,omitempty"`
	// Reconcile makes the job a reconciliation of the attempts named by
	// Keys (of the invoices listed): those still pending are looked up by
	// key with the processor and their outcome recorded; one the processor
	// never received is resent with its key. Nothing new is charged. A
	// collection inserts one with the attempts it creates, due once its own
	// retries would be exhausted, and deletes it when every answer is
	// recorded: an attempt whose job was discarded or killed on its last
	// try is resolved by it rather than left pending forever. Round counts
	// the reconciliations that followed one another for these attempts.
	Reconcile bool     `json:"reconcile,omitempty"`
	Keys      []string `json:"keys,omitempty"`
	Round     int      `json:"round,omitempty"`
}

func (CollectInvoicesArgs) Kind() string { return "collect_invoices" }

func (CollectInvoicesArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{Queue: QueuePayments, MaxAttempts: 20}
}

// collectBatchSize bounds the invoices of one collection job.
const collectBatchSize = 500

// SettleSandboxArgs settles sandbox SEPA debits, SANDBOX_SEPA_DELAY after
// they were accepted: the sandbox's stand-in for a processor's webhook. The
// worker settles them through Config.Settler (payments.Settler), the kind
// keeping its name for the jobs already queued.
type SettleSandboxArgs struct {
	Reference  string   `json:"reference,omitempty"`
	References []string `json:"references,omitempty"`
	// Now is the simulated time of the settlement, when the charge was
	// made at a simulated time.
	Now *time.Time `json:"now,omitempty"`
}

func (SettleSandboxArgs) Kind() string { return "sandbox_settle_sepa" }

func (SettleSandboxArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{Queue: QueuePayments, MaxAttempts: 20}
}

type collectWorker struct {
	river.WorkerDefaults[CollectInvoiceArgs]
	d *deps
}

// NextRetry resends a technical failure soon (a processor blip is usually
// short), backing off to RetryMax: 1 s, 2 s, 4 s… The attempt, and so its
// idempotency key, stays the same.
func (w *collectWorker) NextRetry(job *river.Job[CollectInvoiceArgs]) time.Time {
	return time.Now().Add(retryDelay(job.Attempt, w.d.cfg.RetryMax))
}

func retryDelay(attempt int, limit time.Duration) time.Duration {
	d := time.Second << min(attempt-1, 20)
	return min(d, limit)
}

func (w *collectWorker) Work(ctx context.Context, job *river.Job[CollectInvoiceArgs]) error {
	err := collect(ctx, w.d, job, []payments.CollectRequest{{Number: job.Args.InvoiceNumber, Slot: job.Args.DunningSlot}}, job.Args.Now, false)
	return pgdb.Wrap("collect invoice "+job.Args.InvoiceNumber, err)
}

type collectBatchWorker struct {
	river.WorkerDefaults[CollectInvoicesArgs]
	d *deps
}

func (w *collectBatchWorker) NextRetry(job *river.Job[CollectInvoicesArgs]) time.Time {
	return time.Now().Add(retryDelay(job.Attempt, w.d.cfg.RetryMax))
}

func (w *collectBatchWorker) Work(ctx context.Context, job *river.Job[CollectInvoicesArgs]) (err error) {
	first := ""
	if len(job.Args.Invoices) > 0 {
		first = job.Args.Invoices[0].Number
	}
	if job.Args.Reconcile {
		return pgdb.Wrap(fmt.Sprintf("reconcile %d invoices from %s", len(job.Args.Invoices), first), reconcile(ctx, w.d, job))
	}
	defer func() {
		err = pgdb.Wrap(fmt.Sprintf("collect %d invoices from %s", len(job.Args.Invoices), first), err)
	}()
	reqs := make([]payments.CollectRequest, len(job.Args.Invoices))
	for i, it := range job.Args.Invoices {
		reqs[i] = payments.CollectRequest{Number: it.Number, Slot: it.Slot}
	}
	return collect(ctx, w.d, job, reqs, job.Args.Now, !job.Args.Resend)
}

// collect collects invoices in three steps. First, in one transaction:
// credit, then an attempt recorded as pending (or the pending one of an
// earlier try). Then the processor calls, outside any transaction, each
// with its attempt's idempotency key. Then, in one transaction, the answers
// with what follows from them and the job's completion. A crash or a
// technical error anywhere leaves pending attempts that a retry resends
// with the same keys.
//
// split is for a first batch: answers are recorded as they come, and the
// attempts that failed technically move to a follow-up job, so that a
// processor blip on one invoice doesn't hold up the batch. Otherwise (one
// invoice, or a follow-up) any technical error fails the whole job, which
// River retries with backoff: nothing is recorded that a retry would send
// as a new attempt.
func collect[T river.JobArgs](ctx context.Context, d *deps, job *river.Job[T], reqs []payments.CollectRequest, argNow *time.Time, split bool) error {
	proc := d.cfg.Processor
	now := d.cfg.now()
	simulated := d.cfg.simulated(argNow)
	if simulated {
		now = *argNow
	}
	client := river.ClientFromContext[pgx.Tx](ctx)
	tx, err := d.pool.Begin(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback(context.WithoutCancel(ctx)) //nolint:errcheck // no-op after commit
	plans, err := payments.PrepareCollections(ctx, tx, reqs, proc.Name(), now)
	if err != nil {
		return err
	}
	var effects billing.Effects
	for _, p := range plans {
		effects = effects.Merge(p.Effects)
	}
	if _, err := Enqueue(ctx, tx, client, effects); err != nil {
		return err
	}
	var send []*payments.Attempt
	var paidByCredit, render []string
	for _, p := range plans {
		if p.CreditApplied.IsPositive() {
			metrics.Collected.WithLabelValues("credit").Add(metrics.Cents(p.CreditApplied))
		}
		switch {
		case p.Err != nil && len(reqs) == 1:
			if errors.Is(p.Err, payments.ErrInvoiceNotFound) {
				return river.JobCancel(p.Err)
			}
			return p.Err
		case p.Err != nil:
			d.cfg.Logger.WarnContext(ctx, "not collected", "invoice", p.InvoiceNumber, "error", p.Err)
		case p.Done:
			d.cfg.Logger.DebugContext(ctx, "nothing to charge", "invoice", p.InvoiceNumber, "reason", p.Reason)
			switch p.Reason {
			case payments.ReasonPaidByCredit:
				paidByCredit = append(paidByCredit, p.AccountID)
				render = append(render, p.InvoiceNumber)
			case payments.ReasonNoPaymentMethod:
				render = append(render, p.InvoiceNumber)
			}
		case p.Attempt.Processor != proc.Name():
			err := fmt.Errorf("attempt %s was sent to %s, but this worker charges through %s", p.Attempt.IdempotencyKey, p.Attempt.Processor, proc.Name())
			if len(reqs) == 1 {
				return err
			}
			d.cfg.Logger.ErrorContext(ctx, "not collected", "invoice", p.InvoiceNumber, "error", err)
		default:
			send = append(send, p.Attempt)
		}
	}
	if err := afterPayments(ctx, tx, client, paidByCredit, now); err != nil {
		return err
	}
	// The PDF shows the payment status: drawn once it is known (those
	// charged below, once answered).
	if err := enqueueRenders(ctx, tx, client, render...); err != nil {
		return err
	}
	if len(send) == 0 {
		return complete(ctx, tx, job)
	}
	// The attempts created here get their reconciliation now, with them:
	// whatever becomes of this job (its retries exhausted, its process
	// killed on its last try, an operator cancelling it), they are resolved.
	var fresh []*payments.Attempt
	for _, a := range send {
		if !a.Resumed {
			fresh = append(fresh, a)
		}
	}
	var watchdog int64
	if len(fresh) > 0 {
		if watchdog, err = insertReconciliation(ctx, tx, client, fresh, argNow, 0,
			time.Now().Add(collectHorizon(d.cfg, job.Attempt, job.MaxAttempts))); err != nil {
			return err
		}
	}
	if err := tx.Commit(ctx); err != nil {
		return err
	}

	results, errs := chargeAll(ctx, proc, send)
	var charged []payments.Charged
	var failed []CollectItem
	var firstErr error
	for i, a := range send {
		if errs[i] != nil {
			kind := "outcome unknown"
			if !payments.IsTechnical(errs[i]) {
				kind = "refused"
			}
			d.cfg.Logger.WarnContext(ctx, "charge failed, the attempt will be resent with its key", "key", a.IdempotencyKey, "kind", kind, "error", errs[i])
			failed = append(failed, CollectItem{Number: a.InvoiceNumber})
			firstErr = cmpOr(firstErr, errs[i])
			continue
		}
		charged = append(charged, payments.Charged{AttemptID: a.ID, Result: results[i]})
	}
	// On its last try the job records what it learnt and leaves the rest
	// to the reconciliation rather than fail: River would discard it, and
	// nothing would resend the attempts.
	last := job.Attempt >= job.MaxAttempts
	if firstErr != nil && !split && !last {
		return firstErr
	}

	tx, err = d.pool.Begin(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback(context.WithoutCancel(ctx)) //nolint:errcheck // no-op after commit
	recs, err := d.recordCharges(ctx, tx, client, charged, now, simulated)
	if err != nil {
		return err
	}
	switch {
	case len(failed) == 0:
		if err := deleteJob(ctx, tx, client, watchdog); err != nil {
			return err
		}
	case last:
		d.cfg.Logger.WarnContext(ctx, "collection out of tries: its pending attempts are left to their reconciliation",
			"invoices", len(failed), "job_id", job.ID, "error", firstErr)
	default:
		if _, err := client.InsertTx(ctx, tx, CollectInvoicesArgs{Invoices: failed, Now: argNow, Resend: true},
			&river.InsertOpts{ScheduledAt: time.Now().Add(retryDelay(1, d.cfg.RetryMax))}); err != nil {
			return err
		}
	}
	d.cfg.Logger.DebugContext(ctx, "charges recorded", "count", len(recs), "resent_later", len(failed))
	return complete(ctx, tx, job)
}

func cmpOr(a, b error) error {
	if a != nil {
		return a
	}
	return b
}

// maxInFlight bounds the charges a batch sends at once to a processor that
// takes one at a time.
const maxInFlight = 16

// chargeAll sends the attempts: in one call to a processor that takes
// batches (the sandbox), else concurrently, a few at a time.
func chargeAll(ctx context.Context, proc payments.Processor, attempts []*payments.Attempt) ([]payments.ChargeResult, []error) {
	reqs := make([]payments.ChargeRequest, len(attempts))
	for i, a := range attempts {
		reqs[i] = a.Request()
	}
	if bp, ok := proc.(payments.BatchProcessor); ok {
		return bp.ChargeMany(ctx, reqs)
	}
	results := make([]payments.ChargeResult, len(reqs))
	errs := make([]error, len(reqs))
	sem := make(chan struct{}, maxInFlight)
	var wg sync.WaitGroup
	for i := range reqs {
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			results[i], errs[i] = proc.Charge(ctx, reqs[i])
		}()
	}
	wg.Wait()
	return results, errs
}

// collectHorizon bounds how long a collection job that is on its try
// number attempt may still go on retrying: the delays before its remaining
// tries, each try's timeout, and one rescue of a try whose worker died.
func collectHorizon(cfg *Config, attempt, maxAttempts int) time.Duration {
	h := cfg.RescueAfter + cfg.JobTimeout
	for k := attempt; k < maxAttempts; k++ {
		h += retryDelay(k, cfg.RetryMax) + cfg.JobTimeout
	}
	return h
}

// insertReconciliation enqueues, in tx, the reconciliation of attempts at
// the time given, and returns its job id.
func insertReconciliation(ctx context.Context, tx pgx.Tx, client *Client, attempts []*payments.Attempt, argNow *time.Time, round int, at time.Time) (int64, error) {
	args := CollectInvoicesArgs{Now: argNow, Reconcile: true, Round: round}
	seen := map[string]bool{}
	for _, a := range attempts {
		args.Keys = append(args.Keys, a.IdempotencyKey)
		if !seen[a.InvoiceNumber] {
			seen[a.InvoiceNumber] = true
			args.Invoices = append(args.Invoices, CollectItem{Number: a.InvoiceNumber})
		}
	}
	res, err := client.InsertTx(ctx, tx, args, &river.InsertOpts{ScheduledAt: at})
	if err != nil {
		return 0, err
	}
	return res.Job.ID, nil
}

// deleteJob deletes a reconciliation no longer needed, in tx. One already
// running is left to finish: it finds nothing pending.
func deleteJob(ctx context.Context, tx pgx.Tx, client *Client, id int64) error {
	if id == 0 {
		return nil
	}
	_, err := client.JobDeleteTx(ctx, tx, id)
	if errors.Is(err, rivertype.ErrJobRunning) || errors.Is(err, river.ErrNotFound) {
		return nil
	}
	return err
}

// reconcile resolves the attempts of a reconciliation job that are still
// pending (see CollectInvoicesArgs.Reconcile), in the three steps of
// collect: read them; ask the processor, outside any transaction, by key;
// record the answers and what follows from them. An answer that doesn't
// come is retried by River with backoff; on the job's last try a next
// reconciliation is enqueued first, so the attempts are never forgotten.
func reconcile(ctx context.Context, d *deps, job *river.Job[CollectInvoicesArgs]) error {
	proc := d.cfg.Processor
	now := d.cfg.now()
	simulated := d.cfg.simulated(job.Args.Now)
	if simulated {
		now = *job.Args.Now
	}
	client := river.ClientFromContext[pgx.Tx](ctx)
	tx, err := d.pool.Begin(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback(context.WithoutCancel(ctx)) //nolint:errcheck // no-op after commit
	pending, err := payments.PendingAttempts(ctx, tx, job.Args.Keys)
	if err != nil {
		return err
	}
	var send []*payments.Attempt
	for _, a := range pending {
		if a.Processor != proc.Name() {
			// Only a worker of that processor can learn the outcome; the
			// audit reports the attempt if none does.
			d.cfg.Logger.ErrorContext(ctx, "not reconciled", "key", a.IdempotencyKey, "processor", a.Processor, "worker_processor", proc.Name())
			continue
		}
		send = append(send, a)
	}
	if len(send) == 0 {
		return complete(ctx, tx, job)
	}
	last := job.Attempt >= job.MaxAttempts
	var next int64
	if last {
		if next, err = insertReconciliation(ctx, tx, client, send, job.Args.Now, job.Args.Round+1, time.Now().Add(d.cfg.RetryMax)); err != nil {
			return err
		}
	}
	if err := tx.Commit(ctx); err != nil {
		return err
	}

	results, errs := lookupAll(ctx, proc, send)
	var charged []payments.Charged
	var firstErr error
	for i, a := range send {
		if errs[i] != nil {
			d.cfg.Logger.WarnContext(ctx, "reconciliation: no answer yet", "key", a.IdempotencyKey, "round", job.Args.Round, "error", errs[i])
			firstErr = cmpOr(firstErr, errs[i])
			continue
		}
		charged = append(charged, payments.Charged{AttemptID: a.ID, Result: results[i]})
	}

	tx, err = d.pool.Begin(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback(context.WithoutCancel(ctx)) //nolint:errcheck // no-op after commit
	recs, err := d.recordCharges(ctx, tx, client, charged, now, simulated)
	if err != nil {
		return err
	}
	if firstErr != nil && !last {
		// What was learnt is kept; River retries the rest.
		if err := tx.Commit(ctx); err != nil {
			return err
		}
		return firstErr
	}
	if firstErr == nil {
		if err := deleteJob(ctx, tx, client, next); err != nil {
			return err
		}
	}
	d.cfg.Logger.InfoContext(ctx, "attempts reconciled", "resolved", len(recs), "left_to_next_round", len(send)-len(recs))
	return complete(ctx, tx, job)
}

// lookupAll asks the processor what became of each attempt: by key where it
// can look charges up, resending it (with its key) when it never got it;
// else by resending it, which for Stripe looks the payment up first.
func lookupAll(ctx context.Context, proc payments.Processor, attempts []*payments.Attempt) ([]payments.ChargeResult, []error) {
	results := make([]payments.ChargeResult, len(attempts))
	errs := make([]error, len(attempts))
	looker, canLook := proc.(payments.Looker)
	sem := make(chan struct{}, maxInFlight)
	var wg sync.WaitGroup
	for i, a := range attempts {
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			req := a.Request()
			if canLook {
				res, found, err := looker.Lookup(ctx, req)
				if err != nil || found {
					results[i], errs[i] = res, err
					return
				}
			}
			results[i], errs[i] = proc.Charge(ctx, req)
		}()
	}
	wg.Wait()
	return results, errs
}

type settleSandboxWorker struct {
	river.WorkerDefaults[SettleSandboxArgs]
	d *deps
}

func (w *settleSandboxWorker) Work(ctx context.Context, job *river.Job[SettleSandboxArgs]) error {
	settler := w.d.cfg.Settler
	if settler == nil {
		// Only the simulated processor knows its charges' fate; a worker of
		// a real one fails the job, retried until such a worker takes it.
		return fmt.Errorf("%s: this worker's processor (%s) settles no charges", job.Kind, w.d.cfg.Processor.Name())
	}
	refs := job.Args.References
	if job.Args.Reference != "" {
		refs = append(refs, job.Args.Reference)
	}
	tx, err := w.d.pool.Begin(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback(context.WithoutCancel(ctx)) //nolint:errcheck // no-op after commit
	now := w.d.cfg.now()
	if job.Args.Now != nil {
		now = *job.Args.Now
	}
	items, err := settler.Settle(ctx, tx, refs)
	if err != nil {
		return err
	}
	recs, effects, err := payments.SettleMany(ctx, tx, settler.Name(), items, now)
	if err != nil {
		return err
	}
	client := river.ClientFromContext[pgx.Tx](ctx)
	if _, err := Enqueue(ctx, tx, client, effects); err != nil {
		return err
	}
	// A settlement is final: nothing it records waits for another.
	if err := afterOutcomes(ctx, tx, client, recs, now, nil, 0, false); err != nil {
		return err
	}
	if err := afterCredit(ctx, tx, client, recs, now); err != nil {
		return err
	}
	return complete(ctx, tx, job)
}

// afterCredit follows the invoices that prepaid credit paid once their
// attempt was declined or failed (payments.Recorded.CreditApplied): an
// account suspended for one of them may be clear now.
func afterCredit(ctx context.Context, tx pgx.Tx, client *Client, recs []*payments.Recorded, now time.Time) error {
	var paid []string
	for _, rec := range recs {
		if rec == nil || !rec.CreditApplied.IsPositive() {
			continue
		}
		metrics.Collected.WithLabelValues("credit").Add(metrics.Cents(rec.CreditApplied))
		if rec.Status == "paid" {
			paid = append(paid, rec.Attempt.AccountID)
		}
	}
	return afterPayments(ctx, tx, client, paid, now)
}

// CollectOpenInvoices enqueues the collection of every open invoice of the
// accounts, in tx: what added credit or a new payment method triggers.
func CollectOpenInvoices(ctx context.Context, tx pgx.Tx, client *Client, accountIDs []string) (int, error) {
	if len(accountIDs) == 0 {
		return 0, nil
	}
	rows, err := tx.Query(ctx, `SELECT number FROM invoices WHERE account_id = ANY($1) AND status = 'open' ORDER BY number`, accountIDs)
	if err != nil {
		return 0, err
	}
	numbers, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil || len(numbers) == 0 {
		return 0, err
	}
	return len(numbers), insertCollections(ctx, tx, client, numbers)
}

// insertCollections enqueues the collection of invoices in batches.
func insertCollections(ctx context.Context, tx pgx.Tx, client *Client, numbers []string) error {
	return insertCollectionsAt(ctx, tx, client, numbers, time.Time{})
}

// insertCollectionsAt enqueues the collection of invoices in batches, due
// at at (now when zero).
func insertCollectionsAt(ctx context.Context, tx pgx.Tx, client *Client, numbers []string, at time.Time) error {
	var opts *river.InsertOpts
	if !at.IsZero() {
		opts = &river.InsertOpts{ScheduledAt: at}
	}
	var params []river.InsertManyParams
	for len(numbers) > 0 {
		n := min(len(numbers), collectBatchSize)
		items := make([]CollectItem, n)
		for i, num := range numbers[:n] {
			items[i] = CollectItem{Number: num}
		}
		params = append(params, river.InsertManyParams{Args: CollectInvoicesArgs{Invoices: items}, InsertOpts: opts})
		numbers = numbers[n:]
	}
	if len(params) == 0 {
		return nil
	}
	_, err := client.InsertManyFastTx(ctx, tx, params)
	return err
}

// recordCharges records what the processor answered and, in the same
// transaction, what follows: settlements, renders, standing, and credit
// applied to what failed. Collection and reconciliation learn outcomes the
// same way, so they record them the same way.
func (d *deps) recordCharges(ctx context.Context, tx pgx.Tx, client *Client, charged []payments.Charged, now time.Time, simulated bool) ([]*payments.Recorded, error) {
	recs, effects, err := payments.RecordCharges(ctx, tx, charged, now)
	if err != nil {
		return nil, err
	}
	if _, err := Enqueue(ctx, tx, client, effects); err != nil {
		return nil, err
	}
	if err := afterOutcomes(ctx, tx, client, recs, now, d.cfg.Settler, d.cfg.SandboxSEPADelay, simulated); err != nil {
		return nil, err
	}
	return recs, afterCredit(ctx, tx, client, recs, now)
}
