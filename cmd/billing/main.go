// Command billing is the engine's only binary: imports, the monthly run,
// workers, finance operations and the demo (SPEC §7). It wires the packages
// together and holds no billing logic of its own.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"regexp"
	"runtime/debug"
	"strings"
	"syscall"
	"time"

	_ "time/tzdata" // BILLING_TIMEZONE must resolve on hosts without zoneinfo

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/spf13/cobra"

	"github.com/billingengine/engine/internal/ingest"
	"github.com/billingengine/engine/internal/platform/config"
	"github.com/billingengine/engine/internal/platform/pgdb"
	"github.com/billingengine/engine/invoices"
	"github.com/billingengine/engine/jobs"
)

// Exit statuses (SPEC §7).
const (
	exitOK    = 0
	exitFail  = 1 // bad input, a failed check, or the operation failed
	exitUsage = 2 // the command line itself is wrong
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	code := Main(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr, os.LookupEnv)
	stop()
	os.Exit(code)
}

// usageError marks a mistake in the command line: exit status 2.
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }

func usagef(format string, args ...any) error { return usageError{fmt.Errorf(format, args...)} }

// silentError has already been reported (e.g. one line per problem): the
// command only exits with status 1.
var errSilent = errors.New("reported")

// app is what every command shares: configuration, streams and the pool,
// opened on first use.
type app struct {
	stdin          io.Reader
	stdout, stderr io.Writer
	lookup         func(string) (string, bool)
	cfg            *config.Config
	log            *slog.Logger
	pool           *pgxpool.Pool
	pdf            *invoices.Renderer
	// migrating is set by the commands that migrate the database
	// themselves (migrate, demo): the others refuse a database without
	// the schema they need, saying "run billing migrate first".
	migrating bool
}

// invoicesConfig is what rating and numbering need of the configuration.
func (a *app) invoicesConfig() *invoices.Config {
	return &invoices.Config{Location: a.cfg.Location, SellerCountry: a.cfg.SellerCountry, VATRates: a.cfg.VATRates}
}

func (a *app) db(ctx context.Context) (*pgxpool.Pool, error) {
	if a.pool != nil {
		return a.pool, nil
	}
	p, err := pgdb.Open(ctx, a.cfg.DatabaseURL, nil)
	if err != nil {
		return nil, err
	}
	if !a.migrating {
		if err := pgdb.CheckSchema(ctx, p); err != nil {
			p.Close()
			return nil, err
		}
	}
	a.pool = p
	return p, nil
}

// dbJobs is db with a River client that inserts jobs (no workers), for
// commands that enqueue work in their own transactions.
func (a *app) dbJobs(ctx context.Context) (*pgxpool.Pool, *jobs.Client, error) {
	pool, err := a.db(ctx)
	if err != nil {
		return nil, nil, err
	}
	client, err := jobs.NewInsertClient(pool)
	return pool, client, err
}

// dbWait is db for the worker: a worker started before its database (a
// reboot, a deploy) waits for it, logging each try, instead of exiting.
func (a *app) dbWait(ctx context.Context) (*pgxpool.Pool, error) {
	if a.pool != nil {
		return a.pool, nil
	}
	p, err := pgdb.OpenWait(ctx, a.cfg.DatabaseURL, nil, func(err error, wait time.Duration) {
		a.log.Warn("Postgres unreachable: trying again", "in", wait, "error", err)
	})
	if err != nil {
		return nil, err
	}
	if err := pgdb.CheckSchema(ctx, p); err != nil {
		p.Close()
		return nil, err
	}
	a.pool = p
	return p, nil
}

// Main runs the CLI with the given arguments and streams and returns the
// exit status. Tests call it in-process.
func Main(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer, lookup func(string) (string, bool)) int {
	a := &app{stdin: stdin, stdout: stdout, stderr: stderr, lookup: lookup}
	a.log = slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: logLevel(lookup)}))
	root := newRoot(a)
	root.SetArgs(args)
	root.SetIn(stdin)
	root.SetOut(stdout)
	root.SetErr(stderr)
	err := root.ExecuteContext(ctx)
	if a.pool != nil {
		a.pool.Close()
	}
	if err == nil {
		return exitOK
	}
	if !errors.Is(err, errSilent) {
		fmt.Fprintf(stderr, "billing: %v\n", err)
	}
	var ue usageError
	// cobra checks required flags itself, without the flag error hook.
	if errors.As(err, &ue) || strings.HasPrefix(err.Error(), "required flag") {
		return exitUsage
	}
	return exitFail
}

