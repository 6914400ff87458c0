package main

import (
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/spf13/cobra"

	"github.com/billingengine/engine/billing"
	"github.com/billingengine/engine/internal/platform/pgdb"
	"github.com/billingengine/engine/internal/views"
	"github.com/billingengine/engine/invoices"
	"github.com/billingengine/engine/jobs"
	"github.com/billingengine/engine/payments"
)

func newInvoicesCmd(a *app) *cobra.Command {
	cmd := &cobra.Command{Use: "invoices", Short: "Invoices"}

	var period, account, status string
	var overdue, asJSON bool
	list := &cobra.Command{
		Use:   "list [--period YYYY-MM] [--status open|processing|paid|void] [--account ID] [--overdue] [--json]",
		Short: "List finalized invoices by number (JSON with --json or when stdout is not a terminal)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			st, err := views.ParseInvoiceStatus(status)
			if err != nil {
				return paramUsage(err)
			}
			f := views.InvoiceFilter{Period: period, Status: st, AccountID: account, Overdue: overdue, Limit: views.MaxLimit}
			if err := f.Validate(); err != nil {
				return paramUsage(err)
			}
			pool, err := a.db(cmd.Context())
			if err != nil {
				return err
			}
			invs, err := allInvoices(cmd.Context(), pool, f)
			if err != nil {
				return err
			}
			if a.wantJSON(asJSON) {
				return writeJSON(a.stdout, invs)
			}
			return printInvoices(a.stdout, invs)
		},
	}
	list.Flags().StringVar(&period, "period", "", "only this usage period, YYYY-MM")
	list.Flags().StringVar(&status, "status", "", "only invoices in this status: open, processing, paid or void")
	list.Flags().StringVar(&account, "account", "", "only this account's invoices")
	list.Flags().BoolVar(&overdue, "overdue", false, "only overdue invoices (still unpaid once dunning gave up)")
	list.Flags().BoolVar(&asJSON, "json", false, "print JSON")

	var showJSON bool
	show := &cobra.Command{
		Use:   "show NUMBER [--json]",
		Short: "Show an invoice or a credit note",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkText("invoice number", args[0]); err != nil {
				return err
			}
			pool, err := a.db(cmd.Context())
			if err != nil {
				return err
			}
			if invoices.IsCreditNoteNumber(args[0]) {
				cn, err := invoices.GetCreditNote(cmd.Context(), pool, args[0])
				if err != nil {
					return err
				}
				if showJSON {
					return writeJSON(a.stdout, cn)
				}
				return printCreditNote(a.stdout, cn)
			}
			inv, err := payments.GetInvoice(cmd.Context(), pool, args[0])
			if err != nil {
				return err
			}
			if showJSON {
				return writeJSON(a.stdout, inv)
			}
			return printInvoice(a.stdout, inv)
		},
	}
	show.Flags().BoolVar(&showJSON, "json", false, "print JSON")
	var out string
	pdf := &cobra.Command{
		Use:   "pdf NUMBER -o FILE",
		Short: "Write an invoice's or a credit note's PDF (the stored one; rendered now if it hasn't been yet)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.writeDocument(cmd, args[0], out, func(r *invoices.Renderer, pool pgdb.DB) (document, error) {
				p, err := r.EnsurePDF(cmd.Context(), pool, args[0])
				if err != nil {
					return document{}, err
				}
				return document{p.Number, p.Version, p.Bytes, p.SHA256}, nil
			})
		},
	}
	pdf.Flags().StringVarP(&out, "output", "o", "", "where to write the PDF (- for stdout)")

	var xmlOut string
	xml := &cobra.Command{
		Use:   "xml NUMBER -o FILE",
		Short: "Write the e-invoice (Factur-X EN16931 CII XML, SPEC §13) of a business account's invoice or credit note",
		Long: `Write the e-invoice of an invoice or a credit note: the CII XML of
Factur-X 1.09, profile EN16931, stored with the newest version of its PDF
(rendered now if it hasn't been yet). Only business accounts (a VAT number
or a SIREN) have one; a consumer's document exits 1. Check it with the
official validators: third_party/einvoice/validate FILE.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.writeDocument(cmd, args[0], xmlOut, func(r *invoices.Renderer, pool pgdb.DB) (document, error) {
				p, err := r.EnsureXML(cmd.Context(), pool, args[0])
				if err != nil {
					return document{}, err
				}
				return document{p.Number, p.Version, p.XML, p.XMLSHA256()}, nil
			})
		},
	}
	xml.Flags().StringVarP(&xmlOut, "output", "o", "", "where to write the XML (- for stdout)")

	var reason string
	void := &cobra.Command{
		Use:   "void NUMBER --reason TEXT",
		Short: "Void an invoice: a credit note cancels it and what was paid becomes prepaid credit",
		Long: `Void an invoice. The invoice keeps its number and PDF and becomes void; a
credit note CN-YYYY-NNNNNN cancels it, with its own PDF. What was paid on it
goes back to the account's prepaid credit, and a referral reward it earned
is taken back from the referrer. Then bill the period again with
"billing run --period P --account ID" to issue the replacement invoice.
Voiding a void invoice prints its credit note again and changes nothing.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if strings.TrimSpace(reason) == "" {
				return usagef("--reason is required: it is printed on the credit note")
			}
			if err := checkText("invoice number", args[0]); err != nil {
				return err
			}
			if _, err := invoices.ValidateReason(reason); err != nil {
				return fmt.Errorf("--reason: %w", err)
			}
			ctx := cmd.Context()
			pool, client, err := a.dbJobs(ctx)
			if err != nil {
				return err
			}
			v, err := jobs.VoidInvoice(ctx, pool, client, a.invoicesConfig(), invoices.VoidParams{Number: args[0], Reason: reason, RequestedBy: "cli"}, time.Now())
			if err != nil {
				return err
			}
			if v.AlreadyVoid {
				fmt.Fprintf(a.stderr, "%s was already void (%s): nothing changed\n", v.Invoice.Number, v.CreditNote.Number)
			}
			return writeJSON(a.stdout, v)
		},
	}
	void.Flags().StringVar(&reason, "reason", "", "why (printed on the credit note)")

	var renderPeriod string
	render := &cobra.Command{
		Use:   "render NUMBER... | --period YYYY-MM",
		Short: "Render new versions of documents (after a font or template fix); what they say never changes",
		Long: `Render invoices and credit notes again, from what they show as issued (the
buyer, lines and amounts stored at finalization), and store each as a new
version when its bytes differ from its newest one: after a font or
template fix. Earlier versions stay; "billing invoices pdf" serves the
newest. --period renders every invoice of the period and the credit notes
that cancel them. A void invoice keeps the PDF it was issued with.
Prints {"documents": [{"number", "version", "new", "sha256", "kept"}], "new": N}.`,
		RunE: func(cmd *cobra.Command, args []string) error {
			if (renderPeriod == "") == (len(args) == 0) {
				return usagef("give invoice or credit note numbers, or --period YYYY-MM")
			}
			for _, n := range args {
				if err := checkText("invoice number", n); err != nil {
					return err
				}
			}
			ctx := cmd.Context()
			pool, err := a.db(ctx)
			if err != nil {
				return err
			}
			numbers := args
			if renderPeriod != "" {
				p, err := billing.ParsePeriod(renderPeriod)
				if err != nil {
					return usageError{fmt.Errorf("--period: %w", err)}
				}
				if numbers, err = invoices.DocumentNumbers(ctx, pool, p); err != nil {
					return err
				}
			}
			r, err := a.renderer()
			if err != nil {
				return err
			}
			docs, err := r.Rerender(ctx, pool, numbers)
			if err != nil {
				return err
			}
			fresh := 0
			for _, d := range docs {
				if d.New {
					fresh++
				}
			}
			return writeJSON(a.stdout, map[string]any{"documents": docs, "new": fresh})
		},
	}
	render.Flags().StringVar(&renderPeriod, "period", "", "render every document of the period, YYYY-MM")

	cmd.AddCommand(list, show, pdf, xml, void, render)
	return cmd
}

