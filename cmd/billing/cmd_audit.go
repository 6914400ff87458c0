package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/billingengine/engine/billing"
	"github.com/billingengine/engine/internal/audit"
)

func newAuditCmd(a *app) *cobra.Command {
	var period string
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "audit [--period YYYY-MM] [--json]",
		Short: "Check the books: one line per violated invariant, exit 1 when any",
		Long: `Check every invariant of the books over one consistent snapshot, reading
only. Each violation is a line "invariant: detail" on stdout; the exit
status is 1 when there is any. --period limits the per-invoice checks to one
period; numbering, charges and prepaid credit are always checked whole.

Invariants:
` + invariantList(),
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if period != "" {
				if _, err := billing.ParsePeriod(period); err != nil {
					return usageError{fmt.Errorf("--period: %w", err)}
				}
			}
			ctx := cmd.Context()
			pool, err := a.db(ctx)
			if err != nil {
				return err
			}
			rep, err := audit.Snapshot(ctx, pool, period)
			if err != nil {
				return err
			}
			if asJSON {
				if err := writeJSON(a.stdout, rep); err != nil {
					return err
				}
			} else {
				for _, v := range rep.Violations {
					fmt.Fprintln(a.stdout, v)
				}
			}
			scope := "every period"
			if period != "" {
				scope = period
			}
			for _, name := range rep.Truncated {
				fmt.Fprintf(a.stderr, "audit: %s has more than %d violations; the first %d are shown\n", name, audit.MaxPerCheck, audit.MaxPerCheck)
			}
			fmt.Fprintf(a.stderr, "audit: %d invariants checked over %s: %d violations\n", len(rep.Checks), scope, len(rep.Violations))
			if len(rep.Violations) > 0 {
				return errSilent
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&period, "period", "", "only this period's invoices, YYYY-MM")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the report as JSON")
	return cmd
}

func invariantList() string {
	s := ""
	for _, c := range audit.Checks {
		s += fmt.Sprintf("  %-40s %s\n", c.Name, c.Doc)
	}
	return s
}
