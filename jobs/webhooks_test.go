package jobs_test

import (
	"context"
	"encoding/json"
	"hash/fnv"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/shopspring/decimal"
	"github.com/stretchr/testify/require"

	"github.com/billingengine/engine/billing"
	"github.com/billingengine/engine/internal/events"
	"github.com/billingengine/engine/internal/notify"
	"github.com/billingengine/engine/internal/platform/metrics"
	"github.com/billingengine/engine/internal/portal"
	"github.com/billingengine/engine/internal/testfactory"
	"github.com/billingengine/engine/jobs"
	"github.com/billingengine/engine/payments"
)

// hookReceiver is a webhook endpoint as another service runs one: it
// verifies each POST's Standard Webhooks signature and records the events
// it accepted, by webhook-id.
type hookReceiver struct {
	t      *testing.T
	secret string
	mu     sync.Mutex
	// failFirst fails this share (0..1) of first tries, chosen by id.
	failFirst float64
	// down answers 500 to everything while set.
	down     bool
	tries    map[string]int
	accepted map[string]int
	bodies   map[string]json.RawMessage
	badSigs  int
	mismatch int
}

func newHookReceiver(t *testing.T) (*hookReceiver, *httptest.Server) {
	r := &hookReceiver{t: t, tries: map[string]int{}, accepted: map[string]int{}, bodies: map[string]json.RawMessage{}}
	srv := httptest.NewServer(r)
	t.Cleanup(srv.Close)
	return r, srv
}

func (r *hookReceiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	body, _ := io.ReadAll(req.Body)
	id := req.Header.Get(notify.HeaderID)
	r.mu.Lock()
	defer r.mu.Unlock()
	if err := notify.Verify(r.secret, id, req.Header.Get(notify.HeaderTimestamp), req.Header.Get(notify.HeaderSignature), body, time.Now()); err != nil {
		r.badSigs++
		http.Error(w, "bad signature", http.StatusBadRequest)
		return
	}
	var env struct {
		ID string `json:"id"`
	}
	if json.Unmarshal(body, &env) != nil || env.ID != id {
		r.mismatch++
	}
	r.tries[id]++
	h := fnv.New32a()
	h.Write([]byte(id))
	if r.down || (r.tries[id] == 1 && float64(h.Sum32()%100) < r.failFirst*100) {
		http.Error(w, "try later", http.StatusInternalServerError)
		return
	}
	r.accepted[id]++
	r.bodies[id] = body
}

func (r *hookReceiver) setDown(down bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.down = down
}

func (r *hookReceiver) snapshot() (accepted map[string]int, bodies map[string]json.RawMessage) {
	r.mu.Lock()
	defer r.mu.Unlock()
	accepted, bodies = map[string]int{}, map[string]json.RawMessage{}
	for k, v := range r.accepted {
		accepted[k] = v
	}
	for k, v := range r.bodies {
		bodies[k] = v
	}
	return accepted, bodies
}

// visibleWithin bounds the wait for events to become visible to readers:
// a long transaction anywhere on the test server (another package's
// import, a benchmark loading millions of segments) holds them back.
const visibleWithin = 3 * time.Minute

// fastWebhooks shortens the retry schedule and the sweep, so that a test
// sees retries in seconds instead of minutes.
func fastWebhooks(tb *testBundle) {
	tb.cfg.WebhookSweepInterval = 100 * time.Millisecond
	tb.cfg.WebhookRetryDelay = func(int) time.Duration { return 100 * time.Millisecond }
}

func (tb *testBundle) addEndpoint(t *testing.T, r *hookReceiver, url string, types ...billing.EventType) *notify.Endpoint {
	t.Helper()
	ep, err := notify.Add(context.Background(), tb.pool, notify.AddParams{URL: url, EventTypes: types})
	require.NoError(t, err)
	if r != nil {
		r.secret = ep.Secret
	}
	return ep
}

