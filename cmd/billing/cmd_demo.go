package main

import "github.com/spf13/cobra"

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