// checkText refuses an argument that can name nothing: identifiers and
// references are printable UTF-8 text, and Postgres would answer a NUL or
// invalid UTF-8 with an error about encodings instead of "not found".
func checkText(what, v string) error {
	if !utf8.ValidString(v) {
		return fmt.Errorf("%s %q is not valid UTF-8 text", what, v)
	}
	if strings.ContainsFunc(v, unicode.IsControl) {
		return fmt.Errorf("%s %q contains control characters", what, v)
	}
	return nil
}

func printCreditNote(w io.Writer, c *invoices.CreditNote) error {
	fmt.Fprintf(w, "%s  %s  %s  issued %s  cancels %s\n  reason: %s\n", c.Number, c.AccountID, c.Period, c.IssuedAt.Format("2006-01-02"), c.InvoiceNumber, c.Reason)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(tw, "  subtotal\t%s\t\n  discount\t%s\t\n  VAT %s %%\t%s\t\n  total EUR\t%s\t\n  refunded to credit\t%s\t\n",
		c.Subtotal, c.Discount, c.TaxRate, c.Tax, c.Total, c.Refunded)
	return tw.Flush()
}

func printInvoices(w io.Writer, invs []*invoices.Invoice) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "number\taccount\tperiod\tsubtotal\tdiscount\tVAT %\ttax\ttotal\tpaid\tstatus\t")
	for _, i := range invs {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t\n", i.Number, i.AccountID, i.Period, i.Subtotal, i.Discount, i.TaxRate, i.Tax, i.Total, i.AmountPaid, i.Status)
	}
	return tw.Flush()
}