// allEvents reads every event, page by page, once the events written so
// far are visible: readers only see events of transactions older than
// every transaction in flight on the server (tests of other packages run
// theirs meanwhile).
func (tb *testBundle) allEvents(t *testing.T) []events.Event {
	t.Helper()
	require.NoError(t, ctxPoll(visibleWithin, func() (bool, error) {
		var visible bool
		err := tb.pool.QueryRow(context.Background(), `
			SELECT coalesce(max(txid), 0) < pg_snapshot_xmin(pg_current_snapshot())::text::bigint FROM events`).Scan(&visible)
		return visible, err
	}))
	var out []events.Event
	after := ""
	for {
		page, err := events.List(context.Background(), tb.pool, events.ListParams{After: after, Limit: 7})
		require.NoError(t, err)
		out = append(out, page...)
		if len(page) < 7 {
			return out
		}
		after = page[len(page)-1].ID
	}
}

// waitDelivered waits until no delivery is pending.
func (tb *testBundle) waitDelivered(t *testing.T) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		var pending int
		require.NoError(t, tb.pool.QueryRow(context.Background(), `SELECT count(*) FROM webhook_deliveries WHERE state = 'pending'`).Scan(&pending))
		if pending == 0 {
			return
		}
		require.True(t, time.Now().Before(deadline), "%d deliveries still pending", pending)
		time.Sleep(50 * time.Millisecond)
	}
}

func eventTypes(evs []events.Event) map[billing.EventType]int {
	out := map[billing.EventType]int{}
	for _, e := range evs {
		out[e.Type]++
	}
	return out
}

// Every event of a month (finalization, card payments and declines, SEPA
// settlements, credit, a void) reaches a receiver that fails 30% of first
// tries, at least once, signed, with the body the events list shows; an
// endpoint subscribed to one type gets that type only.
func TestWebhooksDeliverEveryEvent(t *testing.T) {
	t.Parallel()
	tb := setup(t)
	fastWebhooks(tb)
	flaky, srv := newHookReceiver(t)
	flaky.failFirst = 0.3
	tb.addEndpoint(t, flaky, srv.URL+"/hooks")
	paidOnly, paidSrv := newHookReceiver(t)
	tb.addEndpoint(t, paidOnly, paidSrv.URL, billing.EventInvoicePaid)
	tb.loadPayers(t)
	client := tb.startWorker(t)
	tb.run(t, client, "2026-10")
	tb.waitIdle(t)
	tb.void(t, client, tb.number(t, "visa"), "billed twice")
	tb.waitIdle(t)
	tb.waitDelivered(t)

	evs := tb.allEvents(t)
	types := eventTypes(evs)
	require.Equal(t, 8, types[billing.EventInvoiceFinalized], "%v", types)
	require.Equal(t, 1, types[billing.EventRunCompleted])
	require.Positive(t, types[billing.EventInvoicePaid])
	require.Positive(t, types[billing.EventInvoicePaymentFailed])
	require.Equal(t, 1, types[billing.EventInvoiceVoided])
	require.Equal(t, 1, types[billing.EventCreditNoteIssued])
	require.Positive(t, types[billing.EventCreditAdded], "the void refunds to credit")

	accepted, bodies := flaky.snapshot()
	require.Zero(t, flaky.badSigs)
	require.Zero(t, flaky.mismatch)
	retried := 0
	for _, e := range evs {
		require.Positive(t, accepted[e.ID], "event %s (%s) never accepted", e.ID, e.Type)
		want, err := json.Marshal(e)
		require.NoError(t, err)
		require.JSONEq(t, string(want), string(bodies[e.ID]))
		if flaky.tries[e.ID] > 1 {
			retried++
		}
	}
	require.Positive(t, retried, "the receiver failed some first tries: those were retried")
	require.Positive(t, gathered(t, "billing_webhook_deliveries_total", "delivered"))
	require.Positive(t, gathered(t, "billing_webhook_deliveries_total", "retry"))
	require.Positive(t, gathered(t, "billing_webhook_delivery_seconds", ""))
	require.Len(t, accepted, len(evs), "nothing but the events")

	paid, _ := paidOnly.snapshot()
	require.Len(t, paid, types[billing.EventInvoicePaid])
	for _, e := range evs {
		if e.Type == billing.EventInvoicePaid {
			require.Contains(t, paid, e.ID)
		}
	}

	// The data of an invoice event is the invoice JSON of SPEC §7; a
	// payment failure adds its attempt, code and dates.
	for _, e := range evs {
		var data map[string]any
		require.NoError(t, json.Unmarshal(e.Data, &data))
		switch e.Type {
		case billing.EventInvoiceFinalized:
			require.Equal(t, "open", data["status"])
			require.NotEmpty(t, data["number"])
			require.NotEmpty(t, data["lines"])
			require.Equal(t, []any{}, data["attempts"], "written before the first attempt")
		case billing.EventInvoicePaymentFailed:
			require.Contains(t, data, "attempt")
			require.Contains(t, data, "code")
			require.NotNil(t, data["next_retry_at"])
			require.NotNil(t, data["suspension_at"])
			require.Equal(t, "open", data["status"])
		case billing.EventInvoicePaid:
			require.Equal(t, "paid", data["status"])
			require.Equal(t, "0.00", data["amount_due"])
		case billing.EventRunCompleted:
			require.Nil(t, e.AccountID)
			require.Equal(t, "2026-10", data["period"])
			require.EqualValues(t, 8, data["invoices"])
		default:
		}
	}

	// Nothing is left to do: no job loops on an endpoint with nothing due.
	require.NoError(t, ctxPoll(10*time.Second, func() (bool, error) {
		var live int
		err := tb.pool.QueryRow(context.Background(), `SELECT count(*) FROM river_job WHERE kind = 'deliver_webhooks' AND state <> 'completed'`).Scan(&live)
		return live == 0, err
	}), "a delivery job outlived its work")
}

