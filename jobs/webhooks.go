package jobs

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"

	"github.com/billingengine/engine/billing"
	"github.com/billingengine/engine/internal/events"
	"github.com/billingengine/engine/internal/notify"
	"github.com/billingengine/engine/internal/portal"
)

// QueueWebhooks is where webhook deliveries run: a receiver that is slow
// or down occupies its own endpoint's job there, never a worker that
// bills, collects or renders.
const QueueWebhooks = "webhooks"

// DeliverWebhooksArgs posts an endpoint's due deliveries (SPEC §11).
// Internal. One job per endpoint is live at a time (unique by args while
// available, scheduled or running), so an endpoint never has more than
// notify.Sender.PerEndpoint POSTs in flight however many events wait.
type DeliverWebhooksArgs struct {
	EndpointID string `json:"endpoint_id"`
}

func (DeliverWebhooksArgs) Kind() string { return "deliver_webhooks" }

func (DeliverWebhooksArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{Queue: QueueWebhooks, MaxAttempts: 25, UniqueOpts: river.UniqueOpts{ByArgs: true,
		ByState: []rivertype.JobState{rivertype.JobStateAvailable, rivertype.JobStatePending, rivertype.JobStateRunning,
			rivertype.JobStateScheduled, rivertype.JobStateRetryable}}}
}

// SweepWebhooksArgs gives a delivery job to every endpoint with a
// delivery due that no job is posting: retries come due, a job inserted
// while its endpoint's job was finishing was skipped as a duplicate, a
// worker was killed. Periodic. Internal.
type SweepWebhooksArgs struct{}

func (SweepWebhooksArgs) Kind() string { return "sweep_webhooks" }

func (SweepWebhooksArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{Queue: QueueWebhooks, MaxAttempts: 3, UniqueOpts: river.UniqueOpts{ByArgs: true,
		ByState: []rivertype.JobState{rivertype.JobStateAvailable, rivertype.JobStatePending, rivertype.JobStateRunning,
			rivertype.JobStateScheduled}}}
}

// PruneEventsArgs deletes the events older than the retention period
// (BILLING_EVENTS_RETENTION), with their deliveries, and the billing
// pages' spent links and idle sessions (portal.Prune). Daily. Internal.
type PruneEventsArgs struct {
	Day string `json:"day"`
}

func (PruneEventsArgs) Kind() string { return "prune_events" }

func (PruneEventsArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{Queue: QueueDefault, MaxAttempts: 5, UniqueOpts: river.UniqueOpts{ByArgs: true}}
}

// recordEvents writes the effects' events, their deliveries and their
// emails (emails[i] are evs[i]'s templates) in tx, and wakes the endpoints
// that got some and the email sender. With no endpoint subscribed and no
// email it writes the events only: no job.
func recordEvents(ctx context.Context, tx pgx.Tx, client *Client, evs []events.New, emails [][]billing.EmailTemplate) error {
	if len(evs) == 0 {
		return nil
	}
	recs, err := events.Record(ctx, tx, evs)
	if err != nil {
		return err
	}
	keys := make([]notify.EventKey, len(recs))
	for i, r := range recs {
		keys[i] = notify.EventKey{TxID: r.TxID, Seq: r.Seq, Type: r.Type}
	}
	endpoints, err := notify.Subscribe(ctx, tx, keys)
	if err != nil {
		return err
	}
	if err := wakeEndpoints(ctx, tx, client, endpoints); err != nil {
		return err
	}
	// Record returns the keys in the order of evs.
	var out []notify.OutgoingEmail
	for i, r := range recs {
		if i >= len(emails) {
			break
		}
		for _, t := range emails[i] {
			out = append(out, notify.OutgoingEmail{TxID: r.TxID, Seq: r.Seq, Template: t, AccountID: evs[i].AccountID})
		}
	}
	return queueEmails(ctx, tx, client, out)
}

// wakeEndpoints gives a delivery job to each endpoint without a live one.
// As in queueEmails, the live jobs are looked for first rather than left
// to the unique insert, whose no-op on a live job still updates (and
// locks until commit) that job's row: every transaction waking the same
// endpoint (each finalization chunk) would wait for the one before it. A
// live job that claimed its deliveries before this commit leaves the new
// ones to the sweep.
func wakeEndpoints(ctx context.Context, tx pgx.Tx, client *Client, endpoints []string) error {
	if len(endpoints) == 0 {
		return nil
	}
	rows, err := tx.Query(ctx, `
		SELECT e FROM unnest($2::text[]) AS e
		WHERE NOT EXISTS (SELECT 1 FROM river_job WHERE kind = $1 AND args->>'endpoint_id' = e
		                  AND state IN ('available', 'pending', 'running', 'scheduled', 'retryable'))
		ORDER BY e`, DeliverWebhooksArgs{}.Kind(), endpoints)
	if err != nil {
		return err
	}
	if endpoints, err = pgx.CollectRows(rows, pgx.RowTo[string]); err != nil || len(endpoints) == 0 {
		return err
	}
	params := make([]river.InsertManyParams, len(endpoints))
	for i, id := range endpoints {
		params[i] = river.InsertManyParams{Args: DeliverWebhooksArgs{EndpointID: id}}
	}
	_, err = client.InsertManyTx(ctx, tx, params)
	return err
}

