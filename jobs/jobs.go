// Package jobs runs the engine on River: the job kinds (their args are a
// public contract, SPEC §9), their workers, the queues, the monthly schedule
// and the client every process builds. A worker does its state change and
// inserts or completes the jobs that follow in one transaction
// (JobCompleteTx, InsertTx), so a process killed at any line leaves either
// everything or nothing behind.
package jobs

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/riverqueue/river/rivertype"

	"github.com/billingengine/engine/billing"
	"github.com/billingengine/engine/internal/events"
	"github.com/billingengine/engine/internal/platform/metrics"
	"github.com/billingengine/engine/invoices"
	"github.com/billingengine/engine/payments"
)

// Queues. Runs and their shards are CPU and database work; collection waits
// on payment processors and gets more workers.
const (
	QueueBilling   = "billing"
	QueuePayments  = "payments"
	QueueDocuments = "documents"
	QueueDefault   = river.QueueDefault
)

// Config is everything the workers need.
type Config struct {
	Location      *time.Location
	SellerCountry string
	VATRates      billing.VATRates
	// Now is the clock (time.Now when nil).
	Now func() time.Time
	// ShardSize is the number of accounts drafted per job.
	ShardSize int
	// FinalizeChunk is the number of invoices finalized per transaction.
	FinalizeChunk int
	// FinalizeBudget bounds one execution of the finalization job; it then
	// snoozes to let the job continue, so that no execution runs long enough
	// to be mistaken for an orphan.
	FinalizeBudget time.Duration
	// Schedule is the monthly run's cron spec in the billing time zone; ""
	// disables it.
	Schedule string
	// JobTimeout and RescueAfter bound a job's execution and say when a job
	// left running by a killed process is retried.
	JobTimeout  time.Duration
	RescueAfter time.Duration
	// Workers per queue for this process.
	BillingWorkers  int
	PaymentsWorkers int
	Logger          *slog.Logger
	// TestOnly starts River's maintenance services without their random
	// start delays (tests only).
	TestOnly bool
	// Processor collects payments. NewClient requires it: a default would
	// be a fake processor charging nobody, chosen silently.
	Processor payments.Processor
	// Settler settles what a simulated Processor accepted as processing
	// and lets collection run at a simulated time (payments.Settler): the
	// Processor itself when nil and it is one, so that a processor wrapped
	// (with faults, say) keeps its settlements by passing it here. nil with
	// a real processor, which tells by webhook.
	Settler payments.Settler
	// SandboxSEPADelay is when the Settler settles a SEPA debit after its
	// processor accepted it (SANDBOX_SEPA_DELAY).
	SandboxSEPADelay time.Duration
	// RetryMax caps the delay before a failed job is retried (10 minutes):
	// River's own backoff (attempt⁴ seconds) would leave a month's run
	// waiting hours after a few crashes.
	RetryMax time.Duration
	// DunningSchedule is the daily dunning pass's cron spec in the billing
	// time zone; "" disables it.
	DunningSchedule string
	// SuspensionWebhookURL receives signed account.suspended and
	// account.reactivated events (none when empty).
	SuspensionWebhookURL    string
	SuspensionWebhookSecret string
	// HTTPClient posts the webhooks.
	HTTPClient *http.Client
	// Renderer renders PDF documents (the default seller and the Go fonts
	// when nil).
	Renderer *invoices.Renderer
	// DocumentWorkers render PDFs in this process.
	DocumentWorkers int
	// WebhookHTTPClient posts events to webhook endpoints (a client
	// without its own timeout: each POST has notify.Timeout).
	WebhookHTTPClient *http.Client
	// WebhookWorkers is the number of endpoints served at a time by this
	// process; WebhookPerEndpoint the POSTs in flight to one endpoint.
	WebhookWorkers     int
	WebhookPerEndpoint int
	// WebhookSweepInterval is how often deliveries that are due get a job
	// (retries, and a job lost to a killed process).
	WebhookSweepInterval time.Duration
	// WebhookRetryDelay replaces SPEC §11's retry schedule (tests only).
	WebhookRetryDelay func(n int) time.Duration
	// EventsRetention is how long events are kept (BILLING_EVENTS_RETENTION).
	EventsRetention time.Duration
	// SEPADebitDelay is how long after its invoice (the pre-notification)
	// a SEPA debit is collected (BILLING_SEPA_DEBIT_DELAY, default 0).
	SEPADebitDelay time.Duration
	// Mail is how customer emails are sent (SPEC §12): no Mailer records
	// them unsent.
	Mail MailConfig
	// EmailRetryDelay replaces notify.EmailRetryDelay (tests only).
	EmailRetryDelay func(n int) time.Duration
	// Queues are the queues this process works (nil: all of them), so that
	// an operator can run, say, dedicated PDF workers.
	Queues []string
}

