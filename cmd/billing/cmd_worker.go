package main

import (
	"context"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/billingengine/engine/jobs"
)

// workerConfig turns the process configuration into the workers'.
func (a *app) workerConfig() jobs.Config {
	c := a.cfg
	return jobs.Config{
		Location:      c.Location,
		SellerCountry: c.SellerCountry,
		VATRates:      c.VATRates,
		ShardSize:     c.ShardSize,
		FinalizeChunk: c.FinalizeChunk,
		Schedule:      c.Schedule,
		JobTimeout:    c.JobTimeout,
		RescueAfter:   c.RescueAfter,
		Logger:        a.log,
	}
}

func newWorkerCmd(a *app) *cobra.Command {
	var untilIdle bool
	var horizon time.Duration
	var httpAddr string
	cmd := &cobra.Command{
		Use:   "worker [--http ADDR] [--until-idle]",
		Short: "Work jobs until stopped (SIGINT/SIGTERM finish the jobs in flight), or until none is due",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if httpAddr != "" {
				return usagef("--http is not available yet")
			}
			ctx := cmd.Context()
			pool, err := a.db(ctx)
			if err != nil {
				return err
			}
			client, err := jobs.NewClient(pool, a.workerConfig())
			if err != nil {
				return err
			}
			// River runs on its own context: a signal asks for a graceful
			// stop below instead of cutting jobs off mid-transaction.
			if err := client.Start(context.WithoutCancel(ctx)); err != nil {
				return err
			}
			a.log.Info("worker started", "until_idle", untilIdle)
			var waitErr error
			if untilIdle {
				waitErr = jobs.WaitIdle(ctx, pool, horizon, 200*time.Millisecond)
			} else {
				<-ctx.Done()
			}
			a.log.Info("worker stopping: finishing the jobs in flight")
			stopCtx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			if err := client.Stop(stopCtx); err != nil {
				a.log.Warn("jobs still running after 30s: cancelling them (they will be retried)", "error", err)
				hard, cancelHard := context.WithTimeout(context.Background(), 10*time.Second)
				defer cancelHard()
				if err := client.StopAndCancel(hard); err != nil {
					return fmt.Errorf("stopping the worker: %w", err)
				}
			}
			if waitErr != nil && ctx.Err() == nil {
				return waitErr
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&untilIdle, "until-idle", false, "exit once no job is due (jobs left running by a killed worker count until rescued)")
	cmd.Flags().DurationVar(&horizon, "idle-horizon", time.Minute, "with --until-idle, scheduled or retrying jobs due within this count as work")
	cmd.Flags().StringVar(&httpAddr, "http", "", "serve the HTTP API on ADDR")
	return cmd
}