// requireCharging stops a command that would finalize or charge unless the
// processor and the seller are configured (exit 2), and says once that no
// real money moves in sandbox mode.
func (a *app) requireCharging() error {
	if err := a.cfg.RequireCharging(); err != nil {
		return usageError{err}
	}
	if a.cfg.Sandbox() {
		a.log.Warn("TEST MODE: BILLING_PROCESSOR=sandbox, payments go to the sandbox processor and no money moves; documents say TEST MODE")
	}
	if a.cfg.SellerDemo {
		a.log.Warn("TEST MODE: the seller is not configured, documents name a demo seller (set BILLING_SELLER_* for real invoices)")
	}
	return nil
}

// requirePayPal stops a command that sells credit unless PayPal's mode is
// known (exit 2).
func (a *app) requirePayPal() error {
	if err := a.cfg.RequirePayPal(); err != nil {
		return usageError{err}
	}
	if a.cfg.PayPal == config.PayPalSandbox {
		a.log.Warn("TEST MODE: BILLING_PAYPAL=sandbox, credit purchases are approved and captured at once without money")
	}
	return nil
}

func logLevel(lookup func(string) (string, bool)) slog.Level {
	var l slog.Level
	if v, ok := lookup("BILLING_LOG_LEVEL"); ok {
		if err := l.UnmarshalText([]byte(v)); err == nil {
			return l
		}
	}
	return slog.LevelInfo
}

func newRoot(a *app) *cobra.Command {
	root := &cobra.Command{
		Use:                        "billing",
		Short:                      "Batch billing engine: usage in, invoices and payments out",
		Version:                    version(),
		SilenceUsage:               true,
		SilenceErrors:              true,
		SuggestionsMinimumDistance: 2,
		PersistentPreRunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := config.FromLookup(a.lookup)
			if err != nil {
				// A misconfiguration is the caller's to fix, like a bad flag.
				return usageError{err}
			}
			a.cfg = cfg
			return nil
		},
	}
	root.SetFlagErrorFunc(func(cmd *cobra.Command, err error) error { return usageError{flagError(cmd, err)} })
	root.AddCommand(
		newMigrateCmd(a),
		newCatalogCmd(a),
		newAccountsCmd(a),
		newUsageCmd(a),
		newRunCmd(a),
		newWorkerCmd(a),
		newInvoicesCmd(a),
		newCreditCmd(a),
		newDunningCmd(a),
		newTokensCmd(a),
		newWebhooksCmd(a),
		newEventsCmd(a),
		newPortalCmd(a),
		newEmailsCmd(a),
		newRunsCmd(a),
		newJobsCmd(a),
		newAuditCmd(a),
		newReceivablesCmd(a),
		newReportsCmd(a),
		newDemoCmd(a),
	)
	root.SetVersionTemplate("billing {{.Version}}\n")
	// Unknown subcommands and wrong argument counts are usage errors too,
	// naming the argument missing or the one too many.
	var walk func(*cobra.Command)
	walk = func(c *cobra.Command) {
		c.SuggestionsMinimumDistance = 2
		if c.Args != nil {
			check := c.Args
			c.Args = func(cmd *cobra.Command, args []string) error {
				if err := check(cmd, args); err != nil {
					return usageError{argsError(cmd, args, err)}
				}
				return nil
			}
		}
		if c.HasSubCommands() && c.RunE == nil {
			c.RunE = func(cmd *cobra.Command, args []string) error {
				if len(args) > 0 {
					msg := fmt.Sprintf("unknown command %q for %q", args[0], cmd.CommandPath())
					if s := cmd.SuggestionsFor(args[0]); len(s) > 0 {
						msg += "\n\nDid you mean this?\n\t" + strings.Join(s, "\n\t")
					}
					return usagef("%s", msg)
				}
				return usagef("%s needs a subcommand (see %s --help)", cmd.CommandPath(), cmd.CommandPath())
			}
			c.Args = cobra.ArbitraryArgs
		}
		for _, s := range c.Commands() {
			walk(s)
		}
	}
	walk(root)
	return root
}

