package main

import (
	"bufio"
	"os"

	"github.com/spf13/cobra"

	"github.com/billingengine/engine/billing"
	"github.com/billingengine/engine/internal/views"
)

func newJournalCmd(a *app) *cobra.Command {
	var period, out string
	cmd := &cobra.Command{
		Use:   "journal --period YYYY-MM [-o FILE]",
		Short: "The sales journal of a month of issue as a FEC file (article A47 A-1 of the LPF)",
		Long: `The sales journal of a month of issue (billing time zone) as a FEC file:
the 18 columns of article A47 A-1 of the LPF, |-separated, dates YYYYMMDD,
amounts with a comma. One balanced entry per invoice and credit note (VE),
per payment received (BQ) and per prepaid credit movement (BQ or OD); the
chart of accounts is in the README ("Sales journal"). Written to stdout, or
to FILE with -o.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			p, err := billing.ParsePeriod(period)
			if err != nil {
				return usagef("--period: expected YYYY-MM, got %q", period)
			}
			pool, err := a.db(cmd.Context())
			if err != nil {
				return err
			}
			j, err := views.GetJournal(cmd.Context(), pool, p, a.cfg.Location)
			if err != nil {
				return err
			}
			if out == "" || out == "-" {
				return views.WriteFEC(a.stdout, j)
			}
			f, err := os.Create(out)
			if err != nil {
				return err
			}
			bw := bufio.NewWriter(f)
			if err := views.WriteFEC(bw, j); err != nil {
				_ = f.Close()
				return err
			}
			if err := bw.Flush(); err != nil {
				_ = f.Close()
				return err
			}
			if err := f.Close(); err != nil {
				return err
			}
			lines := 0
			for _, e := range j.Entries {
				lines += len(e.Lines)
			}
			return writeJSON(a.stdout, map[string]any{"period": j.Period, "file": out, "entries": len(j.Entries), "lines": lines})
		},
	}
	cmd.Flags().StringVar(&period, "period", "", "the month of issue, YYYY-MM (required)")
	cmd.Flags().StringVarP(&out, "output", "o", "", "write the FEC file here (default stdout)")
	_ = cmd.MarkFlagRequired("period")
	return cmd
}
