package main

import (
	"errors"
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/spf13/cobra"

	"github.com/billingengine/engine/billing"
	"github.com/billingengine/engine/internal/events"
	"github.com/billingengine/engine/internal/notify"
	"github.com/billingengine/engine/jobs"
)

func newWebhooksCmd(a *app) *cobra.Command {
	cmd := &cobra.Command{Use: "webhooks", Short: "Webhook endpoints: where events are posted, signed (SPEC §11)"}

	var url, types string
	var addJSON bool
	add := &cobra.Command{
		Use:   "add --url URL [--events T,...] [--json]",
		Short: "Register an endpoint; prints its id and its secret (whsec_…), shown only this once",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if url == "" {
				return usagef("--url is required")
			}
			evs, err := notify.ParseEventTypes(strings.Split(types, ","))
			if err != nil {
				return usageError{inputFlagError(err)}
			}
			if err := notify.ValidateURL(url, a.cfg.Sandbox()); err != nil {
				return usageError{inputFlagError(err)}
			}
			pool, err := a.db(cmd.Context())
			if err != nil {
				return err
			}
			ep, err := notify.Add(cmd.Context(), pool, notify.AddParams{URL: url, EventTypes: evs, Sandbox: a.cfg.Sandbox()})
			if err != nil {
				return err
			}
			if addJSON || a.wantJSON(false) {
				return writeJSON(a.stdout, ep)
			}
			fmt.Fprintf(a.stdout, "endpoint %s\nsecret   %s\n(the secret is shown only now: receivers verify signatures with it)\n", ep.ID, ep.Secret)
			return nil
		},
	}
	add.Flags().StringVar(&url, "url", "", "the receiver's URL (https, or http in sandbox mode or to a loopback host)")
	add.Flags().StringVar(&types, "events", "", "event types to receive, comma-separated (default: all)")
	add.Flags().BoolVar(&addJSON, "json", false, "print JSON")

	var listJSON bool
	list := &cobra.Command{
		Use:   "list [--json]",
		Short: "List the endpoints (JSON unless stdout is a terminal)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			pool, err := a.db(cmd.Context())
			if err != nil {
				return err
			}
			eps, err := notify.List(cmd.Context(), pool)
			if err != nil {
				return err
			}
			if a.wantJSON(listJSON) {
				return writeJSON(a.stdout, eps)
			}
			tw := tabwriter.NewWriter(a.stdout, 0, 0, 2, ' ', 0)
			fmt.Fprintln(tw, "id\turl\tevents\tcreated")
			for _, e := range eps {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", e.ID, e.URL, typesText(e.EventTypes), e.CreatedAt.Format(time.RFC3339))
			}
			return tw.Flush()
		},
	}
	list.Flags().BoolVar(&listJSON, "json", false, "print JSON")

	remove := &cobra.Command{
		Use:   "remove ID",
		Short: "Remove an endpoint and its deliveries",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkText("endpoint id", args[0]); err != nil {
				return err
			}
			pool, err := a.db(cmd.Context())
			if err != nil {
				return err
			}
			if err := notify.Remove(cmd.Context(), pool, args[0]); err != nil {
				return err
			}
			return writeJSON(a.stdout, map[string]any{"removed": args[0]})
		},
	}

	var endpoint, state string
	var delJSON bool
	deliveries := &cobra.Command{
		Use:   "deliveries [--endpoint ID] [--state pending|delivered|failed] [--json]",
		Short: "List deliveries, newest first (JSON unless stdout is a terminal)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if state != "" && !notify.DeliveryState(state).Valid() {
				return usagef("--state: %q is not pending, delivered or failed", state)
			}
			pool, err := a.db(cmd.Context())
			if err != nil {
				return err
			}
			ds, err := notify.Deliveries(cmd.Context(), pool, notify.DeliveryParams{EndpointID: endpoint, State: notify.DeliveryState(state)})
			if err != nil {
				return err
			}
			if a.wantJSON(delJSON) {
				return writeJSON(a.stdout, ds)
			}
			tw := tabwriter.NewWriter(a.stdout, 0, 0, 2, ' ', 0)
			fmt.Fprintln(tw, "id\tendpoint\tevent\ttype\tstate\tattempts\tnext attempt\tlast error")
			for _, d := range ds {
				fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%d\t%s\t%s\n", d.ID, d.EndpointID, d.EventID, d.EventType, d.State, d.Attempts, optTime(d.NextAttemptAt), d.LastError)
			}
			return tw.Flush()
		},
	}
	deliveries.Flags().StringVar(&endpoint, "endpoint", "", "only this endpoint's")
	deliveries.Flags().StringVar(&state, "state", "", "pending, delivered or failed")
	deliveries.Flags().BoolVar(&delJSON, "json", false, "print JSON")

	var redeliverTo string
	redeliver := &cobra.Command{
		Use:   "redeliver EVENT_ID [--endpoint ID]",
		Short: "Send an event again, now: to one endpoint, or to every endpoint it went to",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if _, _, err := events.ParseID(args[0]); err != nil {
				return usagef("EVENT_ID: %v", err)
			}
			ctx := cmd.Context()
			pool, client, err := a.dbJobs(ctx)
			if err != nil {
				return err
			}
			var to []string
			err = pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
				to, err = jobs.Redeliver(ctx, tx, client, args[0], redeliverTo)
				return err
			})
			if err != nil {
				return err
			}
			if to == nil {
				to = []string{}
			}
			return writeJSON(a.stdout, map[string]any{"event_id": args[0], "endpoints": to})
		},
	}
	redeliver.Flags().StringVar(&redeliverTo, "endpoint", "", "only to this endpoint")

	cmd.AddCommand(add, list, remove, deliveries, redeliver)
	return cmd
}

