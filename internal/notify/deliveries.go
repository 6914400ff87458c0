package notify

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/billingengine/engine/billing"
	"github.com/billingengine/engine/internal/platform/pgdb"
)

// DeliveryState is a delivery's state.
type DeliveryState string

const (
	// DeliveryPending: not accepted yet; tried at next_attempt_at.
	DeliveryPending DeliveryState = "pending"
	// DeliveryDelivered: the receiver answered 2xx.
	DeliveryDelivered DeliveryState = "delivered"
	// DeliveryFailed: retried for RetryWindow without a 2xx; only
	// Redeliver sends it again.
	DeliveryFailed DeliveryState = "failed"
)

// Valid reports whether s is a delivery state.
func (s DeliveryState) Valid() bool {
	return s == DeliveryPending || s == DeliveryDelivered || s == DeliveryFailed
}

// RetryWindow is how long a delivery is retried (SPEC §11: 3 days).
const RetryWindow = 72 * time.Hour

// retryDelays is SPEC §11's schedule: the delay after the first, second, …
// failed attempt; every later one waits the last.
var retryDelays = []time.Duration{5 * time.Second, 5 * time.Minute, 30 * time.Minute, 2 * time.Hour, 5 * time.Hour, 10 * time.Hour}

// RetryDelay is the wait after the n-th failed attempt (n >= 1).
func RetryDelay(n int) time.Duration {
	if n < 1 {
		n = 1
	}
	return retryDelays[min(n, len(retryDelays))-1]
}

// EventKey names a recorded event for its deliveries: the events table's
// key and its type, which subscriptions match.
type EventKey struct {
	TxID, Seq int64
	Type      billing.EventType
}

// Subscribe creates, in tx, the deliveries of the events to every
// endpoint subscribed to their types, in one statement, and returns the
// endpoints that got some: their delivery jobs follow. With no endpoint it
// writes nothing.
func Subscribe(ctx context.Context, tx pgx.Tx, evs []EventKey) ([]string, error) {
	if len(evs) == 0 {
		return nil, nil
	}
	txids, seqs, types := make([]int64, len(evs)), make([]int64, len(evs)), make([]string, len(evs))
	for i, e := range evs {
		txids[i], seqs[i], types[i] = e.TxID, e.Seq, string(e.Type)
	}
	rows, err := tx.Query(ctx, `
		WITH d AS (
			INSERT INTO webhook_deliveries (endpoint_id, event_txid, event_seq)
			SELECT w.id, u.txid, u.seq
			FROM unnest($1::bigint[], $2::bigint[], $3::text[]) AS u(txid, seq, type)
			JOIN webhook_endpoints w ON w.event_types IS NULL OR u.type = ANY (w.event_types)
			ON CONFLICT DO NOTHING
			RETURNING endpoint_id)
		SELECT DISTINCT endpoint_id FROM d ORDER BY 1`, txids, seqs, types)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, pgx.RowTo[string])
}

// Delivery is a delivery as `billing webhooks deliveries` lists it.
type Delivery struct {
	ID            int64             `json:"id"`
	EndpointID    string            `json:"endpoint_id"`
	EventID       string            `json:"event_id"`
	EventType     billing.EventType `json:"event_type"`
	State         DeliveryState     `json:"state"`
	Attempts      int               `json:"attempts"`
	NextAttemptAt *time.Time        `json:"next_attempt_at"`
	LastStatus    *int              `json:"last_status"`
	LastError     string            `json:"last_error"`
	DeliveredAt   *time.Time        `json:"delivered_at"`
	CreatedAt     time.Time         `json:"created_at"`
}

// DeliveryParams selects deliveries; zero fields don't filter.
type DeliveryParams struct {
	EndpointID string
	State      DeliveryState
	Limit      int
}