func printInvoice(w io.Writer, i *invoices.Invoice) error {
	fmt.Fprintf(w, "%s  %s  %s  issued %s  %s\n", i.Number, i.AccountID, i.Period, i.IssuedAt.Format("2006-01-02"), i.Status)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	for _, l := range i.Lines {
		switch l.Type {
		case billing.LineUsage:
			fmt.Fprintf(tw, "  %s\t%s\t%s h\t%s\t\n", l.App, l.Resource, l.Hours, l.Amount)
		case billing.LineReferral:
			fmt.Fprintf(tw, "  referral\t%s\t\t%s\t\n", l.RefereeAccountID, l.Amount)
		case billing.LineReferralCarryover:
			fmt.Fprintf(tw, "  referral carry-over\tto prepaid credit\t\t%s\t\n", l.Amount)
		case billing.LineReferralReversal:
			fmt.Fprintf(tw, "  referral taken back\t%s\t\t%s\t\n", l.RefereeAccountID, l.Amount)
		}
	}
	if i.CreditNote != "" {
		fmt.Fprintf(tw, "  cancelled by\t%s\t\t\t\n", i.CreditNote)
	}
	fmt.Fprintf(tw, "  subtotal\t\t\t%s\t\n  discount\t\t\t%s\t\n  VAT %s %%\t\t\t%s\t\n  total EUR\t\t\t%s\t\n  paid\t\t\t%s\t\n  due\t\t\t%s\t\n",
		i.Subtotal, i.Discount, i.TaxRate, i.Tax, i.Total, i.AmountPaid, i.AmountDue)
	return tw.Flush()
}

// document is one stored rendering of an invoice or a credit note: its PDF
// or its e-invoice.
type document struct {
	number  string
	version int
	bytes   []byte
	sha256  string
}

// writeDocument writes what load returns to out (- for stdout) and, to a
// file, prints what was written: the pdf and xml commands alike.
func (a *app) writeDocument(cmd *cobra.Command, number, out string, load func(*invoices.Renderer, pgdb.DB) (document, error)) error {
	if out == "" {
		return usagef("-o FILE is required (- for stdout)")
	}
	if err := checkText("invoice number", number); err != nil {
		return err
	}
	pool, err := a.db(cmd.Context())
	if err != nil {
		return err
	}
	r, err := a.renderer()
	if err != nil {
		return err
	}
	d, err := load(r, pool)
	if err != nil {
		return err
	}
	if out == "-" {
		_, err = a.stdout.Write(d.bytes)
		return err
	}
	if err := os.WriteFile(out, d.bytes, 0o644); err != nil {
		return err
	}
	return writeJSON(a.stdout, map[string]any{"number": d.number, "file": out, "bytes": len(d.bytes), "sha256": d.sha256, "version": d.version})
}
