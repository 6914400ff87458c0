package jobs

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"

	"github.com/billingengine/engine/billing"
	"github.com/billingengine/engine/internal/platform/metrics"
	"github.com/billingengine/engine/internal/platform/pgdb"
	"github.com/billingengine/engine/invoices"
	"github.com/billingengine/engine/payments"
)

// BillingRunArgs starts a billing run (SPEC §9):
// {"period":"YYYY-MM","account_ids":[…]}. Without account_ids every account
// is billed. A run bills only what isn't billed yet, so inserting it twice
// is harmless.
type BillingRunArgs struct {
	Period     string   `json:"period"`
	AccountIDs []string `json:"account_ids,omitempty"`
	// RunID is set by callers that created the run record themselves (the
	// CLI and the API, to report on it); other inserters leave it out.
	RunID int64 `json:"run_id,omitempty"`
	// Scheduled marks the monthly schedule's run: unique per period.
	Scheduled bool `json:"scheduled,omitempty"`
}

func (BillingRunArgs) Kind() string { return "billing_run" }

func (BillingRunArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{Queue: QueueBilling, MaxAttempts: 10}
}

// DraftShardArgs drafts one shard of a run.
type DraftShardArgs struct {
	RunID int64 `json:"run_id"`
	Shard int   `json:"shard"`
}

func (DraftShardArgs) Kind() string { return "billing_draft_shard" }

func (DraftShardArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{Queue: QueueBilling, MaxAttempts: 10}
}

// FinalizeRunArgs finalizes a run's drafts once all are drafted.
type FinalizeRunArgs struct {
	RunID int64 `json:"run_id"`
}

func (FinalizeRunArgs) Kind() string { return "billing_finalize" }

func (FinalizeRunArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{Queue: QueueBilling, MaxAttempts: 25,
		UniqueOpts: river.UniqueOpts{ByArgs: true}}
}

// StartRun records a run and enqueues its billing_run job in one
// transaction, so that the caller can report on the run at once (the CLI
// prints its id, the API returns it). It refuses, with a
// *invoices.RunInFlightError, while a run of the same period and an
// overlapping scope is in flight.
func StartRun(ctx context.Context, db pgdb.DB, client *Client, p invoices.RunParams) (run *invoices.Run, jobID int64, err error) {
	err = pgx.BeginFunc(ctx, db, func(tx pgx.Tx) error {
		run, err = invoices.StartRunChecked(ctx, tx, p)
		if err != nil {
			return err
		}
		res, err := client.InsertTx(ctx, tx, BillingRunArgs{Period: p.Period.String(), AccountIDs: p.AccountIDs, RunID: run.ID}, nil)
		if err != nil {
			return err
		}
		jobID = res.Job.ID
		return nil
	})
	return run, jobID, err
}

type billingRunWorker struct {
	river.WorkerDefaults[BillingRunArgs]
	d *deps
}

