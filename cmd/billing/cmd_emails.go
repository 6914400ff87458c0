package main

import (
	"fmt"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/billingengine/engine/internal/notify"
)

func newEmailsCmd(a *app) *cobra.Command {
	cmd := &cobra.Command{Use: "emails", Short: "Customer emails: the outbox, one row per (event, template) (SPEC §12)"}
	var account, state string
	var asJSON bool
	list := &cobra.Command{
		Use:   "list [--account ID] [--state pending|sent|failed|unsent] [--json]",
		Short: "List emails in the order they were written, with state, attempts and last error (JSON unless stdout is a terminal)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if account != "" {
				if err := checkText("--account", account); err != nil {
					return err
				}
			}
			if state != "" && !notify.EmailState(state).Valid() {
				return usagef("--state: %q is not pending, sent, failed or unsent", state)
			}
			pool, err := a.db(cmd.Context())
			if err != nil {
				return err
			}
			ms, err := notify.Emails(cmd.Context(), pool, notify.EmailParams{AccountID: account, State: notify.EmailState(state)})
			if err != nil {
				return err
			}
			if a.wantJSON(asJSON) {
				if ms == nil {
					ms = []notify.Email{}
				}
				return writeJSON(a.stdout, ms)
			}
			tw := tabwriter.NewWriter(a.stdout, 0, 0, 2, ' ', 0)
			fmt.Fprintln(tw, "id\taccount\ttemplate\tevent\tstate\tattempts\tnext attempt\tsent at\tlast error")
			for _, m := range ms {
				fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%d\t%s\t%s\t%s\n", m.ID, m.AccountID, m.Template, m.EventID, m.State, m.Attempts,
					optTime(m.NextAttemptAt), optTime(m.SentAt), m.LastError)
			}
			return tw.Flush()
		},
	}
	list.Flags().StringVar(&account, "account", "", "only this account's")
	list.Flags().StringVar(&state, "state", "", "pending, sent, failed or unsent")
	list.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	cmd.AddCommand(list)
	return cmd
}
