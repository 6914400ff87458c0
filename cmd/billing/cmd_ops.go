package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/riverqueue/river/rivertype"
	"github.com/spf13/cobra"

	"github.com/billingengine/engine/invoices"
	"github.com/billingengine/engine/jobs"
)

// wantJSON decides a listing's form: JSON when asked, or when stdout is not
// a terminal (a pipe, a file, a program); a table for a person.
func (a *app) wantJSON(asked bool) bool {
	if asked {
		return true
	}
	f, ok := a.stdout.(*os.File)
	if !ok {
		return true
	}
	st, err := f.Stat()
	return err != nil || st.Mode()&os.ModeCharDevice == 0
}

func newRunsCmd(a *app) *cobra.Command {
	cmd := &cobra.Command{Use: "runs", Short: "Billing runs: what ran, what is running, what failed"}
	var listJSON bool
	var limit int
	list := &cobra.Command{
		Use:   "list [--limit N] [--json]",
		Short: "List runs, newest first (JSON unless stdout is a terminal)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			pool, err := a.db(cmd.Context())
			if err != nil {
				return err
			}
			runs, err := invoices.ListRuns(cmd.Context(), pool, limit)
			if err != nil {
				return err
			}
			if a.wantJSON(listJSON) {
				return writeJSON(a.stdout, runs)
			}
			tw := tabwriter.NewWriter(a.stdout, 0, 0, 2, ' ', 0)
			fmt.Fprintln(tw, "id\tperiod\tscope\tby\tstate\tshards\tinvoices\tcreated\tfinished")
			for _, r := range runs {
				fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%d/%d\t%d/%d\t%s\t%s\n", r.ID, r.Period, scopeText(r.AccountIDs), r.RequestedBy, r.State,
					r.ShardsDone, r.ShardsTotal, r.InvoicesFinalized, r.InvoicesDrafted, r.CreatedAt.Format(time.RFC3339), optTime(r.FinishedAt))
			}
			return tw.Flush()
		},
	}
	list.Flags().BoolVar(&listJSON, "json", false, "print JSON")
	list.Flags().IntVar(&limit, "limit", 50, "how many runs")

	var showJSON bool
	show := &cobra.Command{
		Use:   "show ID [--json]",
		Short: "Show a run: progress, invoices by status, jobs by state, failures with their errors",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			id, err := strconv.ParseInt(args[0], 10, 64)
			if err != nil {
				return usagef("ID must be a run id (billing runs list)")
			}
			pool, err := a.db(cmd.Context())
			if err != nil {
				return err
			}
			r, err := jobs.Report(cmd.Context(), pool, id)
			if err != nil {
				return err
			}
			if showJSON {
				return writeJSON(a.stdout, r)
			}
			return printRunReport(a.stdout, r)
		},
	}
	show.Flags().BoolVar(&showJSON, "json", false, "print JSON")
	cmd.AddCommand(list, show)
	return cmd
}

func scopeText(ids []string) string {
	switch {
	case ids == nil:
		return "all accounts"
	case len(ids) <= 3:
		return strings.Join(ids, ",")
	default:
		return fmt.Sprintf("%d accounts", len(ids))
	}
}

func printRunReport(w io.Writer, r *jobs.RunReport) error {
	fmt.Fprintf(w, "run %d  %s  %s  requested by %s  %s\n", r.ID, r.Period, scopeText(r.AccountIDs), r.RequestedBy, r.State)
	fmt.Fprintf(w, "  shards %d/%d  accounts %d/%d  invoices finalized %d/%d  billed %s EUR\n",
		r.ShardsDone, r.ShardsTotal, r.AccountsDrafted, r.AccountsTotal, r.InvoicesFinalized, r.InvoicesDrafted, r.Billed)
	fmt.Fprintf(w, "  invoices: %d open, %d processing, %d paid, %d void, %d draft\n", r.InvoicesByStatus["open"],
		r.InvoicesByStatus["processing"], r.InvoicesByStatus["paid"], r.InvoicesByStatus["void"], r.InvoicesByStatus["draft"])
	for kind, states := range r.Jobs {
		var parts []string
		for s, n := range states {
			parts = append(parts, fmt.Sprintf("%d %s", n, s))
		}
		fmt.Fprintf(w, "  jobs %s: %s\n", kind, strings.Join(parts, ", "))
	}
	for _, f := range r.Failures {
		if f.AccountID != "" {
			fmt.Fprintf(w, "  FAILED account %s (not billed, the rest was): %s\n", f.AccountID, f.Error)
			continue
		}
		fmt.Fprintf(w, "  FAILED job %d (%s, %s): %s\n", f.ID, f.Kind, f.State, f.Error)
	}
	for _, f := range r.Retrying {
		fmt.Fprintf(w, "  retrying job %d (%s): %s\n", f.ID, f.Kind, f.Error)
	}
	return nil
}