func (w *billingRunWorker) Work(ctx context.Context, job *river.Job[BillingRunArgs]) (err error) {
	defer func() { err = pgdb.Wrap(planOp(job.Args), err) }()
	p, err := billing.ParsePeriod(job.Args.Period)
	if err != nil {
		return river.JobCancel(err)
	}
	tx, err := w.d.pool.Begin(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback(context.WithoutCancel(ctx)) //nolint:errcheck // no-op after commit

	runID := job.Args.RunID
	if runID == 0 {
		params := invoices.RunParams{Period: p, AccountIDs: job.Args.AccountIDs, RequestedBy: "job", Location: w.d.cfg.Location, Now: w.d.cfg.now()}
		if job.Args.Scheduled {
			params.ScheduleKey, params.RequestedBy = "monthly:"+p.String(), "schedule"
		}
		run, created, err := invoices.CreateRun(ctx, tx, params)
		var notEnded *billing.PeriodNotEndedError
		if errors.As(err, &notEnded) {
			// Inserted by another service for a month still running:
			// billing it now would charge for usage not yet known.
			w.d.cfg.Logger.WarnContext(ctx, "billing_run refused", "period", p.String(), "error", err)
			return river.JobCancel(err)
		}
		if err != nil {
			return err
		}
		if !created {
			w.d.cfg.Logger.InfoContext(ctx, "scheduled run already exists", "period", p.String(), "run_id", run.ID)
			return complete(ctx, tx, job)
		}
		runID = run.ID
	}
	run, err := invoices.GetRun(ctx, tx, runID)
	if err != nil {
		return river.JobCancel(err)
	}
	if run.State != invoices.RunPending {
		return complete(ctx, tx, job) // planned by an earlier attempt
	}
	shards, err := invoices.PlanRun(ctx, tx, runID, w.d.cfg.ShardSize)
	if err != nil {
		return err
	}
	if len(shards) > 0 {
		params := make([]river.InsertManyParams, len(shards))
		for i, s := range shards {
			params[i] = river.InsertManyParams{Args: DraftShardArgs{RunID: runID, Shard: s.Shard}}
		}
		if _, err := river.ClientFromContext[pgx.Tx](ctx).InsertManyFastTx(ctx, tx, params); err != nil {
			return fmt.Errorf("enqueueing %d shards: %w", len(shards), err)
		}
	}
	// The run's zone, not this worker's: the one every shard bills in.
	w.d.cfg.Logger.InfoContext(ctx, "billing run planned", "run_id", runID, "period", p.String(), "time_zone", run.TimeZone, "shards", len(shards))
	return complete(ctx, tx, job)
}

// planOp names a billing_run job's work for its errors.
func planOp(a BillingRunArgs) string {
	if a.RunID != 0 {
		return fmt.Sprintf("plan run %d", a.RunID)
	}
	return "plan the run of " + a.Period
}

// complete marks job completed in tx and commits.
func complete[T river.JobArgs](ctx context.Context, tx pgx.Tx, job *river.Job[T]) error {
	if _, err := river.JobCompleteTx[*riverpgxv5.Driver](ctx, tx, job); err != nil {
		return err
	}
	return tx.Commit(ctx)
}

type draftShardWorker struct {
	river.WorkerDefaults[DraftShardArgs]
	d *deps
}

func (w *draftShardWorker) Work(ctx context.Context, job *river.Job[DraftShardArgs]) (err error) {
	defer func() { err = pgdb.Wrap(fmt.Sprintf("draft shard %d of run %d", job.Args.Shard, job.Args.RunID), err) }()
	tx, err := w.d.pool.Begin(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback(context.WithoutCancel(ctx)) //nolint:errcheck // no-op after commit
	res, err := invoices.DraftShard(ctx, tx, w.d.cfg.invoices(), job.Args.RunID, job.Args.Shard)
	if err != nil {
		return err
	}
	// The shard that completes the drafting hands over to finalization,
	// in its own transaction: exactly one shard can see the count reach
	// the total.
	if res.LastShard {
		if _, err := river.ClientFromContext[pgx.Tx](ctx).InsertTx(ctx, tx, FinalizeRunArgs{RunID: job.Args.RunID}, nil); err != nil {
			return err
		}
	}
	return complete(ctx, tx, job)
}

type finalizeRunWorker struct {
	river.WorkerDefaults[FinalizeRunArgs]
	d *deps
}

func (w *finalizeRunWorker) Work(ctx context.Context, job *river.Job[FinalizeRunArgs]) (err error) {
	started := time.Now()
	chunks := 0
	defer func() {
		err = pgdb.Wrap(fmt.Sprintf("finalize chunk %d of run %d (this attempt)", chunks, job.Args.RunID), err)
	}()
	if err := analyzeDrafts(ctx, w.d.pool, job.CreatedAt); err != nil {
		return err
	}
	for {
		chunks++
		done, busy, err := w.chunk(ctx, job)
		if err != nil || done {
			return err
		}
		if busy {
			return river.JobSnooze(2 * time.Second)
		}
		if time.Since(started) > w.d.cfg.FinalizeBudget {
			return river.JobSnooze(0)
		}
	}
}

// analyzeDrafts refreshes the statistics of the tables finalization reads.
// The drafts were written seconds ago, faster than autovacuum looks: without
// fresh statistics the planner takes the drafts for a few rows and plans
// nested loops over them. ANALYZE samples a bounded number of rows whatever
// the table size, and blocks no writer, but it still reads and sorts those
// samples (about a second a table at 100,000 invoices): once the job has
// snoozed and resumes, the statistics gathered since the drafting ended
// (the job is created when the last shard commits) still hold, and
// finalizing does not change what the planner needs of them.
func analyzeDrafts(ctx context.Context, db pgdb.DB, drafted time.Time) error {
	var fresh bool
	if err := db.QueryRow(ctx, `
		SELECT coalesce(bool_and(greatest(last_analyze, last_autoanalyze) > $1), false)
		FROM pg_stat_user_tables
		WHERE relid IN ('invoices'::regclass, 'invoice_usage_lines'::regclass, 'referral_rewards'::regclass)
		HAVING count(*) = 3`, drafted).Scan(&fresh); err != nil && !errors.Is(err, pgx.ErrNoRows) {
		return err
	}
	if fresh {
		return nil
	}
	// The usage lines are read by their key alone: the statistics of their
	// arrays' elements would cost the sampling and serve no plan, but their
	// size, refreshed, replaces a plan cached while the table was empty.
	_, err := db.Exec(ctx, `ANALYZE invoices, invoice_usage_lines (invoice_id), referral_rewards`)
	return err
}

// chunk finalizes one chunk in one transaction, with everything that
// follows from it: referral credit in the ledger and, for the last chunk,
// the job's completion.
func (w *finalizeRunWorker) chunk(ctx context.Context, job *river.Job[FinalizeRunArgs]) (done, busy bool, err error) {
	tx, err := w.d.pool.Begin(ctx)
	if err != nil {
		return false, false, err
	}
	defer tx.Rollback(context.WithoutCancel(ctx)) //nolint:errcheck // no-op after commit
	res, err := invoices.FinalizeChunk(ctx, tx, w.d.cfg.invoices(), job.Args.RunID, w.d.cfg.FinalizeChunk)
	if err != nil {
		return false, false, err
	}
	client := river.ClientFromContext[pgx.Tx](ctx)
	// The invoices' invoice_issued events.
	if _, err := Enqueue(ctx, tx, client, res.Effects); err != nil {
		return false, false, err
	}
	var credit billing.Effects
	for _, g := range res.Credits {
		entry, created, err := payments.AddEntry(ctx, tx, payments.NewEntry{
			AccountID: g.AccountID, Kind: payments.EntryReferralReward, Amount: g.Amount, Reference: g.Reference, InvoiceID: g.InvoiceID,
		})
		if err != nil {
			return false, false, err
		}
		if created {
			credit.CollectOpenInvoices = append(credit.CollectOpenInvoices, g.AccountID)
			credit.Timeline = append(credit.Timeline, billing.TimelineEvent{AccountID: g.AccountID, At: entry.CreatedAt, Kind: billing.TimelineCreditAdded, InvoiceID: g.InvoiceID,
				Data: map[string]any{"kind": string(payments.EntryReferralReward), "reference": g.Reference, "amount": billing.FormatMoney(g.Amount)}})
			credit.Events = append(credit.Events, payments.CreditAddedEvent(g.AccountID, entry.CreatedAt, g.Amount, payments.EntryReferralReward, g.Reference))
		}
	}
	if err := w.afterFinalize(ctx, tx, res.Invoices); err != nil {
		return false, false, err
	}
	// The credit's credit_added events, and, since credit pays open
	// invoices (SPEC §5), the collection of the open invoices of the
	// referrers it credited: some may be from earlier months.
	if _, err := Enqueue(ctx, tx, client, credit); err != nil {
		return false, false, err
	}
	defer func() {
		if err == nil {
			countFinalized(res.Invoices)
		}
	}()
	if res.Done {
		return true, false, complete(ctx, tx, job)
	}
	if len(res.Invoices) > 0 {
		w.d.cfg.Logger.InfoContext(ctx, "invoices finalized", "run_id", job.Args.RunID, "count", len(res.Invoices),
			"first", res.Invoices[0].Number, "last", res.Invoices[len(res.Invoices)-1].Number)
	}
	return false, res.Busy, tx.Commit(ctx)
}

// afterFinalize enqueues what follows an invoice's finalization: its first
// collection attempt, at issue time, in batches. The collection asks for
// the PDF once it knows the payment status, so that it is drawn once.
// With BILLING_SEPA_DEBIT_DELAY, the invoices of accounts paying by SEPA
// debit are collected that long after their issue (the invoice email is
// the pre-notification): their collect_at, dunning's t0, says when.
func (w *finalizeRunWorker) afterFinalize(ctx context.Context, tx pgx.Tx, invs []invoices.Finalized) error {
	numbers := make([]string, len(invs))
	for i, inv := range invs {
		numbers[i] = inv.Number
	}
	client := river.ClientFromContext[pgx.Tx](ctx)
	delay := w.d.cfg.SEPADebitDelay
	if delay <= 0 {
		return insertCollections(ctx, tx, client, numbers)
	}
	rows, err := tx.Query(ctx, `
		UPDATE invoices i SET collect_at = i.issued_at + $2::interval
		FROM payment_methods pm
		WHERE i.number = ANY($1) AND pm.account_id = i.account_id AND pm.replaced_at IS NULL AND pm.type = 'sepa_debit'
		RETURNING i.number, i.collect_at`, numbers, delay)
	if err != nil {
		return err
	}
	later := map[string]time.Time{}
	var at time.Time
	for rows.Next() {
		var n string
		var t time.Time
		if err := rows.Scan(&n, &t); err != nil {
			rows.Close()
			return err
		}
		later[n] = t
		at = maxTime(at, t)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	var now, sepa []string
	for _, n := range numbers {
		if _, ok := later[n]; ok {
			sepa = append(sepa, n)
		} else {
			now = append(now, n)
		}
	}
	if err := insertCollections(ctx, tx, client, now); err != nil {
		return err
	}
	return insertCollectionsAt(ctx, tx, client, sepa, at)
}

func maxTime(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

func countFinalized(invs []invoices.Finalized) {
	metrics.InvoicesFinalized.Add(float64(len(invs)))
	for _, inv := range invs {
		metrics.Billed.Add(metrics.Cents(inv.Total))
	}
}
