package httpapi

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/billingengine/engine/billing"
	"github.com/billingengine/engine/internal/views"
)

var receivablesDesc = prometheus.NewDesc("billing_receivables_outstanding_euros",
	"Amount due on open and processing invoices, in euros, by ageing bucket (not_due, 1_30, 31_60, 61_90, over_90 days past due), as of the scrape.",
	[]string{"bucket"}, nil)

// receivablesCollector reads the receivables' ageing from the database at
// scrape time, so that every worker reports the same; every bucket is
// present, at 0 when nothing is owed in it.
type receivablesCollector struct {
	pool *pgxpool.Pool
	loc  *time.Location
	now  func() time.Time
}

func (c receivablesCollector) Describe(ch chan<- *prometheus.Desc) { ch <- receivablesDesc }

func (c receivablesCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	r, err := views.GetReceivables(ctx, c.pool, c.now(), c.loc)
	if err != nil {
		ch <- prometheus.NewInvalidMetric(receivablesDesc, err)
		return
	}
	for _, b := range billing.AgeingBuckets {
		// A gauge is a float64: euros with cents, for dashboards; the
		// report itself (billing receivables) is exact.
		ch <- prometheus.MustNewConstMetric(receivablesDesc, prometheus.GaugeValue, r.Buckets.Get(b).Decimal().InexactFloat64(), string(b))
	}
}