// Redeliver sends an event again (`billing webhooks redeliver`): to
// endpointID, or to every endpoint it was delivered to (or, if none, the
// endpoints subscribed to its type). It returns the endpoints.
func Redeliver(ctx context.Context, tx pgx.Tx, client *Client, eventID, endpointID string) ([]string, error) {
	txid, seq, err := events.ParseID(eventID)
	if err != nil {
		return nil, err
	}
	endpoints, err := notify.Redeliver(ctx, tx, txid, seq, endpointID)
	if err != nil {
		return nil, err
	}
	return endpoints, wakeEndpoints(ctx, tx, client, endpoints)
}

type deliverWebhooksWorker struct {
	river.WorkerDefaults[DeliverWebhooksArgs]
	d *deps
}

func (w *deliverWebhooksWorker) Work(ctx context.Context, job *river.Job[DeliverWebhooksArgs]) error {
	// The job runs within JobTimeout, which is below RescueAfter (a job
	// running longer would be rescued and run twice at once): the sender
	// stops claiming early enough for its last batch of POSTs (each at
	// most notify.Timeout) to end in time.
	budget := max(w.d.cfg.JobTimeout-notify.Timeout-5*time.Second, w.d.cfg.JobTimeout/2)
	s := &notify.Sender{HTTP: w.d.cfg.WebhookHTTPClient, Log: w.d.cfg.Logger, PerEndpoint: w.d.cfg.WebhookPerEndpoint,
		RetryDelay: w.d.cfg.WebhookRetryDelay, Budget: budget}
	st, err := s.Deliver(ctx, w.d.pool, job.Args.EndpointID)
	if err != nil {
		return err
	}
	if st.Delivered+st.Retried+st.Failed > 0 {
		w.d.cfg.Logger.InfoContext(ctx, "webhooks", "endpoint_id", job.Args.EndpointID, "delivered", st.Delivered, "retried", st.Retried, "failed", st.Failed)
	}
	if st.More {
		// More is due: the same job runs again at once, after the other
		// kinds waiting in the queue, keeping its endpoint's one slot.
		return river.JobSnooze(time.Millisecond)
	}
	return nil
}

type sweepWebhooksWorker struct {
	river.WorkerDefaults[SweepWebhooksArgs]
	d *deps
}

func (w *sweepWebhooksWorker) Work(ctx context.Context, job *river.Job[SweepWebhooksArgs]) error {
	return pgx.BeginFunc(ctx, w.d.pool, func(tx pgx.Tx) error {
		due, err := notify.DueEndpoints(ctx, tx)
		if err != nil {
			return err
		}
		return wakeEndpoints(ctx, tx, river.ClientFromContext[pgx.Tx](ctx), due)
	})
}

type pruneEventsWorker struct {
	river.WorkerDefaults[PruneEventsArgs]
	d *deps
}

func (w *pruneEventsWorker) Work(ctx context.Context, job *river.Job[PruneEventsArgs]) error {
	cutoff := w.d.cfg.now().Add(-w.d.cfg.EventsRetention)
	n, err := events.Prune(ctx, w.d.pool, cutoff)
	if n > 0 {
		w.d.cfg.Logger.InfoContext(ctx, "events pruned", "deleted", n, "before", cutoff)
	}
	if err != nil {
		return err
	}
	// The same daily pass drops the billing pages' spent links and idle
	// sessions (SPEC §14).
	n, err = portal.Prune(ctx, w.d.pool, w.d.cfg.now())
	if n > 0 {
		w.d.cfg.Logger.InfoContext(ctx, "portal links and sessions pruned", "deleted", n)
	}
	return err
}

// webhookPeriodics are the sweep (every interval) and the daily prune.
// The sweep is inserted only when some delivery is due without a job, so
// that an engine without endpoints (or with every delivery done) runs no
// job every few seconds, and `billing worker --until-idle` can be idle.
func webhookPeriodics(d *deps) []*river.PeriodicJob {
	cfg := d.cfg
	return []*river.PeriodicJob{
		river.NewPeriodicJob(river.PeriodicInterval(cfg.WebhookSweepInterval), func() (river.JobArgs, *river.InsertOpts) {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			due, err := notify.DueEndpoints(ctx, d.pool)
			if err == nil && len(due) == 0 {
				return nil, nil
			}
			// On an error, the sweep job itself will report it.
			return SweepWebhooksArgs{}, nil
		}, &river.PeriodicJobOpts{ID: "sweep_webhooks", RunOnStart: true}),
		river.NewPeriodicJob(river.PeriodicInterval(24*time.Hour), func() (river.JobArgs, *river.InsertOpts) {
			return PruneEventsArgs{Day: cfg.now().UTC().Format(time.DateOnly)}, nil
		}, &river.PeriodicJobOpts{ID: "prune_events", RunOnStart: true}),
	}
}
