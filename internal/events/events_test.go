package events_test

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/billingengine/engine/billing"
	"github.com/billingengine/engine/internal/dbtest"
	"github.com/billingengine/engine/internal/events"
	"github.com/billingengine/engine/internal/platform/pgdb"
)

// visibleWithin bounds the wait for events to become visible to readers:
// a long transaction anywhere on the test server (another package's
// import, a benchmark loading millions of segments) holds them back.
const visibleWithin = 3 * time.Minute

func record(t *testing.T, tx pgx.Tx, account string) {
	t.Helper()
	_, err := events.Record(context.Background(), tx, []events.New{{Type: billing.EventCreditAdded, AccountID: account, At: time.Now(), Data: []byte(`{}`)}})
	require.NoError(t, err)
}

// waitList lists once every transaction that was in flight has ended
// (other tests' too, on the same server), or fails after a while.
func waitList(t *testing.T, q pgdb.Executor, p events.ListParams, n int) []events.Event {
	t.Helper()
	deadline := time.Now().Add(visibleWithin)
	for {
		evs, err := events.List(context.Background(), q, p)
		require.NoError(t, err)
		if len(evs) >= n || time.Now().After(deadline) {
			return evs
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// A reader paging with after= never misses an event: one committed by a
// transaction that started writing earlier, and so sorts earlier, is held
// back from readers until that transaction ends, even though a later one
// committed meanwhile.
func TestReadersNeverMissAnEventCommittedLate(t *testing.T) {
	t.Parallel()
	db := dbtest.New(t)
	ctx := context.Background()
	early, err := db.Pool.Begin(ctx)
	require.NoError(t, err)
	defer early.Rollback(ctx)
	record(t, early, "early")
	require.NoError(t, pgx.BeginFunc(ctx, db.Pool, func(tx pgx.Tx) error {
		record(t, tx, "late")
		return nil
	}))
	// The late event committed, but it sorts after the early one, still in
	// flight: a reader sees neither yet.
	evs, err := events.List(ctx, db.Pool, events.ListParams{})
	require.NoError(t, err)
	require.Empty(t, evs, "an event is visible while an earlier one may still commit")

	require.NoError(t, early.Commit(ctx))
	evs = waitList(t, db.Pool, events.ListParams{}, 2)
	require.Len(t, evs, 2)
	require.Equal(t, "early", *evs[0].AccountID)
	require.Equal(t, "late", *evs[1].AccountID)
	require.Less(t, evs[0].ID, evs[1].ID, "ids sort as readers page")

	// Paging: after the first, the second; after the last, nothing.
	page, err := events.List(ctx, db.Pool, events.ListParams{After: evs[0].ID})
	require.NoError(t, err)
	require.Equal(t, []events.Event{evs[1]}, page)
	page, err = events.List(ctx, db.Pool, events.ListParams{After: evs[1].ID})
	require.NoError(t, err)
	require.Empty(t, page)

	// Filters, and a cursor that is not an event id.
	page, err = events.List(ctx, db.Pool, events.ListParams{AccountID: "late"})
	require.NoError(t, err)
	require.Len(t, page, 1)
	page, err = events.List(ctx, db.Pool, events.ListParams{Type: billing.EventInvoicePaid})
	require.NoError(t, err)
	require.Empty(t, page)
	_, err = events.List(ctx, db.Pool, events.ListParams{After: "evt_1"})
	require.ErrorIs(t, err, events.ErrBadCursor)

	got, err := events.Get(ctx, db.Pool, evs[1].ID)
	require.NoError(t, err)
	require.Equal(t, evs[1], *got)
}

// Events of one transaction keep the order they were emitted in, and an
// unknown type is refused before anything is written.
func TestRecordKeepsOrderAndRefusesUnknownTypes(t *testing.T) {
	t.Parallel()
	db := dbtest.New(t)
	ctx := context.Background()
	var news []events.New
	for _, acc := range []string{"c", "a", "d", "b"} {
		news = append(news, events.New{Type: billing.EventAccountSuspended, AccountID: acc, At: time.Now(), Data: []byte(`{}`)})
	}
	require.NoError(t, pgx.BeginFunc(ctx, db.Pool, func(tx pgx.Tx) error {
		_, err := events.Record(ctx, tx, news)
		return err
	}))
	evs := waitList(t, db.Pool, events.ListParams{}, 4)
	var order []string
	for _, e := range evs {
		order = append(order, *e.AccountID)
	}
	require.Equal(t, []string{"c", "a", "d", "b"}, order)

	err := pgx.BeginFunc(ctx, db.Pool, func(tx pgx.Tx) error {
		_, err := events.Record(ctx, tx, []events.New{{Type: "invoice.created", At: time.Now(), Data: []byte(`{}`)}})
		return err
	})
	require.ErrorContains(t, err, "invoice.created")
}

// Prune deletes what is older than the cutoff, with its deliveries.
func TestPrune(t *testing.T) {
	t.Parallel()
	db := dbtest.New(t)
	ctx := context.Background()
	old, recent := time.Now().Add(-100*24*time.Hour), time.Now()
	require.NoError(t, pgx.BeginFunc(ctx, db.Pool, func(tx pgx.Tx) error {
		recs, err := events.Record(ctx, tx, []events.New{
			{Type: billing.EventCreditAdded, AccountID: "a", At: old, Data: []byte(`{}`)},
			{Type: billing.EventCreditAdded, AccountID: "b", At: recent, Data: []byte(`{}`)},
		})
		if err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `INSERT INTO webhook_endpoints (id, url, secret) VALUES ('we_1', 'https://example.test', 'whsec_AAAA')`); err != nil {
			return err
		}
		_, err = tx.Exec(ctx, `INSERT INTO webhook_deliveries (endpoint_id, event_txid, event_seq) VALUES ('we_1', $1, $2)`, recs[0].TxID, recs[0].Seq)
		return err
	}))
	n, err := events.Prune(ctx, db.Pool, time.Now().Add(-events.DefaultRetention))
	require.NoError(t, err)
	require.EqualValues(t, 1, n)
	evs := waitList(t, db.Pool, events.ListParams{}, 1)
	require.Len(t, evs, 1)
	require.Equal(t, "b", *evs[0].AccountID)
	var deliveries int
	require.NoError(t, db.Pool.QueryRow(ctx, `SELECT count(*) FROM webhook_deliveries`).Scan(&deliveries))
	require.Zero(t, deliveries)
}
