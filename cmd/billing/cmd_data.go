package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/spf13/cobra"

	"github.com/billingengine/engine/billing"
	"github.com/billingengine/engine/internal/accounts"
	"github.com/billingengine/engine/internal/ingest"
	"github.com/billingengine/engine/internal/platform/config"
	"github.com/billingengine/engine/internal/platform/pgdb"
	"github.com/billingengine/engine/internal/views"
	"github.com/billingengine/engine/jobs"
	"github.com/billingengine/engine/payments"
	"github.com/billingengine/engine/payments/stripe"
)

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(v)
}

func newMigrateCmd(a *app) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "migrate [--json]",
		Short: "Apply River's and the engine's migrations (idempotent, safe to run concurrently)",
		Long: `Apply River's and the engine's migrations. Prints one line saying what was
applied; --json lists every migration applied ({"applied":[{"source":…,
"version":…,"name":…}]}). Running it again applies nothing.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			a.migrating = true
			pool, err := a.db(cmd.Context())
			if err != nil {
				return err
			}
			applied, err := pgdb.Migrate(cmd.Context(), pool)
			if err != nil {
				return err
			}
			if applied == nil {
				applied = []pgdb.Migration{}
			}
			if asJSON {
				return writeJSON(a.stdout, map[string]any{"applied": applied})
			}
			fmt.Fprintln(a.stdout, migrateSummary(applied))
			return nil
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "list the migrations applied as JSON")
	return cmd
}

// migrateSummary is migrate's one line: how many migrations of each
// source were applied, up to which version.
func migrateSummary(applied []pgdb.Migration) string {
	if len(applied) == 0 {
		return "schema up to date: nothing to apply"
	}
	var parts []string
	for _, src := range []string{"river", "billing"} {
		n, last := 0, pgdb.Migration{}
		for _, m := range applied {
			if m.Source == src {
				n++
				last = m
			}
		}
		switch {
		case n == 0:
		case src == "river":
			parts = append(parts, fmt.Sprintf("%d River migrations (to version %d)", n, last.Version))
		default:
			parts = append(parts, fmt.Sprintf("%d billing migrations (to %04d_%s)", n, last.Version, last.Name))
		}
	}
	return "applied " + strings.Join(parts, " and ") + ": schema up to date"
}

// importFlags are shared by the three import commands.
type importFlags struct {
	skipInvalid bool
	format      string
}

func (f *importFlags) register(cmd *cobra.Command) {
	cmd.Flags().BoolVar(&f.skipInvalid, "skip-invalid", false, "import the valid lines and report the others instead of rejecting the file")
	cmd.Flags().StringVar(&f.format, "format", "", "ndjson or csv (default: from the file extension, else the content)")
}

// runImport opens FILE ("-" for stdin), runs do with the shared options and
// prints problems as FILE:LINE: message on stderr and the result as JSON.
func runImport(a *app, cmd *cobra.Command, file string, f *importFlags,
	do func(ctx context.Context, pool pgdb.DB, r io.Reader, o ingest.Options) (*ingest.Result, error)) error {
	if f.format != "" && f.format != string(ingest.FormatNDJSON) && f.format != string(ingest.FormatCSV) {
		return usagef("--format must be ndjson or csv")
	}
	r := io.Reader(a.stdin)
	if file != "-" {
		fh, err := os.Open(file)
		if err != nil {
			return err
		}
		defer fh.Close() //nolint:errcheck // read only: nothing to flush
		r = fh
	}
	pool, err := a.db(cmd.Context())
	if err != nil {
		return err
	}
	prog := newProgress(a.stderr, file)
	o := ingest.Options{
		Name:        file,
		Format:      ingest.Format(f.format),
		SkipInvalid: f.skipInvalid,
		Report:      func(p ingest.Problem) { fmt.Fprintln(a.stderr, p.String(file)) },
		Progress:    prog.lines,
	}
	res, err := do(cmd.Context(), pool, r, o)
	prog.done()
	if err != nil {
		return err
	}
	return writeJSON(a.stdout, res)
}

func newCatalogCmd(a *app) *cobra.Command {
	cmd := &cobra.Command{Use: "catalog", Short: "The price catalog"}
	var f importFlags
	imp := &cobra.Command{
		Use:   "import FILE",
		Short: "Import prices (NDJSON or CSV); a new price is a line with a later effective_from",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runImport(a, cmd, args[0], &f, ingest.ImportCatalog)
		},
	}
	f.register(imp)
	cmd.AddCommand(imp)
	return cmd
}

func newUsageCmd(a *app) *cobra.Command {
	cmd := &cobra.Command{Use: "usage", Short: "Usage segments"}
	var f importFlags
	imp := &cobra.Command{
		Use:   "import FILE",
		Short: "Import usage segments (NDJSON or CSV)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runImport(a, cmd, args[0], &f, ingest.ImportUsage)
		},
	}
	f.register(imp)
	cmd.AddCommand(imp)
	return cmd
}

func newAccountsCmd(a *app) *cobra.Command {
	cmd := &cobra.Command{Use: "accounts", Short: "Customer accounts"}

	var f importFlags
	imp := &cobra.Command{
		Use:   "import FILE",
		Short: "Import (upsert) accounts (NDJSON or CSV)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runImport(a, cmd, args[0], &f, func(ctx context.Context, pool pgdb.DB, r io.Reader, o ingest.Options) (*ingest.Result, error) {
				p, err := a.db(ctx)
				if err != nil {
					return nil, err
				}
				client, err := jobs.NewInsertClient(p)
				if err != nil {
					return nil, err
				}
				return ingest.ImportAccounts(ctx, pool, r, ingest.AccountsOptions{Options: o,
					MethodsChanged: func(ctx context.Context, tx pgx.Tx, ids []string) error {
						_, err := methodsChanged(ctx, tx, client, ids)
						return err
					},
					Apply: func(ctx context.Context, tx pgx.Tx, e billing.Effects) error {
						_, err := jobs.Enqueue(ctx, tx, client, e)
						return err
					},
					VATChecker: a.vatChecker(),
				})
			})
		},
	}
	f.register(imp)

	var asJSON bool
	show := &cobra.Command{
		Use:   "show ID",
		Short: "Show an account",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			pool, err := a.db(cmd.Context())
			if err != nil {
				return err
			}
			acc, err := views.GetAccount(cmd.Context(), pool, args[0])
			if err != nil {
				return err
			}
			if asJSON {
				return writeJSON(a.stdout, acc)
			}
			return printAccount(a.stdout, acc)
		},
	}
	show.Flags().BoolVar(&asJSON, "json", false, "print JSON")

	var pmType, pmID string
	setPM := &cobra.Command{
		Use:   "set-payment-method ID --type card|sepa_debit --id PM",
		Short: "Make a payment method the account's current one",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			t := payments.MethodType(pmType)
			if !t.Valid() {
				return usagef("--type must be card or sepa_debit")
			}
			if pmID == "" {
				return usagef("--id is required")
			}
			// With Stripe the method is set up there; either way a new
			// method pays the open invoices, so the processor must be known.
			if err := a.cfg.RequireProcessor(); err != nil {
				return usageError{err}
			}
			ctx := cmd.Context()
			pool, err := a.db(ctx)
			if err != nil {
				return err
			}
			if _, err := views.GetAccount(ctx, pool, args[0]); err != nil {
				return err
			}
			method := payments.Method{Type: t, ID: pmID}
			// With Stripe, the method is first set up for off-session use
			// (for SEPA, that creates the mandate).
			var mandate string
			if a.cfg.Processor == config.ProcessorStripe {
				if mandate, err = stripe.New(pool, stripe.Config{SecretKey: a.cfg.StripeSecretKey, URL: a.cfg.StripeAPIURL}).SetUp(ctx, args[0], method); err != nil {
					return err
				}
			}
			client, err := jobs.NewInsertClient(pool)
			if err != nil {
				return err
			}
			var changed []string
			collections := 0
			err = pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
				res, err := payments.ChangeMethods(ctx, tx, []payments.MethodChange{{AccountID: args[0], Method: method}}, time.Now())
				if err != nil {
					return err
				}
				changed = res.Accounts
				if mandate != "" {
					if _, err := tx.Exec(ctx, `UPDATE payment_methods SET mandate_id = $2 WHERE account_id = $1 AND replaced_at IS NULL`, args[0], mandate); err != nil {
						return err
					}
				}
				// A new payment method pays the unpaid invoices at once.
				enq, err := jobs.Enqueue(ctx, tx, client, res.Effects)
				collections = enq.Collections
				return err
			})
			if err != nil {
				return err
			}
			acc, err := views.GetAccount(ctx, pool, args[0])
			if err != nil {
				return err
			}
			return writeJSON(a.stdout, map[string]any{"changed": len(changed) > 0, "collections_enqueued": collections, "account": acc})
		},
	}
	setPM.Flags().StringVar(&pmType, "type", "", "card or sepa_debit")
	setPM.Flags().StringVar(&pmID, "id", "", "the processor's payment method id (pm_…)")

	var tlJSON bool
	tl := &cobra.Command{
		Use:   "timeline ID [--json]",
		Short: "Everything that happened to an account, oldest first",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			pool, err := a.db(cmd.Context())
			if err != nil {
				return err
			}
			if _, err := views.GetAccount(cmd.Context(), pool, args[0]); err != nil {
				return err
			}
			events, err := accounts.Timeline(cmd.Context(), pool, args[0])
			if err != nil {
				return err
			}
			if a.wantJSON(tlJSON) {
				if events == nil {
					events = []accounts.Event{}
				}
				return writeJSON(a.stdout, events)
			}
			for _, e := range events {
				keys := make([]string, 0, len(e.Data))
				for k := range e.Data {
					keys = append(keys, k)
				}
				sort.Strings(keys)
				parts := make([]string, len(keys))
				for i, k := range keys {
					v := e.Data[k]
					switch v.(type) {
					case map[string]any, []any:
						// Nested data (account_updated's changes) reads
						// better as the JSON it is than as a Go map.
						if b, err := json.Marshal(v); err == nil {
							v = string(b)
						}
					}
					parts[i] = fmt.Sprintf("%s=%v", k, v)
				}
				fmt.Fprintf(a.stdout, "%s  %-22s %s\n", e.At.Format(time.RFC3339), e.Kind, strings.Join(parts, " "))
			}
			return nil
		},
	}
	tl.Flags().BoolVar(&tlJSON, "json", false, "print JSON")

	cmd.AddCommand(imp, newAccountsListCmd(a), show, setPM, tl)
	return cmd
}

func printAccount(w io.Writer, acc *views.Account) error {
	opt := func(s *string) string {
		if s == nil {
			return "-"
		}
		return *s
	}
	pm := "-"
	if acc.PaymentMethod != nil {
		pm = string(acc.PaymentMethod.Type) + " " + acc.PaymentMethod.ID
	}
	addr := "-"
	if a := acc.Address; a != nil {
		addr = strings.Join(slices.DeleteFunc([]string{a.Line1, a.Line2, a.PostalCode + " " + a.City, a.Country}, func(s string) bool { return s == "" }), ", ")
	}
	_, err := fmt.Fprintf(w, "%s  %s <%s>\n  country %s, VAT number %s, SIREN %s, language %s, %s since %s\n  address %s\n  referred by %s\n  credit balance %s EUR, payment method %s\n",
		acc.ID, acc.Name, acc.Email, acc.Country, opt(acc.VATNumber), opt(acc.SIREN), acc.Language, acc.Status, acc.CreatedAt.Format("2006-01-02"),
		addr, opt(acc.ReferredBy), acc.CreditBalance, pm)
	return err
}

// methodsChanged applies what new payment methods imply
// (payments.MethodChangedEffects), in tx: for the accounts import, which
// sets methods in bulk and reports the accounts whose method changed.
func methodsChanged(ctx context.Context, tx pgx.Tx, client *jobs.Client, accountIDs []string) (int, error) {
	enq, err := jobs.Enqueue(ctx, tx, client, payments.MethodChangedEffects(accountIDs, time.Now()))
	return enq.Collections, err
}