// Defaults fills the zero fields. Processor has no default.
func (c *Config) Defaults() {
	if s, ok := c.Processor.(payments.Settler); ok && c.Settler == nil {
		c.Settler = s
	}
	if c.Location == nil {
		c.Location = time.UTC
	}
	if c.SellerCountry == "" {
		c.SellerCountry = "FR"
	}
	if c.VATRates == nil {
		c.VATRates = billing.DefaultVATRates()
	}
	if c.ShardSize == 0 {
		c.ShardSize = 500
	}
	if c.FinalizeChunk == 0 {
		c.FinalizeChunk = 1000
	}

	if c.Renderer == nil {
		fonts, _ := invoices.LoadFonts("", c.Logger)
		c.Renderer = &invoices.Renderer{Seller: invoices.Seller{Name: "Billing"}, Fonts: fonts, Location: c.Location}
	}
	if c.DocumentWorkers == 0 {
		c.DocumentWorkers = 2
	}
	if c.HTTPClient == nil {
		c.HTTPClient = &http.Client{Timeout: 15 * time.Second}
	}
	if c.WebhookHTTPClient == nil {
		// A redirect is not followed: a POST would become a GET elsewhere,
		// and a 3xx is not the receiver's 2xx, so it is retried, listed
		// with its status for whoever fixes the URL.
		c.WebhookHTTPClient = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	}
	if c.WebhookWorkers == 0 {
		c.WebhookWorkers = 8
	}
	if c.WebhookPerEndpoint == 0 {
		c.WebhookPerEndpoint = 4
	}
	if c.WebhookSweepInterval == 0 {
		c.WebhookSweepInterval = 5 * time.Second
	}
	if c.EventsRetention == 0 {
		c.EventsRetention = events.DefaultRetention
	}
	if c.RetryMax == 0 {
		c.RetryMax = 10 * time.Minute
	}
	if c.JobTimeout == 0 {
		c.JobTimeout = 30 * time.Second
	}
	if c.RescueAfter == 0 {
		c.RescueAfter = 45 * time.Second
	}
	if c.FinalizeBudget == 0 {
		// Two thirds of the job's timeout: a chunk (about a second at
		// 100,000 accounts) started just before the budget is spent ends
		// well within it. Each execution costs a fetch and a new look at the
		// statistics, so fewer, longer ones finish the run sooner.
		c.FinalizeBudget = c.JobTimeout * 2 / 3
	}
	if c.BillingWorkers == 0 {
		c.BillingWorkers = 4
	}
	if c.PaymentsWorkers == 0 {
		c.PaymentsWorkers = 16
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
}

func (c *Config) now() time.Time {
	if c.Now != nil {
		return c.Now()
	}
	return time.Now()
}

// simulated reports whether a job asking for the simulated time now gets
// it: only when this worker charges through the Settler's processor, whose
// clock is the engine's.
func (c *Config) simulated(now *time.Time) bool {
	return now != nil && c.Settler != nil && c.Processor != nil && c.Processor.Name() == c.Settler.Name()
}

func (c *Config) invoices() *invoices.Config {
	return &invoices.Config{Location: c.Location, SellerCountry: c.SellerCountry, VATRates: c.VATRates, Now: c.Now}
}

// Client is the River client of the engine.
type Client = river.Client[pgx.Tx]

// deps is what workers share.
type deps struct {
	pool *pgxpool.Pool
	cfg  *Config
}

// NewWorkers registers every job kind's worker.
func newWorkers(d *deps) *river.Workers {
	w := river.NewWorkers()
	river.AddWorker(w, &billingRunWorker{d: d})
	river.AddWorker(w, &draftShardWorker{d: d})
	river.AddWorker(w, &finalizeRunWorker{d: d})
	river.AddWorker(w, &collectWorker{d: d})
	river.AddWorker(w, &collectBatchWorker{d: d})
	river.AddWorker(w, &settleSandboxWorker{d: d})
	river.AddWorker(w, &dunningPassWorker{d: d})
	river.AddWorker(w, &accountWebhookWorker{d: d})
	river.AddWorker(w, &renderWorker{d: d})
	river.AddWorker(w, &renderManyWorker{d: d})
	river.AddWorker(w, &deliverWebhooksWorker{d: d})
	river.AddWorker(w, &sweepWebhooksWorker{d: d})
	river.AddWorker(w, &pruneEventsWorker{d: d})
	river.AddWorker(w, &sendEmailsWorker{d: d})
	river.AddWorker(w, &sweepEmailsWorker{d: d})
	return w
}

// NewClient builds the client a worker process runs: every worker, the
// queues and the monthly schedule. Start it to work jobs.
func NewClient(pool *pgxpool.Pool, cfg Config) (*Client, error) {
	if cfg.Processor == nil {
		return nil, errors.New("jobs.Config.Processor is required: the processor that collects payments (BILLING_PROCESSOR)")
	}
	cfg.Defaults()
	d := &deps{pool: pool, cfg: &cfg}
	queues := map[string]river.QueueConfig{
		QueueDefault:   {MaxWorkers: 2},
		QueueBilling:   {MaxWorkers: cfg.BillingWorkers},
		QueuePayments:  {MaxWorkers: cfg.PaymentsWorkers},
		QueueDocuments: {MaxWorkers: cfg.DocumentWorkers},
		QueueWebhooks:  {MaxWorkers: cfg.WebhookWorkers},
		QueueEmails:    {MaxWorkers: 1},
	}
	if cfg.Queues != nil {
		chosen := map[string]river.QueueConfig{}
		for _, q := range cfg.Queues {
			qc, ok := queues[q]
			if !ok {
				return nil, fmt.Errorf("unknown queue %q (queues: %s, %s, %s, %s, %s, %s)", q, QueueBilling, QueuePayments, QueueDocuments, QueueWebhooks, QueueEmails, QueueDefault)
			}
			chosen[q] = qc
		}
		queues = chosen
	}
	metrics.InitKinds(Kinds())
	rc := &river.Config{
		Workers:              newWorkers(d),
		Queues:               queues,
		JobTimeout:           cfg.JobTimeout,
		RescueStuckJobsAfter: cfg.RescueAfter,
		Logger:               cfg.Logger,
		FetchCooldown:        20 * time.Millisecond,
		FetchPollInterval:    500 * time.Millisecond,
		ErrorHandler:         &errorHandler{log: cfg.Logger},
		RetryPolicy:          &cappedRetry{max: cfg.RetryMax},
		TestOnly:             cfg.TestOnly,
		Middleware:           []rivertype.Middleware{&metrics.JobMiddleware{}},
	}
	if cfg.Schedule != "" {
		pj, err := monthlyRun(cfg.Schedule, cfg.Location, cfg.now)
		if err != nil {
			return nil, err
		}
		rc.PeriodicJobs = append(rc.PeriodicJobs, pj)
	}
	if cfg.DunningSchedule != "" {
		pj, err := dailyDunning(cfg.DunningSchedule, cfg.Location, cfg.now)
		if err != nil {
			return nil, err
		}
		rc.PeriodicJobs = append(rc.PeriodicJobs, pj)
	}
	rc.PeriodicJobs = append(rc.PeriodicJobs, webhookPeriodics(d)...)
	rc.PeriodicJobs = append(rc.PeriodicJobs, emailPeriodics(d)...)
	return river.NewClient(riverpgxv5.New(pool), rc)
}

// Kinds lists the kind of every job the workers work (newWorkers).
func Kinds() []string {
	return []string{BillingRunArgs{}.Kind(), DraftShardArgs{}.Kind(), FinalizeRunArgs{}.Kind(), CollectInvoiceArgs{}.Kind(),
		CollectInvoicesArgs{}.Kind(), SettleSandboxArgs{}.Kind(), DunningPassArgs{}.Kind(), AccountWebhookArgs{}.Kind(),
		RenderInvoicePDFArgs{}.Kind(), RenderDocumentsArgs{}.Kind(), DeliverWebhooksArgs{}.Kind(), SweepWebhooksArgs{}.Kind(), PruneEventsArgs{}.Kind()}
}

// NewInsertClient builds a client that only inserts jobs (the CLI, the
// HTTP API, other services written in Go). It works no job, so it needs no
// processor.
func NewInsertClient(pool *pgxpool.Pool) (*Client, error) {
	cfg := Config{}
	cfg.Defaults()
	return river.NewClient(riverpgxv5.New(pool), &river.Config{Workers: newWorkers(&deps{pool: pool, cfg: &cfg})})
}

type errorHandler struct{ log *slog.Logger }

func (h *errorHandler) HandleError(ctx context.Context, job *rivertype.JobRow, err error) *river.ErrorHandlerResult {
	h.log.WarnContext(ctx, "job failed", "kind", job.Kind, "job_id", job.ID, "attempt", job.Attempt, "max_attempts", job.MaxAttempts, "error", err)
	return nil
}

func (h *errorHandler) HandlePanic(ctx context.Context, job *rivertype.JobRow, panicVal any, trace string) *river.ErrorHandlerResult {
	h.log.ErrorContext(ctx, "job panicked", "kind", job.Kind, "job_id", job.ID, "panic", fmt.Sprint(panicVal), "trace", trace)
	return nil
}

// cappedRetry is River's default backoff, capped: a run or a collection
// delayed by a crash resumes within minutes, never hours.
type cappedRetry struct {
	river.DefaultClientRetryPolicy
	max time.Duration
}

func (p *cappedRetry) NextRetry(job *rivertype.JobRow) time.Time {
	next := p.DefaultClientRetryPolicy.NextRetry(job)
	return minTime(next, time.Now().Add(p.max))
}

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}
