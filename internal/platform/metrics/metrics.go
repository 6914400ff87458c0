// Package metrics holds the engine's Prometheus metrics: what it bills and
// collects, how collections end, suspensions, job durations and failures,
// and the progress of billing runs. Counters are per process (Prometheus
// sums the workers); run progress is read from the database at scrape time,
// so every worker reports the same.
package metrics

import (
	"context"
	"errors"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"
	"github.com/shopspring/decimal"
)

// Registry is where the engine's metrics live.
var Registry = prometheus.NewRegistry()

var (
	InvoicesFinalized = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "billing_invoices_finalized_total", Help: "Invoices finalized (numbered and issued).",
	})
	Billed = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "billing_billed_cents_total", Help: "Total amount of the invoices finalized, VAT included, in euro cents.",
	})
	Collected = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "billing_collected_cents_total", Help: "Money collected, in euro cents, by method (card, sepa_debit, credit).",
	}, []string{"method"})
	Outcomes = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "billing_collection_outcomes_total", Help: "Outcomes of collection attempts, by method, outcome and code.",
	}, []string{"method", "outcome", "code"})
	Suspensions = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "billing_suspensions_total", Help: "Accounts suspended for overdue invoices.",
	})
	Reactivations = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "billing_reactivations_total", Help: "Suspended accounts reactivated once paid.",
	})
	JobDuration = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: "billing_job_duration_seconds", Help: "Time jobs take to run, by kind.",
		Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30},
	}, []string{"kind"})
	JobFailures = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "billing_job_failures_total", Help: "Job executions that returned an error, by kind.",
	}, []string{"kind"})
	WebhookDeliveries = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "billing_webhook_deliveries_total",
		Help: "Webhook delivery attempts by outcome: delivered, retry (the receiver failed; tried again later), failed (retries exhausted).",
	}, []string{"outcome"})
	WebhookLatency = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name: "billing_webhook_delivery_seconds", Help: "Time a webhook receiver took to answer (or to time out).",
		Buckets: []float64{.01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 15},
	})
	HTTPDuration = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "billing_http_request_duration_seconds",
		Help:    "Time the HTTP API takes to answer, by route pattern (GET /v1/invoices/{number}; unmatched for paths no route serves) and status.",
		Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 10},
	}, []string{"route", "status"})
)

// Label values known in advance, whose series exist from the start at 0,
// so that a rate() or an alert on them works before the first event.
var (
	collectMethods = []string{"card", "sepa_debit", "credit"}
	chargeMethods  = []string{"card", "sepa_debit"}
	quietOutcomes  = []string{"succeeded", "processing"} // their code is always ""
)

// InitKinds creates the per-kind series (job durations and failures) of
// every job kind at 0; jobs.NewClient calls it with the kinds it works.
func InitKinds(kinds []string) {
	for _, k := range kinds {
		JobFailures.WithLabelValues(k)
		JobDuration.WithLabelValues(k)
	}
}

func init() {
	Registry.MustRegister(InvoicesFinalized, Billed, Collected, Outcomes, Suspensions, Reactivations, JobDuration, JobFailures,
		WebhookDeliveries, WebhookLatency,
		HTTPDuration, collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	for _, m := range collectMethods {
		Collected.WithLabelValues(m)
	}
	for _, m := range chargeMethods {
		for _, o := range quietOutcomes {
			Outcomes.WithLabelValues(m, o, "")
		}
	}
}

// Cents turns an amount into a counter increment. Counters are float64,
// which adds whole cents exactly (up to 2^53 of them) where it would drift
// on fractions of a euro.
func Cents(d decimal.Decimal) float64 { return float64(d.Shift(2).Round(0).IntPart()) }

// JobMiddleware times every job and counts its failures.
type JobMiddleware struct {
	river.MiddlewareDefaults
}

func (*JobMiddleware) Work(ctx context.Context, job *rivertype.JobRow, doInner func(context.Context) error) error {
	start := time.Now()
	err := doInner(ctx)
	JobDuration.WithLabelValues(job.Kind).Observe(time.Since(start).Seconds())
	var snooze *rivertype.JobSnoozeError
	if err != nil && !errors.As(err, &snooze) {
		JobFailures.WithLabelValues(job.Kind).Inc()
	}
	return err
}

// RunProgress reports billing runs in progress (and those finished in the
// last hour) from the database.
type RunProgress struct {
	Pool *pgxpool.Pool
}

var runDesc = prometheus.NewDesc("billing_run_progress", "Progress of billing runs: accounts and invoices by stage, with the run's state (pending, drafting, finalizing, completed).",
	[]string{"run_id", "period", "state", "stage"}, nil)

func (c RunProgress) Describe(ch chan<- *prometheus.Desc) { ch <- runDesc }

func (c RunProgress) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	rows, err := c.Pool.Query(ctx, `
		SELECT id, period, state, accounts_total, accounts_drafted, invoices_drafted, invoices_finalized
		FROM billing_runs WHERE state <> 'completed' OR finished_at > now() - interval '1 hour'`)
	if err != nil {
		ch <- prometheus.NewInvalidMetric(runDesc, err)
		return
	}
	defer rows.Close()
	for rows.Next() {
		var id int64
		var period, state string
		var accounts, drafted, invoices, finalized int
		if err := rows.Scan(&id, &period, &state, &accounts, &drafted, &invoices, &finalized); err != nil {
			ch <- prometheus.NewInvalidMetric(runDesc, err)
			return
		}
		run := strconv.FormatInt(id, 10)
		for stage, v := range map[string]int{"accounts_total": accounts, "accounts_drafted": drafted, "invoices_drafted": invoices, "invoices_finalized": finalized} {
			ch <- prometheus.MustNewConstMetric(runDesc, prometheus.GaugeValue, float64(v), run, period, state, stage)
		}
	}
}

// WebhookBacklog reports the age of the oldest event not yet delivered to
// an endpoint, from the database at scrape time: a receiver down, or
// deliveries falling behind, shows as a growing age.
type WebhookBacklog struct {
	Pool *pgxpool.Pool
}

var backlogDesc = prometheus.NewDesc("billing_webhook_oldest_undelivered_seconds",
	"Age of the oldest webhook delivery still pending (0 when none is).", nil, nil)

func (c WebhookBacklog) Describe(ch chan<- *prometheus.Desc) { ch <- backlogDesc }

func (c WebhookBacklog) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	var age float64
	err := c.Pool.QueryRow(ctx, `
		SELECT coalesce(extract(epoch FROM now() - min(created_at)), 0)::float8
		FROM webhook_deliveries WHERE state = 'pending'`).Scan(&age)
	if err != nil {
		ch <- prometheus.NewInvalidMetric(backlogDesc, err)
		return
	}
	ch <- prometheus.MustNewConstMetric(backlogDesc, prometheus.GaugeValue, age)
}