// An endpoint that answers 500 for a while gets everything once it
// recovers; a delivery whose retries run out is failed, listed so, and
// `redeliver` sends it again, with the same webhook-id.
func TestWebhooksRecoverAndRedeliver(t *testing.T) {
	t.Parallel()
	tb := setup(t)
	fastWebhooks(tb)
	r, srv := newHookReceiver(t)
	r.down = true
	ep := tb.addEndpoint(t, r, srv.URL)
	tb.loadPayers(t)
	client := tb.startWorker(t)
	tb.run(t, client, "2026-10")
	tb.waitIdle(t)
	ctx := context.Background()
	// Down long enough that every delivery failed at least twice.
	deadline := time.Now().Add(30 * time.Second)
	for {
		var fresh int
		require.NoError(t, tb.pool.QueryRow(ctx, `SELECT count(*) FROM webhook_deliveries WHERE attempts < 2`).Scan(&fresh))
		if fresh == 0 {
			break
		}
		require.True(t, time.Now().Before(deadline), "%d deliveries tried less than twice", fresh)
		time.Sleep(50 * time.Millisecond)
	}
	accepted, _ := r.snapshot()
	require.Empty(t, accepted)
	r.setDown(false)
	tb.waitDelivered(t)
	evs := tb.allEvents(t)
	accepted, _ = r.snapshot()
	for _, e := range evs {
		require.Equal(t, 1, accepted[e.ID], "event %s", e.ID)
	}
	ds, err := notify.Deliveries(ctx, tb.pool, notify.DeliveryParams{EndpointID: ep.ID, State: notify.DeliveryDelivered})
	require.NoError(t, err)
	require.Len(t, ds, len(evs))

	// Retries run out while the receiver is down again: failed.
	r.setDown(true)
	require.NoError(t, pgx.BeginFunc(ctx, tb.pool, func(tx pgx.Tx) error {
		c, err := payments.AddCredit(ctx, tx, payments.NewEntry{AccountID: "visa", Kind: payments.EntryManualCredit,
			Amount: decimal.RequireFromString("7.00"), Reference: "gift-1"}, "gift-1")
		if err != nil {
			return err
		}
		_, err = jobs.Enqueue(ctx, tx, client, c.Effects)
		return err
	}))
	require.NoError(t, ctxPoll(30*time.Second, func() (bool, error) {
		// The window ends now: the next failure is the last.
		_, err := tb.pool.Exec(ctx, `UPDATE webhook_deliveries SET give_up_at = now() WHERE state = 'pending'`)
		if err != nil {
			return false, err
		}
		failed, err := notify.Deliveries(ctx, tb.pool, notify.DeliveryParams{State: notify.DeliveryFailed})
		return len(failed) > 0, err
	}))
	tb.waitDelivered(t)
	failed, err := notify.Deliveries(ctx, tb.pool, notify.DeliveryParams{State: notify.DeliveryFailed})
	require.NoError(t, err)
	require.NotEmpty(t, failed)
	var failedCredit string
	for _, d := range failed {
		require.GreaterOrEqual(t, d.Attempts, 1)
		require.NotEmpty(t, d.LastError)
		require.Nil(t, d.NextAttemptAt)
		if d.EventType == billing.EventCreditAdded {
			failedCredit = d.EventID
		}
	}
	require.NotEmpty(t, failedCredit, "the credit's event failed")

	r.setDown(false)
	require.NoError(t, pgx.BeginFunc(ctx, tb.pool, func(tx pgx.Tx) error {
		to, err := jobs.Redeliver(ctx, tx, client, failedCredit, "")
		require.Equal(t, []string{ep.ID}, to)
		return err
	}))
	tb.waitDelivered(t)
	accepted, bodies := r.snapshot()
	require.Equal(t, 1, accepted[failedCredit])
	require.Contains(t, string(bodies[failedCredit]), `"reference":"gift-1"`)

	// A delivered event sent again arrives again under its id.
	first := evs[0].ID
	require.NoError(t, pgx.BeginFunc(ctx, tb.pool, func(tx pgx.Tx) error {
		_, err := jobs.Redeliver(ctx, tx, client, first, ep.ID)
		return err
	}))
	tb.waitDelivered(t)
	accepted, _ = r.snapshot()
	require.Equal(t, 2, accepted[first])

	// Redelivering what doesn't exist says so.
	err = pgx.BeginFunc(ctx, tb.pool, func(tx pgx.Tx) error {
		_, err := jobs.Redeliver(ctx, tx, client, "evt_00000000000000010000000000000001", "")
		return err
	})
	require.ErrorIs(t, err, notify.ErrEventNotFound)
	err = pgx.BeginFunc(ctx, tb.pool, func(tx pgx.Tx) error {
		_, err := jobs.Redeliver(ctx, tx, client, first, "we_nope")
		return err
	})
	require.ErrorIs(t, err, notify.ErrNotFound)
}