// vatChecker is the register the accounts import asks about VAT numbers
// (BILLING_VIES), or nil when it asks none.
func (a *app) vatChecker() ingest.VATChecker {
	switch a.cfg.VIES {
	case config.VIESLive:
		return &ingest.VIES{}
	case config.VIESSandbox:
		return ingest.SandboxVIES{}
	case config.VIESOff:
		return nil
	}
	return nil
}

// buildVersion is set by make build (-ldflags -X main.buildVersion=…, from
// git describe); empty, the version comes from Go's build information.
var buildVersion string

// version is the build's version: make's, the module's, or the commit it
// was built from.
func version() string {
	info, ok := debug.ReadBuildInfo()
	if buildVersion != "" {
		if ok {
			return buildVersion + " (" + info.GoVersion + ")"
		}
		return buildVersion
	}
	if !ok {
		return "(unknown)"
	}
	v := info.Main.Version
	var rev, dirty string
	for _, s := range info.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.modified":
			if s.Value == "true" {
				dirty = "-dirty"
			}
		}
	}
	if rev != "" {
		if len(rev) > 12 {
			rev = rev[:12]
		}
		if v == "" || v == "(devel)" {
			return "commit " + rev + dirty + " (" + info.GoVersion + ")"
		}
		return v + " commit " + rev + dirty + " (" + info.GoVersion + ")"
	}
	if v == "" {
		v = "(devel)"
	}
	return v + " (" + info.GoVersion + ")"
}

// argsError names the positional arguments a command is missing, or the
// first one too many, from its Use line ("show NUMBER" → NUMBER).
func argsError(cmd *cobra.Command, args []string, err error) error {
	names := positionalNames(cmd.Use)
	variadic := len(names) > 0 && strings.HasSuffix(names[len(names)-1], "...")
	switch {
	case len(args) < len(names):
		missing := make([]string, 0, len(names)-len(args))
		for _, n := range names[len(args):] {
			missing = append(missing, strings.TrimSuffix(n, "..."))
		}
		word := "argument"
		if len(missing) > 1 {
			word = "arguments"
		}
		return fmt.Errorf("%s: missing %s %s (usage: %s)", cmd.CommandPath(), word, strings.Join(missing, " "), cmd.UseLine())
	case len(args) > len(names) && !variadic:
		return fmt.Errorf("%s: unexpected argument %q (usage: %s)", cmd.CommandPath(), args[len(names)], cmd.UseLine())
	}
	return err
}

// positionalNames are the upper-case words of a Use line that are not a
// flag's value: "pdf NUMBER -o FILE" → [NUMBER]; "retry ID..." → [ID...].
func positionalNames(use string) []string {
	var names []string
	fields := strings.Fields(use)
	for i := 1; i < len(fields); i++ {
		f := fields[i]
		if strings.HasPrefix(f, "-") || strings.HasPrefix(f, "[") {
			// A flag, and the value that follows it; optional parts.
			if strings.HasPrefix(f, "-") && !strings.Contains(f, "=") {
				i++
			}
			continue
		}
		word := strings.TrimSuffix(f, "...")
		if word != "" && strings.ToUpper(word) == word && strings.Trim(word, "ABCDEFGHIJKLMNOPQRSTUVWXYZ_") == "" {
			names = append(names, f)
		}
	}
	return names
}

var badFlagValue = regexp.MustCompile(`^invalid argument "(.*)" for "(?:-\w, )?(--[\w-]+)" flag: `)

// flagError says what a flag expects instead of quoting the Go parser
// that refused its value (strconv.ParseInt: parsing "abc": …).
func flagError(cmd *cobra.Command, err error) error {
	m := badFlagValue.FindStringSubmatch(err.Error())
	if m == nil {
		return err
	}
	want := "another value"
	if f := cmd.Flags().Lookup(strings.TrimPrefix(m[2], "--")); f != nil {
		switch f.Value.Type() {
		case "int", "int64", "int32", "uint", "uint64":
			want = "an integer"
		case "bool":
			want = "true or false"
		case "duration":
			want = "a duration such as 90s, 15m or 1h"
		case "float64":
			want = "a number"
		default:
			want = "a " + f.Value.Type()
		}
	}
	return fmt.Errorf("%s: expected %s, got %q", m[2], want, m[1])
}