// Deliveries lists deliveries, newest first.
func Deliveries(ctx context.Context, q pgdb.Executor, p DeliveryParams) ([]Delivery, error) {
	if p.State != "" && !p.State.Valid() {
		return nil, &InputError{"state", fmt.Sprintf("%q is not pending, delivered or failed", p.State)}
	}
	limit := p.Limit
	if limit <= 0 {
		limit = 1000
	}
	rows, err := q.Query(ctx, `
		SELECT d.id, d.endpoint_id, e.id, e.type, d.state, d.attempts,
		       CASE WHEN d.state = 'pending' THEN d.next_attempt_at END, d.last_status, d.last_error, d.delivered_at, d.created_at
		FROM webhook_deliveries d JOIN events e ON (e.txid, e.seq) = (d.event_txid, d.event_seq)
		WHERE ($1 = '' OR d.endpoint_id = $1) AND ($2 = '' OR d.state = $2)
		ORDER BY d.id DESC LIMIT $3`, p.EndpointID, string(p.State), limit)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (Delivery, error) {
		var d Delivery
		err := r.Scan(&d.ID, &d.EndpointID, &d.EventID, &d.EventType, &d.State, &d.Attempts, &d.NextAttemptAt, &d.LastStatus, &d.LastError, &d.DeliveredAt, &d.CreatedAt)
		d.CreatedAt = d.CreatedAt.UTC()
		for _, t := range []*time.Time{d.NextAttemptAt, d.DeliveredAt} {
			if t != nil {
				*t = t.UTC()
			}
		}
		return d, err
	})
}

// ErrEventNotFound is returned by Redeliver for an id that names no event.
var ErrEventNotFound = errors.New("event not found")

// Redeliver makes the event's delivery to endpointID pending again, due
// now, with a new retry window (created if the endpoint never had it); with
// endpointID "", every delivery the event had, or, if it had none, one to
// each endpoint subscribed to its type. It returns the endpoints whose
// delivery jobs follow.
func Redeliver(ctx context.Context, tx pgx.Tx, eventTxID, eventSeq int64, endpointID string) ([]string, error) {
	var typ string
	err := tx.QueryRow(ctx, `SELECT type FROM events WHERE txid = $1 AND seq = $2`, eventTxID, eventSeq).Scan(&typ)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, ErrEventNotFound
	}
	if err != nil {
		return nil, err
	}
	var targets []string
	if endpointID != "" {
		if _, err := get(ctx, tx, endpointID); err != nil {
			return nil, err
		}
		targets = []string{endpointID}
	} else {
		rows, err := tx.Query(ctx, `SELECT endpoint_id FROM webhook_deliveries WHERE event_txid = $1 AND event_seq = $2 ORDER BY 1`, eventTxID, eventSeq)
		if err != nil {
			return nil, err
		}
		if targets, err = pgx.CollectRows(rows, pgx.RowTo[string]); err != nil {
			return nil, err
		}
		if len(targets) == 0 {
			rows, err := tx.Query(ctx, `SELECT id FROM webhook_endpoints WHERE event_types IS NULL OR $1 = ANY (event_types) ORDER BY 1`, typ)
			if err != nil {
				return nil, err
			}
			if targets, err = pgx.CollectRows(rows, pgx.RowTo[string]); err != nil {
				return nil, err
			}
		}
	}
	if len(targets) == 0 {
		return nil, nil
	}
	_, err = tx.Exec(ctx, `
		INSERT INTO webhook_deliveries (endpoint_id, event_txid, event_seq)
		SELECT unnest($1::text[]), $2, $3
		ON CONFLICT (endpoint_id, event_txid, event_seq) DO UPDATE SET state = 'pending', next_attempt_at = now(),
		    give_up_at = now() + interval '3 days', leased_until = NULL, delivered_at = NULL`, targets, eventTxID, eventSeq)
	return targets, err
}

// DueEndpoints lists the endpoints that have a delivery due and not being
// posted: the sweep gives each a delivery job, so that a delivery whose job
// was lost (or never woken) is sent anyway.
func DueEndpoints(ctx context.Context, q pgdb.Executor) ([]string, error) {
	rows, err := q.Query(ctx, `
		SELECT DISTINCT endpoint_id FROM webhook_deliveries
		WHERE state = 'pending' AND next_attempt_at <= now() AND (leased_until IS NULL OR leased_until < now())
		ORDER BY 1`)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, pgx.RowTo[string])
}

// message is a delivery claimed for sending.
type message struct {
	deliveryID int64
	eventID    string
	attempts   int
	giveUpAt   time.Time
	body       []byte
}

// envelope is an event's JSON (SPEC §11), the body of its POST.
type envelope struct {
	ID        string          `json:"id"`
	Type      string          `json:"type"`
	CreatedAt time.Time       `json:"created_at"`
	AccountID *string         `json:"account_id"`
	Data      json.RawMessage `json:"data"`
}

