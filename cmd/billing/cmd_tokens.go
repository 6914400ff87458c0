package main

import (
	"fmt"
	"strconv"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/billingengine/engine/internal/platform/auth"
)

func newTokensCmd(a *app) *cobra.Command {
	cmd := &cobra.Command{Use: "tokens", Short: "API tokens"}

	var name, scope string
	var asJSON bool
	create := &cobra.Command{
		Use:   "create --name NAME --scope finance|service|account:ID [--json]",
		Short: "Create a token and print it, once (only its hash is kept)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			sc, err := auth.ParseScope(scope)
			if err != nil {
				return usageError{err}
			}
			if name == "" {
				return usagef("--name is required")
			}
			ctx := cmd.Context()
			pool, err := a.db(ctx)
			if err != nil {
				return err
			}
			if id, ok := sc.Account(); ok {
				if err := checkAccounts(ctx, pool, []string{id}); err != nil {
					return err
				}
			}
			t, secret, err := auth.Create(ctx, pool, name, sc)
			if err != nil {
				return err
			}
			if asJSON {
				return writeJSON(a.stdout, map[string]any{"token": secret, "id": t.ID, "name": t.Name, "scope": t.Scope})
			}
			fmt.Fprintln(a.stdout, secret)
			fmt.Fprintf(a.stderr, "token %d (%s, scope %s): shown once, keep it now\n", t.ID, t.Name, t.Scope)
			return nil
		},
	}
	create.Flags().StringVar(&name, "name", "", "what the token is for (required)")
	create.Flags().StringVar(&scope, "scope", "", "finance, service or account:ID (required)")
	create.Flags().BoolVar(&asJSON, "json", false, `print {"token":"…"}`)
	_ = create.MarkFlagRequired("name")
	_ = create.MarkFlagRequired("scope")

	var listJSON bool
	list := &cobra.Command{
		Use:   "list [--json]",
		Short: "List tokens, never their secrets (JSON unless stdout is a terminal)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			pool, err := a.db(cmd.Context())
			if err != nil {
				return err
			}
			tokens, err := auth.List(cmd.Context(), pool)
			if err != nil {
				return err
			}
			if a.wantJSON(listJSON) {
				if tokens == nil {
					tokens = []auth.Token{}
				}
				return writeJSON(a.stdout, tokens)
			}
			tw := tabwriter.NewWriter(a.stdout, 0, 0, 2, ' ', 0)
			fmt.Fprintln(tw, "id\tname\tscope\tprefix\tcreated\tlast used\trevoked")
			for _, t := range tokens {
				fmt.Fprintf(tw, "%d\t%s\t%s\t%s…\t%s\t%s\t%s\n", t.ID, t.Name, t.Scope, t.Prefix, t.CreatedAt.Format("2006-01-02"), optTime(t.LastUsedAt), optTime(t.RevokedAt))
			}
			return tw.Flush()
		},
	}
	list.Flags().BoolVar(&listJSON, "json", false, "print JSON")

	revoke := &cobra.Command{
		Use:   "revoke ID",
		Short: "Revoke a token",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			id, err := strconv.ParseInt(args[0], 10, 64)
			if err != nil {
				return usagef("ID must be a token id (billing tokens list)")
			}
			pool, err := a.db(cmd.Context())
			if err != nil {
				return err
			}
			t, err := auth.Revoke(cmd.Context(), pool, id)
			if err != nil {
				return err
			}
			return writeJSON(a.stdout, t)
		},
	}
	cmd.AddCommand(create, list, revoke)
	return cmd
}

func optTime(t *time.Time) string {
	if t == nil {
		return "-"
	}
	return t.UTC().Format(time.RFC3339)
}
