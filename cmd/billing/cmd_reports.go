package main

import (
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/billingengine/engine/billing"
	"github.com/billingengine/engine/internal/views"
)

func newReceivablesCmd(a *app) *cobra.Command {
	var asOf string
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "receivables [--as-of YYYY-MM-DD] [--json]",
		Short: "What customers owe, by account and age past due (JSON with --json or when stdout is not a terminal)",
		Long: `What customers owe: the open and processing invoices issued on or before
the as-of day (default today, in the billing time zone), by account, with
the amount due in ageing buckets. An invoice is due on its issue date: it
is not_due on that day, then 1_30, 31_60, 61_90 and over_90 days past due.
Statuses are today's: an invoice paid since the as-of day is not listed.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			day := time.Now()
			if asOf != "" {
				d, err := time.ParseInLocation(time.DateOnly, asOf, a.cfg.Location)
				if err != nil {
					return usagef("--as-of: expected a date YYYY-MM-DD, got %q", asOf)
				}
				day = d
			}
			pool, err := a.db(cmd.Context())
			if err != nil {
				return err
			}
			r, err := views.GetReceivables(cmd.Context(), pool, day, a.cfg.Location)
			if err != nil {
				return err
			}
			if a.wantJSON(asJSON) {
				return writeJSON(a.stdout, r)
			}
			return printReceivables(a.stdout, r)
		},
	}
	cmd.Flags().StringVar(&asOf, "as-of", "", "the day to age the invoices at, YYYY-MM-DD (default today)")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}

func printReceivables(w io.Writer, r *views.Receivables) error {
	fmt.Fprintf(w, "receivables as of %s (days past due)\n", r.AsOf)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "account\tinvoices\toverdue\tnot due\t1-30\t31-60\t61-90\t>90\ttotal\t")
	row := func(name string, n, overdue string, b views.Buckets, total billing.Money) {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t\n", name, n, overdue, b.NotDue, b.To30, b.To60, b.To90, b.Over90, total)
	}
	invs, overdue := 0, 0
	for _, a := range r.Accounts {
		row(a.AccountID, fmt.Sprint(a.Invoices), fmt.Sprint(a.Overdue), a.Buckets, a.Total)
		invs += a.Invoices
		overdue += a.Overdue
	}
	row("total", fmt.Sprint(invs), fmt.Sprint(overdue), r.Buckets, r.Total)
	return tw.Flush()
}

func newReportsCmd(a *app) *cobra.Command {
	cmd := &cobra.Command{Use: "reports", Short: "Finance reports: VAT, the sales journal (FEC)"}
	var period string
	var asJSON, asCSV bool
	vat := &cobra.Command{
		Use:   "vat --period YYYY-MM [--json|--csv]",
		Short: "The VAT of the invoices minus credit notes issued in a month, per country, regime and rate",
		Long: `The taxable base (subtotal − discount) and the VAT of the invoices issued in
the month (the month of issue in the billing time zone, not the usage period
billed), minus those of the credit notes issued in it, per buyer country,
VAT regime (domestic, reverse_charge, oss, outside_scope) and rate: the
figures of the French VAT return (domestic, reverse charge, outside the
scope) and of the OSS return (oss, per country).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			p, err := billing.ParsePeriod(period)
			if err != nil {
				return usagef("--period: expected YYYY-MM, got %q", period)
			}
			if asJSON && asCSV {
				return usagef("--json and --csv: choose one")
			}
			pool, err := a.db(cmd.Context())
			if err != nil {
				return err
			}
			r, err := views.GetVATReport(cmd.Context(), pool, p, a.cfg.Location)
			if err != nil {
				return err
			}
			switch {
			case asCSV:
				return views.WriteVATCSV(a.stdout, r)
			case a.wantJSON(asJSON):
				return writeJSON(a.stdout, r)
			}
			return printVAT(a.stdout, r)
		},
	}
	vat.Flags().StringVar(&period, "period", "", "the month of issue, YYYY-MM (required)")
	vat.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	vat.Flags().BoolVar(&asCSV, "csv", false, "print CSV: the rows with a header line")
	_ = vat.MarkFlagRequired("period")
	cmd.AddCommand(vat, newJournalCmd(a))
	return cmd
}

func printVAT(w io.Writer, r *views.VATReport) error {
	fmt.Fprintf(w, "VAT of the documents issued in %s\n", r.Period)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "country\tregime\trate %\tbase\tVAT\t")
	for _, row := range r.Rows {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t\n", row.Country, row.Regime, row.Rate, row.Base, row.VAT)
	}
	fmt.Fprintf(tw, "total\t\t\t%s\t%s\t\n", r.TotalBase, r.TotalVAT)
	return tw.Flush()
}
