package main

import (
	"time"

	"github.com/spf13/cobra"

	"github.com/billingengine/engine/jobs"
)

func newDunningCmd(a *app) *cobra.Command {
	cmd := &cobra.Command{Use: "dunning", Short: "Retries of unpaid invoices and suspension of overdue accounts"}
	var nowFlag string
	run := &cobra.Command{
		Use:   "run [--now T]",
		Short: "Run one dunning pass by hand; --now (sandbox only) makes the pass and its retries see T",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := a.requireCharging(); err != nil {
				return err
			}
			now, simulated := time.Now(), false
			if nowFlag != "" {
				if !a.cfg.Sandbox() {
					return usagef("--now is accepted only in sandbox mode (BILLING_PROCESSOR=sandbox)")
				}
				t, err := time.Parse(time.RFC3339, nowFlag)
				if err != nil {
					return usagef("--now must be an RFC 3339 time such as 2026-11-06T06:00:00Z")
				}
				now, simulated = t, true
			}
			ctx := cmd.Context()
			pool, client, err := a.dbJobs(ctx)
			if err != nil {
				return err
			}
			rep, err := jobs.RunDunningPass(ctx, pool, client, now, simulated)
			if err != nil {
				return err
			}
			return writeJSON(a.stdout, rep)
		},
	}
	run.Flags().StringVar(&nowFlag, "now", "", "the time the pass sees (sandbox only), RFC 3339")
	cmd.AddCommand(run)
	return cmd
}