// inputFlagError names the flag of an input error: --url, --events.
func inputFlagError(err error) error {
	var ie *notify.InputError
	if errors.As(err, &ie) {
		return fmt.Errorf("--%s: %s", ie.Field, ie.Message)
	}
	return err
}

func typesText(ts []billing.EventType) string {
	if len(ts) == 0 {
		return "all"
	}
	s := make([]string, len(ts))
	for i, t := range ts {
		s[i] = string(t)
	}
	return strings.Join(s, ",")
}

func newEventsCmd(a *app) *cobra.Command {
	cmd := &cobra.Command{Use: "events", Short: "Events: every change other services learn of, in order (SPEC §11)"}
	var account, typ, after string
	var limit int
	var asJSON bool
	list := &cobra.Command{
		Use:   "list [--account ID] [--type T] [--after EVENT_ID] [--limit N] [--json]",
		Short: "List events in order (JSON unless stdout is a terminal)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if typ != "" && !billing.EventType(typ).Valid() {
				_, err := notify.ParseEventTypes([]string{typ})
				return usagef("--type: %v", strings.TrimPrefix(err.Error(), "events: "))
			}
			if after != "" {
				if _, _, err := events.ParseID(after); err != nil {
					return usagef("--after: %v", err)
				}
			}
			if limit < 1 || limit > events.MaxLimit {
				return usagef("--limit: between 1 and %d", events.MaxLimit)
			}
			pool, err := a.db(cmd.Context())
			if err != nil {
				return err
			}
			evs, err := events.List(cmd.Context(), pool, events.ListParams{AccountID: account, Type: billing.EventType(typ), After: after, Limit: limit})
			if err != nil {
				return err
			}
			if evs == nil {
				evs = []events.Event{}
			}
			if a.wantJSON(asJSON) {
				return writeJSON(a.stdout, evs)
			}
			tw := tabwriter.NewWriter(a.stdout, 0, 0, 2, ' ', 0)
			fmt.Fprintln(tw, "id\ttype\taccount\tcreated")
			for _, e := range evs {
				acc := ""
				if e.AccountID != nil {
					acc = *e.AccountID
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", e.ID, e.Type, acc, e.CreatedAt.Format(time.RFC3339))
			}
			return tw.Flush()
		},
	}
	list.Flags().StringVar(&account, "account", "", "only this account's events")
	list.Flags().StringVar(&typ, "type", "", "only events of this type")
	list.Flags().StringVar(&after, "after", "", "start after this event id (the last one read)")
	list.Flags().IntVar(&limit, "limit", 100, "how many events")
	list.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	cmd.AddCommand(list)
	return cmd
}