// With no endpoint, events are written and no delivery job is: the
// monthly run of a hundred thousand accounts adds no River job for them.
func TestEventsWithoutEndpointsAddNoJob(t *testing.T) {
	t.Parallel()
	tb := setup(t)
	tb.loadPayers(t)
	client := tb.startWorker(t)
	tb.run(t, client, "2026-10")
	tb.waitIdle(t)
	require.NotEmpty(t, tb.allEvents(t))
	var n int
	require.NoError(t, tb.pool.QueryRow(context.Background(), `SELECT count(*) FROM river_job WHERE queue = 'webhooks'`).Scan(&n))
	require.Zero(t, n)
	require.NoError(t, tb.pool.QueryRow(context.Background(), `SELECT count(*) FROM webhook_deliveries`).Scan(&n))
	require.Zero(t, n)
}

// An event exists iff its change committed: effects applied in a
// transaction that rolls back leave neither the event nor a delivery.
func TestEventsRollBackWithTheirChange(t *testing.T) {
	t.Parallel()
	tb := setup(t)
	tb.loadPayers(t)
	_, srv := newHookReceiver(t)
	tb.addEndpoint(t, nil, srv.URL)
	client, err := jobs.NewInsertClient(tb.pool)
	require.NoError(t, err)
	ctx := context.Background()
	e := billing.Effects{Events: []billing.Event{{Type: billing.EventCreditAdded, AccountID: "visa", At: time.Now(), Data: map[string]any{"amount": "1.00"}}}}
	tx, err := tb.pool.Begin(ctx)
	require.NoError(t, err)
	_, err = jobs.Enqueue(ctx, tx, client, e)
	require.NoError(t, err)
	require.NoError(t, tx.Rollback(ctx))
	require.Empty(t, tb.allEvents(t))
	require.NoError(t, pgx.BeginFunc(ctx, tb.pool, func(tx pgx.Tx) error {
		_, err := jobs.Enqueue(ctx, tx, client, e)
		return err
	}))
	require.Len(t, tb.allEvents(t), 1)
	var deliveries, jobsN int
	require.NoError(t, tb.pool.QueryRow(ctx, `SELECT count(*) FROM webhook_deliveries`).Scan(&deliveries))
	require.NoError(t, tb.pool.QueryRow(ctx, `SELECT count(*) FROM river_job WHERE kind = 'deliver_webhooks'`).Scan(&jobsN))
	require.Equal(t, 1, deliveries)
	require.Equal(t, 1, jobsN)
}

