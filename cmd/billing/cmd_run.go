package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/spf13/cobra"

	"github.com/billingengine/engine/billing"
	"github.com/billingengine/engine/invoices"
	"github.com/billingengine/engine/jobs"
)

func newRunCmd(a *app) *cobra.Command {
	var period string
	var accountIDs []string
	var wait, dryRun bool
	cmd := &cobra.Command{
		Use:   "run --period YYYY-MM [--account ID ...] [--wait] [--dry-run]",
		Short: "Start a billing run (workers do the work; --wait follows it)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			p, err := billing.ParsePeriod(period)
			if err != nil {
				return usageError{fmt.Errorf("--period: %w", err)}
			}
			ctx := cmd.Context()
			pool, err := a.db(ctx)
			if err != nil {
				return err
			}
			if err := checkAccounts(ctx, pool, accountIDs); err != nil {
				return err
			}
			params := invoices.RunParams{Period: p, AccountIDs: accountIDs, RequestedBy: "cli", Location: a.cfg.Location}
			if dryRun {
				if wait {
					return usagef("--dry-run and --wait don't go together: a dry run starts nothing to wait for")
				}
				preview, err := invoices.DryRun(ctx, pool, a.invoicesConfig(), params)
				if err != nil {
					return err
				}
				if preview.Partial {
					fmt.Fprintf(a.stderr, "preview of %s so far: usage up to %s, the period has not ended\n", preview.Period, preview.AsOf.Format(time.RFC3339))
				}
				fmt.Fprintf(a.stderr, "dry run: %d invoices for %d accounts (%d already invoiced), total %s EUR; nothing was written\n",
					preview.Totals.Invoices, preview.Accounts, preview.AlreadyInvoiced, preview.Totals.Total)
				return writeJSON(a.stdout, preview)
			}
			// The run finalizes and collects: refuse it where a worker
			// would not know where to charge or whom to name as seller.
			if err := a.requireCharging(); err != nil {
				return err
			}
			client, err := jobs.NewInsertClient(pool)
			if err != nil {
				return err
			}
			run, jobID, err := jobs.StartRun(ctx, pool, client, params)
			if err != nil {
				return err
			}
			if !wait {
				return writeJSON(a.stdout, map[string]any{"run_id": run.ID, "job_id": jobID, "period": run.Period, "account_ids": accountIDs})
			}
			final, err := waitRun(ctx, pool, run.ID, a.stderr)
			if final != nil {
				if werr := writeJSON(a.stdout, final); werr != nil {
					return werr
				}
			}
			return err
		},
	}
	cmd.Flags().StringVar(&period, "period", "", "the month to bill, YYYY-MM (required)")
	cmd.Flags().StringSliceVar(&accountIDs, "account", nil, "bill only this account (repeatable)")
	cmd.Flags().BoolVar(&wait, "wait", false, "follow the run on stderr until it is done; exit 1 if it failed")
	cmd.Flags().BoolVar(&dryRun, "dry-run", false, "print what the run would bill, writing nothing")
	_ = cmd.MarkFlagRequired("period")
	return cmd
}

// checkAccounts refuses unknown account ids before anything is written.
func checkAccounts(ctx context.Context, pool *pgxpool.Pool, ids []string) error {
	if len(ids) == 0 {
		return nil
	}
	rows, err := pool.Query(ctx, `SELECT id FROM unnest($1::text[]) AS u(id) WHERE NOT EXISTS (SELECT 1 FROM accounts a WHERE a.id = u.id)`, ids)
	if err != nil {
		return err
	}
	missing, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return err
	}
	if len(missing) > 0 {
		return fmt.Errorf("unknown account %s", strings.Join(missing, ", "))
	}
	return nil
}

// errRunFailed is returned when one of a run's jobs gave up.
var errRunFailed = errors.New("billing run failed")

// waitRun follows a run until it completes, drawing its progress on w. It
// fails when one of the run's jobs was discarded or cancelled.
func waitRun(ctx context.Context, pool *pgxpool.Pool, runID int64, w io.Writer) (*invoices.Run, error) {
	bar := newBar(w)
	defer bar.done()
	start, hinted := time.Now(), false
	for {
		run, err := invoices.GetRun(ctx, pool, runID)
		if err != nil {
			return nil, err
		}
		if run.State == invoices.RunPending && !hinted && time.Since(start) > 15*time.Second {
			// Runs are worked by workers; --wait only watches.
			bar.done()
			fmt.Fprintf(w, "run %d has not started after 15 s: is a worker running? (billing worker)\n", runID)
			hinted = true
		}
		bar.draw(run)
		if run.State == invoices.RunCompleted {
			return run, nil
		}
		failed, err := jobs.RunFailures(ctx, pool, runID)
		if err != nil {
			return nil, err
		}
		if len(failed) > 0 {
			bar.done()
			for _, f := range failed {
				fmt.Fprintf(w, "job %d (%s) %s: %s\n", f.ID, f.Kind, f.State, f.Error)
			}
			return run, fmt.Errorf("%w: run %d", errRunFailed, runID)
		}
		select {
		case <-ctx.Done():
			return run, ctx.Err()
		case <-time.After(250 * time.Millisecond):
		}
	}
}

// bar draws a run's progress: on a terminal one line redrawn in place,
// elsewhere a line whenever it changes, at most every two seconds.
type bar struct {
	w     io.Writer
	tty   bool
	last  string
	at    time.Time
	drawn bool
}

func newBar(w io.Writer) *bar {
	b := &bar{w: w}
	if f, ok := w.(*os.File); ok {
		if st, err := f.Stat(); err == nil && st.Mode()&os.ModeCharDevice != 0 {
			b.tty = true
		}
	}
	return b
}

func (b *bar) draw(r *invoices.Run) {
	const width = 30
	total := r.AccountsTotal + r.InvoicesDrafted
	done := r.AccountsDrafted + r.InvoicesFinalized
	fill := 0
	if total > 0 {
		fill = done * width / total
	}
	if r.State == invoices.RunCompleted {
		fill = width
	}
	line := fmt.Sprintf("run %d %s [%s%s] %s: drafted %d/%d accounts, finalized %d/%d invoices",
		r.ID, r.Period, strings.Repeat("#", fill), strings.Repeat("-", width-fill), r.State,
		r.AccountsDrafted, r.AccountsTotal, r.InvoicesFinalized, r.InvoicesDrafted)
	if line == b.last {
		return
	}
	if b.tty {
		fmt.Fprintf(b.w, "\r%s\x1b[K", line)
		b.drawn = true
	} else if time.Since(b.at) > 2*time.Second || r.State == invoices.RunCompleted {
		fmt.Fprintln(b.w, line)
		b.at = time.Now()
	}
	b.last = line
}

func (b *bar) done() {
	if b.tty && b.drawn {
		fmt.Fprintln(b.w)
		b.drawn = false
	}
}
