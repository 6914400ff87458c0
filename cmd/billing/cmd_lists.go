package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/billingengine/engine/internal/platform/pgdb"
	"github.com/billingengine/engine/internal/views"
	"github.com/billingengine/engine/invoices"
)

// paramUsage turns a malformed listing filter into a usage error naming
// its flag.
func paramUsage(err error) error {
	var pe *views.ParamError
	if errors.As(err, &pe) {
		return usagef("--%s: %s", pe.Param, pe.Message)
	}
	return err
}

func newAccountsListCmd(a *app) *cobra.Command {
	var status, search string
	var asJSON bool
	list := &cobra.Command{
		Use:   "list [--status active|suspended] [--search TEXT] [--json]",
		Short: "List accounts by id (JSON with --json or when stdout is not a terminal)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			f := views.AccountFilter{Status: views.Status(status), Search: search, Limit: views.MaxLimit}
			if err := f.Validate(); err != nil {
				return paramUsage(err)
			}
			ctx := cmd.Context()
			pool, err := a.db(ctx)
			if err != nil {
				return err
			}
			accs, err := allAccounts(ctx, pool, f)
			if err != nil {
				return err
			}
			if a.wantJSON(asJSON) {
				return writeJSON(a.stdout, accs)
			}
			return printAccounts(a.stdout, accs)
		},
	}
	list.Flags().StringVar(&status, "status", "", "only accounts in this standing: active or suspended")
	list.Flags().StringVar(&search, "search", "", "only accounts whose id, name or email contains TEXT (any case)")
	list.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return list
}

// allAccounts reads every page of a listing.
func allAccounts(ctx context.Context, q pgdb.Executor, f views.AccountFilter) ([]*views.Account, error) {
	out := []*views.Account{}
	for {
		page, err := views.ListAccounts(ctx, q, f)
		if err != nil {
			return nil, err
		}
		out = append(out, page.Data...)
		if page.Next == nil {
			return out, nil
		}
		f.After = *page.Next
	}
}

// allInvoices reads every page of a listing.
func allInvoices(ctx context.Context, q pgdb.Executor, f views.InvoiceFilter) ([]*invoices.Invoice, error) {
	out := []*invoices.Invoice{}
	for {
		page, err := views.ListInvoices(ctx, q, f)
		if err != nil {
			return nil, err
		}
		out = append(out, page.Data...)
		if page.Next == nil {
			return out, nil
		}
		f.After = *page.Next
	}
}

func printAccounts(w io.Writer, accs []*views.Account) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "id\tname\temail\tcountry\tstatus\tcredit\tpayment method")
	for _, a := range accs {
		pm := "-"
		if a.PaymentMethod != nil {
			pm = string(a.PaymentMethod.Type) + " " + a.PaymentMethod.ID
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", a.ID, a.Name, a.Email, a.Country, a.Status, a.CreditBalance, pm)
	}
	return tw.Flush()
}