func newJobsCmd(a *app) *cobra.Command {
	cmd := &cobra.Command{Use: "jobs", Short: "River jobs: list, retry, cancel (what the River UI does)"}
	var states, kinds []string
	var limit int
	var listJSON bool
	list := &cobra.Command{
		Use:   "list [--state S] [--kind K] [--limit N] [--json]",
		Short: "List jobs, newest first (JSON unless stdout is a terminal)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var st []rivertype.JobState
			for _, s := range states {
				ok := false
				for _, known := range jobs.JobStates {
					ok = ok || string(known) == s
				}
				if !ok {
					return usagef("--state %q: one of available, cancelled, completed, discarded, pending, retryable, running, scheduled", s)
				}
				st = append(st, rivertype.JobState(s))
			}
			_, client, err := a.dbJobs(cmd.Context())
			if err != nil {
				return err
			}
			list, err := jobs.ListJobs(cmd.Context(), client, st, kinds, limit)
			if err != nil {
				return err
			}
			if a.wantJSON(listJSON) {
				return writeJSON(a.stdout, list)
			}
			tw := tabwriter.NewWriter(a.stdout, 0, 0, 2, ' ', 0)
			fmt.Fprintln(tw, "id\tkind\tstate\tattempt\tqueue\targs\tlast error")
			for _, j := range list {
				fmt.Fprintf(tw, "%d\t%s\t%s\t%d/%d\t%s\t%s\t%s\n", j.ID, j.Kind, j.State, j.Attempt, j.MaxAttempts, j.Queue, j.Args, firstLine(j.LastError))
			}
			return tw.Flush()
		},
	}
	list.Flags().StringSliceVar(&states, "state", nil, "only jobs in this state (repeatable)")
	list.Flags().StringSliceVar(&kinds, "kind", nil, "only jobs of this kind (repeatable)")
	list.Flags().IntVar(&limit, "limit", 100, "how many jobs")
	list.Flags().BoolVar(&listJSON, "json", false, "print JSON")

	each := func(use, short string, do func(cmd *cobra.Command, client *jobs.Client, id int64) (jobs.JobView, error)) *cobra.Command {
		return &cobra.Command{
			Use:   use + " ID...",
			Short: short,
			Args:  cobra.MinimumNArgs(1),
			RunE: func(cmd *cobra.Command, args []string) error {
				ids := make([]int64, len(args))
				for i, s := range args {
					id, err := strconv.ParseInt(s, 10, 64)
					if err != nil {
						return usagef("%q is not a job id", s)
					}
					ids[i] = id
				}
				_, client, err := a.dbJobs(cmd.Context())
				if err != nil {
					return err
				}
				out := []jobs.JobView{}
				var failed error
				for _, id := range ids {
					j, err := do(cmd, client, id)
					if err != nil {
						fmt.Fprintf(a.stderr, "job %d: %v\n", id, err)
						failed = errors.Join(failed, err)
						continue
					}
					out = append(out, j)
				}
				if err := writeJSON(a.stdout, out); err != nil {
					return err
				}
				if failed != nil {
					return errSilent
				}
				return nil
			},
		}
	}
	retry := each("retry", "Make jobs available again now (a discarded or cancelled job gets one more attempt)",
		func(cmd *cobra.Command, c *jobs.Client, id int64) (jobs.JobView, error) {
			return jobs.RetryJob(cmd.Context(), c, id)
		})
	cancel := each("cancel", "Cancel jobs (a running job stops when its worker sees it)",
		func(cmd *cobra.Command, c *jobs.Client, id int64) (jobs.JobView, error) {
			return jobs.CancelJob(cmd.Context(), c, id)
		})
	cmd.AddCommand(list, retry, cancel)
	return cmd
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(s, "\n")
	if len(s) > 100 {
		s = s[:100] + "…"
	}
	return s
}
