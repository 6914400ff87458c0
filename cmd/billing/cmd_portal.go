package main

import (
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/billingengine/engine/internal/portal"
)

func newPortalCmd(a *app) *cobra.Command {
	cmd := &cobra.Command{Use: "portal", Short: "The customer's billing pages (SPEC §14)"}
	var ttl time.Duration
	var asJSON bool
	u := &cobra.Command{
		Use:   "url ACCOUNT_ID [--ttl 1h] [--json]",
		Short: "Print a one-time link into the account's billing pages, valid --ttl",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if ttl <= 0 || ttl > portal.MaxLinkTTL {
				return usagef("--ttl: a duration between 1s and %s", portal.MaxLinkTTL)
			}
			if err := a.cfg.RequirePortal(); err != nil {
				return usageError{err}
			}
			ctx := cmd.Context()
			pool, err := a.db(ctx)
			if err != nil {
				return err
			}
			if err := checkAccounts(ctx, pool, args); err != nil {
				return err
			}
			l, err := portal.CreateLink(ctx, pool, args[0], ttl, time.Now())
			if err != nil {
				return err
			}
			link := portal.LoginURL(a.cfg.PortalURL, l.Token)
			if a.wantJSON(asJSON) {
				return writeJSON(a.stdout, map[string]any{"url": link, "expires_at": l.ExpiresAt})
			}
			fmt.Fprintln(a.stdout, link)
			fmt.Fprintf(a.stderr, "usable once, until %s\n", l.ExpiresAt.Format(time.RFC3339))
			return nil
		},
	}
	u.Flags().DurationVar(&ttl, "ttl", portal.DefaultLinkTTL, "how long the link is valid")
	u.Flags().BoolVar(&asJSON, "json", false, `print {"url":"…","expires_at":"…"}`)
	cmd.AddCommand(u)
	return cmd
}
