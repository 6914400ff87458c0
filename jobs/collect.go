package jobs

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river"

	"github.com/billingengine/engine/internal/metrics"
	"github.com/billingengine/engine/payments"
	"github.com/billingengine/engine/payments/sandbox"
)

// CollectInvoiceArgs collects an invoice (SPEC §9):
// {"invoice_number":"INV-2026-000001"}. Collection is idempotent: inserting
// it twice, or for a paid or void invoice, charges nothing more.
type CollectInvoiceArgs struct {
	InvoiceNumber string `json:"invoice_number"`
	// DunningSlot is set by the dunning pass: the retry it makes (1..5).
	DunningSlot int `json:"dunning_slot,omitempty"`
	// Now, honoured only with the sandbox processor, is the time the
	// collection sees (`billing dunning run --now`).
	Now *time.Time `json:"now,omitempty"`
}

func (CollectInvoiceArgs) Kind() string { return "collect_invoice" }

func (CollectInvoiceArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{Queue: QueuePayments, MaxAttempts: 20}
}

// SettleSandboxArgs settles a sandbox SEPA debit, SANDBOX_SEPA_DELAY after
// it was accepted: the sandbox's stand-in for a processor's webhook.
type SettleSandboxArgs struct {
	Reference string `json:"reference"`
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

// Work collects in three steps. First, in one transaction: credit, then an
// attempt recorded as pending (or the pending one of an earlier try). Then
// the processor call, outside any transaction, with the attempt's
// idempotency key. Then, in one transaction, the answer with the job's
// completion. A crash or a technical error anywhere leaves a pending
// attempt that the retried job resends with the same key.
func (w *collectWorker) Work(ctx context.Context, job *river.Job[CollectInvoiceArgs]) error {
	proc := w.d.cfg.Processor
	now := w.d.cfg.now()
	simulated := job.Args.Now != nil && proc.Name() == sandbox.Name
	if simulated {
		now = *job.Args.Now
	}
	tx, err := w.d.pool.Begin(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback(context.WithoutCancel(ctx)) //nolint:errcheck // no-op after commit
	plan, err := payments.PrepareCollection(ctx, tx, job.Args.InvoiceNumber, proc.Name(), now, job.Args.DunningSlot)
	if errors.Is(err, payments.ErrInvoiceNotFound) {
		return river.JobCancel(err)
	}
	if err != nil {
		return err
	}
	if plan.Done {
		w.d.cfg.Logger.DebugContext(ctx, "nothing to charge", "invoice", plan.InvoiceNumber, "reason", plan.Reason)
		if plan.CreditApplied.IsPositive() {
			metrics.Collected.WithLabelValues("credit").Add(metrics.Cents(plan.CreditApplied))
		}
		if plan.Reason == payments.ReasonPaidByCredit {
			client := river.ClientFromContext[pgx.Tx](ctx)
			if err := enqueueRenders(ctx, tx, client, plan.InvoiceNumber); err != nil {
				return err
			}
			if err := AfterPayment(ctx, tx, client, plan.AccountID, now); err != nil {
				return err
			}
		}
		return complete(ctx, tx, job)
	}
	if err := tx.Commit(ctx); err != nil {
		return err
	}
	if plan.CreditApplied.IsPositive() {
		metrics.Collected.WithLabelValues("credit").Add(metrics.Cents(plan.CreditApplied))
	}
	a := plan.Attempt
	if a.Processor != proc.Name() {
		return fmt.Errorf("attempt %s was sent to %s, but this worker charges through %s", a.IdempotencyKey, a.Processor, proc.Name())
	}

	res, err := proc.Charge(ctx, a.Request())
	if err != nil {
		safe := "outcome unknown"
		if !payments.IsTechnical(err) {
			safe = "refused"
		}
		w.d.cfg.Logger.WarnContext(ctx, "charge failed, the attempt will be resent with its key", "key", a.IdempotencyKey, "kind", safe, "error", err)
		return err
	}

	tx, err = w.d.pool.Begin(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback(context.WithoutCancel(ctx)) //nolint:errcheck // no-op after commit
	rec, err := payments.RecordCharge(ctx, tx, a.ID, res, now)
	if err != nil {
		return err
	}
	client := river.ClientFromContext[pgx.Tx](ctx)
	if !rec.Already && rec.Outcome == payments.OutcomeProcessing && proc.Name() == sandbox.Name {
		args := SettleSandboxArgs{Reference: res.Reference}
		if simulated {
			at := now.Add(w.d.cfg.SandboxSEPADelay)
			args.Now = &at
		}
		// Without a delay the settlement is available at once (a scheduled
		// time, even "now", would wait for River's scheduler).
		opts := &river.InsertOpts{}
		if w.d.cfg.SandboxSEPADelay > 0 {
			opts.ScheduledAt = time.Now().Add(w.d.cfg.SandboxSEPADelay)
		}
		if _, err := client.InsertTx(ctx, tx, args, opts); err != nil {
			return err
		}
	}
	if err := AfterOutcome(ctx, tx, client, rec, now); err != nil {
		return err
	}
	w.d.cfg.Logger.InfoContext(ctx, "charge recorded", "invoice", a.InvoiceNumber, "attempt", a.Attempt, "outcome", rec.Outcome, "code", rec.Code, "status", rec.Status)
	return complete(ctx, tx, job)
}

type settleSandboxWorker struct {
	river.WorkerDefaults[SettleSandboxArgs]
	d *deps
}

func (w *settleSandboxWorker) Work(ctx context.Context, job *river.Job[SettleSandboxArgs]) error {
	tx, err := w.d.pool.Begin(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback(context.WithoutCancel(ctx)) //nolint:errcheck // no-op after commit
	outcome, code, key, err := sandbox.Settle(ctx, tx, job.Args.Reference)
	if err != nil {
		return err
	}
	now := w.d.cfg.now()
	if job.Args.Now != nil {
		now = *job.Args.Now
	}
	rec, err := payments.Settle(ctx, tx, sandbox.Name, job.Args.Reference, key, outcome, code, now)
	if err != nil {
		return err
	}
	if err := AfterOutcome(ctx, tx, river.ClientFromContext[pgx.Tx](ctx), rec, now); err != nil {
		return err
	}
	return complete(ctx, tx, job)
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

func insertCollections(ctx context.Context, tx pgx.Tx, client *Client, numbers []string) error {
	if len(numbers) == 0 {
		return nil
	}
	params := make([]river.InsertManyParams, len(numbers))
	for i, n := range numbers {
		params[i] = river.InsertManyParams{Args: CollectInvoiceArgs{InvoiceNumber: n}}
	}
	_, err := client.InsertManyFastTx(ctx, tx, params)
	return err
}