func ctxPoll(timeout time.Duration, f func() (bool, error)) error {
	deadline := time.Now().Add(timeout)
	for {
		ok, err := f()
		if err != nil || ok {
			return err
		}
		if time.Now().After(deadline) {
			return context.DeadlineExceeded
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Dunning's events, in the order they happened: each declined attempt
// (with the next retry while one is left, and the suspension date), the
// invoice overdue, the account suspended; then credit added pays the
// invoice and reactivates the account. The suspension webhook of SPEC §5
// is still posted (TestDunningDecliningCard checks its receiver).
func TestDunningEvents(t *testing.T) {
	t.Parallel()
	b := setupDunning(t, 0)
	for d := 1; d <= 5; d++ {
		b.day(t, float64(d))
	}
	ctx := context.Background()
	require.NoError(t, pgx.BeginFunc(ctx, b.pool, func(tx pgx.Tx) error {
		c, err := payments.AddCredit(ctx, tx, payments.NewEntry{AccountID: "declined", Kind: payments.EntryManualCredit,
			Amount: decimal.NewFromInt(20), Reference: "rescue"}, "rescue")
		if err != nil {
			return err
		}
		_, err = jobs.Enqueue(ctx, tx, b.client, c.Effects)
		return err
	}))
	b.waitIdle(t)

	var got []string
	var failures []map[string]any
	for _, e := range b.allEvents(t) {
		if e.AccountID == nil || *e.AccountID != "declined" {
			continue
		}
		got = append(got, string(e.Type))
		if e.Type == billing.EventInvoicePaymentFailed {
			var data map[string]any
			require.NoError(t, json.Unmarshal(e.Data, &data))
			failures = append(failures, data)
		}
	}
	require.Equal(t, []string{"invoice.finalized",
		"invoice.payment_failed", "invoice.payment_failed", "invoice.payment_failed", "invoice.payment_failed", "invoice.payment_failed", "invoice.payment_failed",
		"invoice.overdue", "account.suspended", "credit.added", "invoice.paid", "account.reactivated"}, got)
	var t0 time.Time
	require.NoError(t, b.pool.QueryRow(ctx, `SELECT issued_at FROM invoices WHERE account_id = 'declined'`).Scan(&t0))
	t0 = t0.UTC()
	for i, f := range failures {
		require.EqualValues(t, i+1, f["attempt"])
		require.Equal(t, "generic_decline", f["code"])
		require.Equal(t, t0.Add(5*24*time.Hour).Format(time.RFC3339Nano), f["suspension_at"])
		if i < 5 {
			require.NotNil(t, f["next_retry_at"], "attempt %d", i+1)
		} else {
			require.Nil(t, f["next_retry_at"], "no retry after the last")
		}
	}
}

// gathered reads a metric of the engine's registry: a counter's value
// with the outcome label, or a histogram's count.
func gathered(t *testing.T, name, outcome string) float64 {
	t.Helper()
	fams, err := metrics.Registry.Gather()
	require.NoError(t, err)
	for _, f := range fams {
		if f.GetName() != name {
			continue
		}
		for _, m := range f.GetMetric() {
			if h := m.GetHistogram(); h != nil {
				return float64(h.GetSampleCount())
			}
			for _, l := range m.GetLabel() {
				if l.GetName() == "outcome" && l.GetValue() == outcome {
					return m.GetCounter().GetValue()
				}
			}
		}
	}
	return 0
}

// A receiver that redirects is not followed (a POST would turn into a GET
// elsewhere): the 3xx is a failure, retried and listed with its status.
func TestWebhookRedirectIsNotFollowed(t *testing.T) {
	t.Parallel()
	tb := setup(t)
	fastWebhooks(tb)
	target, targetSrv := newHookReceiver(t)
	redirect := httptest.NewServer(http.RedirectHandler(targetSrv.URL, http.StatusTemporaryRedirect))
	t.Cleanup(redirect.Close)
	ep := tb.addEndpoint(t, target, redirect.URL)
	tb.loadPayers(t)
	client := tb.startWorker(t)
	ctx := context.Background()
	require.NoError(t, pgx.BeginFunc(ctx, tb.pool, func(tx pgx.Tx) error {
		_, err := jobs.Enqueue(ctx, tx, client, billing.Effects{Events: []billing.Event{{Type: billing.EventCreditAdded, AccountID: "visa", At: time.Now()}}})
		return err
	}))
	require.NoError(t, ctxPoll(30*time.Second, func() (bool, error) {
		ds, err := notify.Deliveries(ctx, tb.pool, notify.DeliveryParams{EndpointID: ep.ID})
		return len(ds) == 1 && ds[0].Attempts >= 2, err
	}))
	ds, err := notify.Deliveries(ctx, tb.pool, notify.DeliveryParams{EndpointID: ep.ID})
	require.NoError(t, err)
	require.Equal(t, notify.DeliveryPending, ds[0].State)
	require.Equal(t, http.StatusTemporaryRedirect, *ds[0].LastStatus)
	require.Contains(t, ds[0].LastError, "307")
	accepted, _ := target.snapshot()
	require.Empty(t, accepted)
}

// The daily prune runs when a worker starts and deletes the events older
// than the retention, keeping the others.
func TestPruneEventsJob(t *testing.T) {
	t.Parallel()
	tb := setup(t)
	tb.cfg.EventsRetention = 30 * 24 * time.Hour
	ctx := context.Background()
	client, err := jobs.NewInsertClient(tb.pool)
	require.NoError(t, err)
	require.NoError(t, pgx.BeginFunc(ctx, tb.pool, func(tx pgx.Tx) error {
		_, err := jobs.Enqueue(ctx, tx, client, billing.Effects{Events: []billing.Event{
			{Type: billing.EventCreditAdded, AccountID: "old", At: time.Now().Add(-31 * 24 * time.Hour)},
			{Type: billing.EventCreditAdded, AccountID: "recent", At: time.Now().Add(-29 * 24 * time.Hour)},
		}})
		return err
	}))
	// And the billing pages' links: an expired one goes, a live one stays.
	acc := testfactory.Account(ctx, t, tb.pool, nil)
	_, err = portal.CreateLink(ctx, tb.pool, acc.ID, time.Minute, time.Now().Add(-time.Hour))
	require.NoError(t, err)
	live, err := portal.CreateLink(ctx, tb.pool, acc.ID, time.Hour, time.Now())
	require.NoError(t, err)
	tb.startWorker(t)
	require.NoError(t, ctxPoll(30*time.Second, func() (bool, error) {
		var n int
		err := tb.pool.QueryRow(ctx, `SELECT count(*) FROM events WHERE account_id = 'old'`).Scan(&n)
		return n == 0, err
	}), "the old event was not pruned")
	evs := tb.allEvents(t)
	require.Len(t, evs, 1)
	require.Equal(t, "recent", *evs[0].AccountID)
	require.NoError(t, ctxPoll(30*time.Second, func() (bool, error) {
		var n int
		err := tb.pool.QueryRow(ctx, `SELECT count(*) FROM portal_links`).Scan(&n)
		return n == 1, err
	}), "the expired link was not pruned")
	_, _, err = portal.StartSession(ctx, tb.pool, live.Token, time.Now())
	require.NoError(t, err, "the live link was pruned")
}

// Transactions waking the same endpoint do not wait for one another (each
// finalization chunk wakes every subscribed endpoint): an endpoint whose
// job is live gets no insert, where River's unique insert would lock the
// live job's row until the waking transaction commits. The deliveries of
// both are posted by that one job.
func TestWakingAnEndpointDoesNotSerialiseTransactions(t *testing.T) {
	t.Parallel()
	tb := setup(t)
	fastWebhooks(tb)
	r, srv := newHookReceiver(t)
	ep := tb.addEndpoint(t, r, srv.URL)
	tb.loadPayers(t)
	client, err := jobs.NewClient(tb.pool, tb.cfg)
	require.NoError(t, err)
	ctx := context.Background()
	credit := func(ctx context.Context, tx pgx.Tx, account, ref string) error {
		c, err := payments.AddCredit(ctx, tx, payments.NewEntry{AccountID: account, Kind: payments.EntryManualCredit,
			Amount: decimal.RequireFromString("3.00"), Reference: ref}, ref)
		if err != nil {
			return err
		}
		_, err = jobs.Enqueue(ctx, tx, client, c.Effects)
		return err
	}
	// The first wake-up inserts the endpoint's job, which stays live (no
	// worker runs yet).
	require.NoError(t, pgx.BeginFunc(ctx, tb.pool, func(tx pgx.Tx) error { return credit(ctx, tx, "visa", "first") }))

	a, err := tb.pool.Begin(ctx)
	require.NoError(t, err)
	defer a.Rollback(ctx) //nolint:errcheck // committed below
	require.NoError(t, credit(ctx, a, "visa", "held"))
	// While a is open, another transaction wakes the same endpoint and
	// commits.
	quick, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	require.NoError(t, pgx.BeginFunc(quick, tb.pool, func(tx pgx.Tx) error { return credit(quick, tx, "sepa", "meanwhile") }),
		"waking an endpoint waited for another transaction")
	require.NoError(t, a.Commit(ctx))

	var jobsOf int
	require.NoError(t, tb.pool.QueryRow(ctx, `SELECT count(*) FROM river_job WHERE kind = 'deliver_webhooks'`).Scan(&jobsOf))
	require.Equal(t, 1, jobsOf, "one job for the endpoint")
	tb.startWorker(t)
	tb.waitDelivered(t)
	ds, err := notify.Deliveries(ctx, tb.pool, notify.DeliveryParams{EndpointID: ep.ID, State: notify.DeliveryDelivered})
	require.NoError(t, err)
	require.Len(t, ds, 3, "the three credits' events")
}