// claim leases up to n of the endpoint's due deliveries, oldest event
// first, for lease: another worker skips them meanwhile, and a worker
// killed while posting leaves them to be taken again once it runs out.
func claim(ctx context.Context, db pgdb.DB, endpointID string, n int, lease time.Duration) (ms []message, err error) {
	err = inIndexOrder(ctx, db, func(q pgx.Tx) error {
		ms, err = claimTx(ctx, q, endpointID, n, lease)
		return err
	})
	return ms, err
}

// inIndexOrder runs a claim in a transaction that reads the pending rows
// in their index's order (migration 0020) whatever the statistics say. The
// outbox tables fill in bursts (a run writes a delivery and an email or
// two per invoice within a minute, after their last ANALYZE): with
// statistics saying "a few rows", the planner chose a bitmap scan of every
// pending row and a sort, for each claim of a handful, so the senders
// slowed as the backlog grew. Read in index order, a claim costs the rows
// it takes.
func inIndexOrder(ctx context.Context, db pgdb.DB, fn func(tx pgx.Tx) error) error {
	return pgx.BeginFunc(ctx, db, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT set_config('enable_bitmapscan', 'off', true), set_config('enable_sort', 'off', true)`); err != nil {
			return err
		}
		return fn(tx)
	})
}

func claimTx(ctx context.Context, q pgx.Tx, endpointID string, n int, lease time.Duration) ([]message, error) {
	rows, err := q.Query(ctx, `
		WITH c AS (
			SELECT id FROM webhook_deliveries
			WHERE endpoint_id = $1 AND state = 'pending' AND next_attempt_at <= now()
			  AND (leased_until IS NULL OR leased_until < now())
			ORDER BY event_txid, event_seq LIMIT $2 FOR UPDATE SKIP LOCKED),
		u AS (
			UPDATE webhook_deliveries d SET leased_until = now() + $3::interval FROM c WHERE d.id = c.id
			RETURNING d.id, d.event_txid, d.event_seq, d.attempts, d.give_up_at)
		SELECT u.id, e.id, u.attempts, u.give_up_at, e.type, e.created_at, e.account_id, e.data
		FROM u JOIN events e ON (e.txid, e.seq) = (u.event_txid, u.event_seq)
		ORDER BY u.event_txid, u.event_seq`, endpointID, n, lease)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (message, error) {
		var m message
		var env envelope
		var data []byte
		if err := r.Scan(&m.deliveryID, &m.eventID, &m.attempts, &m.giveUpAt, &env.Type, &env.CreatedAt, &env.AccountID, &data); err != nil {
			return m, err
		}
		env.ID, env.CreatedAt, env.Data = m.eventID, env.CreatedAt.UTC(), data
		b, err := json.Marshal(env)
		m.body = b
		return m, err
	})
}

// outcome is what one POST came to.
type outcome struct {
	status int
	err    error
}

// record stores a POST's outcome: delivered on a 2xx; otherwise the next
// attempt after RetryDelay, or failed once that falls past the retry
// window. It returns the state the delivery is left in.
func record(ctx context.Context, q pgdb.Executor, m message, o outcome, now time.Time, delay func(int) time.Duration) (DeliveryState, error) {
	var status *int
	if o.status != 0 {
		s := o.status
		status = &s
	}
	if o.err == nil {
		_, err := q.Exec(ctx, `
			UPDATE webhook_deliveries SET state = 'delivered', attempts = attempts + 1, delivered_at = $2,
			    last_status = $3, last_error = '', leased_until = NULL
			WHERE id = $1 AND state = 'pending'`, m.deliveryID, now, status)
		return DeliveryDelivered, err
	}
	next := now.Add(delay(m.attempts + 1))
	state := DeliveryPending
	if next.After(m.giveUpAt) {
		state = DeliveryFailed
	}
	msg := o.err.Error()
	if len(msg) > 500 {
		msg = msg[:500]
	}
	_, err := q.Exec(ctx, `
		UPDATE webhook_deliveries SET state = $2, attempts = attempts + 1, next_attempt_at = $3,
		    last_status = $4, last_error = $5, leased_until = NULL
		WHERE id = $1 AND state = 'pending'`, m.deliveryID, string(state), next, status, msg)
	return state, err
}
