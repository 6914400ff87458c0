package main

import (
	"context"
	"io"

	"github.com/jackc/pgx/v5"
	"github.com/shopspring/decimal"
	"github.com/spf13/cobra"

	"github.com/billingengine/engine/cmd/billing/internal/demo"
	"github.com/billingengine/engine/internal/platform/config"
	"github.com/billingengine/engine/jobs"
	"github.com/billingengine/engine/payments"
)

func newDemoCmd(a *app) *cobra.Command {
	var out string
	cmd := &cobra.Command{
		Use:   "demo [--out DIR]",
		Short: "Migrate, load the bundled sample data, bill it, tell a dunning story and write the PDFs",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runDemo(cmd.Context(), a, out)
		},
	}
	cmd.Flags().StringVar(&out, "out", "out", "where to write the invoices' PDFs (empty: nowhere)")
	return cmd
}

// runDemo checks that the demo can run here and hands it the commands'
// pieces it acts with (see demo.Config).
func runDemo(ctx context.Context, a *app, outDir string) error {
	// The demo buys credit, charges cards and moves the clock: only where
	// no money can move.
	if err := a.cfg.RequireProcessor(); err != nil {
		return usageError{err}
	}
	if !a.cfg.Sandbox() || a.cfg.PayPal != config.PayPalSandbox {
		return usagef("billing demo runs in sandbox mode only: set BILLING_PROCESSOR=sandbox and BILLING_PAYPAL=sandbox (make demo does)")
	}
	if err := a.requireCharging(); err != nil {
		return err
	}
	a.migrating = true // the demo migrates its database itself
	pool, err := a.db(ctx)
	if err != nil {
		return err
	}
	_, sepaDelaySet := a.lookup("SANDBOX_SEPA_DELAY")
	return demo.Run(ctx, demo.Config{
		Pool:         pool,
		Stdout:       a.stdout,
		Stderr:       a.stderr,
		Worker:       func() (jobs.Config, error) { return a.workerConfig(pool) },
		SEPADelaySet: sepaDelaySet,
		Location:     a.cfg.Location,
		Invoices:     a.invoicesConfig(),
		OutDir:       outDir,
		MailDir:      a.cfg.SMTP.Dir,
		AddCredit: func(ctx context.Context, client *jobs.Client, accountID string, kind payments.EntryKind, amount decimal.Decimal, ledgerRef, shownRef string) error {
			_, err := addCredit(ctx, pool, client, accountID, kind, amount, ledgerRef, shownRef)
			return err
		},
		MethodsChanged: func(ctx context.Context, tx pgx.Tx, client *jobs.Client, accountIDs []string) error {
			_, err := methodsChanged(ctx, tx, client, accountIDs)
			return err
		},
		WaitRun: func(ctx context.Context, runID int64) error {
			_, err := waitRun(ctx, pool, runID, io.Discard)
			return err
		},
		PrintInvoices: printInvoices,
	})
}
