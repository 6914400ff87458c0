// Package events owns the events table (SPEC §11): what other services
// learn of every change that matters. Events are written in the
// transaction of their change (jobs.Enqueue is the one writer, from the
// effects the domain returns), so an event exists if and only if its change
// committed; they are read in order by `billing events list` and
// GET /v1/events, and pruned after the retention period.
//
// Order. An event's id is evt_ followed by its transaction's id and its
// position in that transaction, in fixed-width hex, and readers page by
// it. A transaction still in flight may yet commit events that sort below
// ones already visible, so a reader only sees events of transactions older
// than every transaction still running (pg_snapshot_xmin of its snapshot):
// those are all finished, and nothing can ever commit below them. A reader
// paging with after= therefore never misses an event; the price is that an
// event shows once the transactions older than it have finished, so a long
// transaction anywhere in the cluster holds new events back while it runs.
package events

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/billingengine/engine/billing"
	"github.com/billingengine/engine/internal/platform/pgdb"
)

// Event is an event as other services see it: its JSON is the envelope of
// SPEC §11.
type Event struct {
	ID        string            `json:"id"`
	Type      billing.EventType `json:"type"`
	CreatedAt time.Time         `json:"created_at"`
	AccountID *string           `json:"account_id"`
	Data      json.RawMessage   `json:"data"`
}

// New is an event to record: its data already encoded as a JSON object.
type New struct {
	Type      billing.EventType
	AccountID string
	At        time.Time
	Data      []byte
}

// Recorded is the key of an event just recorded, for its deliveries.
type Recorded struct {
	TxID, Seq int64
	Type      billing.EventType
}

// Record writes events in tx, in order, in one statement, and returns
// their keys in the same order.
func Record(ctx context.Context, tx pgx.Tx, evs []New) ([]Recorded, error) {
	if len(evs) == 0 {
		return nil, nil
	}
	types := make([]string, len(evs))
	accounts := make([]*string, len(evs))
	ats := make([]time.Time, len(evs))
	data := make([]string, len(evs))
	for i, e := range evs {
		if !e.Type.Valid() {
			return nil, fmt.Errorf("event type %q is not one of SPEC §11's", e.Type)
		}
		types[i], ats[i], data[i] = string(e.Type), e.At.UTC(), string(e.Data)
		if e.AccountID != "" {
			a := e.AccountID
			accounts[i] = &a
		}
	}
	// ORDER BY ord: the identity follows the order rows are inserted in,
	// which is the order the operation emitted them.
	rows, err := tx.Query(ctx, `
		INSERT INTO events (type, account_id, created_at, data)
		SELECT t, a, c, d FROM unnest($1::text[], $2::text[], $3::timestamptz[], $4::json[]) WITH ORDINALITY AS u(t, a, c, d, ord)
		ORDER BY ord
		RETURNING txid, seq, type`, types, accounts, ats, data)
	if err != nil {
		return nil, err
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Recorded, error) {
		var rec Recorded
		err := r.Scan(&rec.TxID, &rec.Seq, &rec.Type)
		return rec, err
	})
	if err != nil {
		return nil, err
	}
	// RETURNING does not promise the insertion order: seq does.
	slices.SortFunc(out, func(a, b Recorded) int { return cmp.Compare(a.Seq, b.Seq) })
	return out, nil
}

// ErrBadCursor is returned for an after= that is not an event id.
var ErrBadCursor = errors.New("not an event id (evt_ and 32 hex digits)")

var idPattern = regexp.MustCompile(`^evt_([0-9a-f]{16})([0-9a-f]{16})$`)

// ParseID returns the (transaction, position) an event id sorts by.
func ParseID(id string) (txid, seq int64, err error) {
	m := idPattern.FindStringSubmatch(id)
	if m == nil {
		return 0, 0, fmt.Errorf("%q: %w", id, ErrBadCursor)
	}
	tx, err1 := strconv.ParseInt(m[1], 16, 64)
	sq, err2 := strconv.ParseInt(m[2], 16, 64)
	if err1 != nil || err2 != nil {
		return 0, 0, fmt.Errorf("%q: %w", id, ErrBadCursor)
	}
	return tx, sq, nil
}

// ListParams selects events; zero fields don't filter.
type ListParams struct {
	AccountID string
	Type      billing.EventType
	// After is the id of the last event the reader has: the list starts
	// after it.
	After string
	// Limit caps the list (100 when zero).
	Limit int
}

// MaxLimit caps a page.
const MaxLimit = 1000

// List returns events in order, after p.After, of those visible to every
// reader from now on (see the package comment).
func List(ctx context.Context, q pgdb.Executor, p ListParams) ([]Event, error) {
	var txid, seq int64
	if p.After != "" {
		var err error
		if txid, seq, err = ParseID(p.After); err != nil {
			return nil, err
		}
	}
	limit := p.Limit
	if limit <= 0 {
		limit = 100
	}
	limit = min(limit, MaxLimit)
	rows, err := q.Query(ctx, `
		SELECT id, type, created_at, account_id, data FROM events
		WHERE (txid, seq) > ($1, $2)
		  AND txid < pg_snapshot_xmin(pg_current_snapshot())::text::bigint
		  AND ($3 = '' OR account_id = $3) AND ($4 = '' OR type = $4)
		ORDER BY txid, seq LIMIT $5`, txid, seq, p.AccountID, string(p.Type), limit)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, scanEvent)
}

func scanEvent(r pgx.CollectableRow) (Event, error) {
	var e Event
	var data []byte
	err := r.Scan(&e.ID, &e.Type, &e.CreatedAt, &e.AccountID, &data)
	e.CreatedAt = e.CreatedAt.UTC()
	e.Data = data
	return e, err
}

// ErrNotFound is returned for an event id that names no event.
var ErrNotFound = errors.New("event not found")

// Get returns one event by id.
func Get(ctx context.Context, q pgdb.Executor, id string) (*Event, error) {
	txid, seq, err := ParseID(id)
	if err != nil {
		return nil, err
	}
	rows, err := q.Query(ctx, `SELECT id, type, created_at, account_id, data FROM events WHERE txid = $1 AND seq = $2`, txid, seq)
	if err != nil {
		return nil, err
	}
	evs, err := pgx.CollectRows(rows, scanEvent)
	if err != nil {
		return nil, err
	}
	if len(evs) == 0 {
		return nil, fmt.Errorf("%w: %s", ErrNotFound, id)
	}
	return &evs[0], nil
}

// DefaultRetention is how long events are kept (BILLING_EVENTS_RETENTION).
const DefaultRetention = 90 * 24 * time.Hour

// Prune deletes events created before cutoff, with their deliveries, a
// batch at a time so that no transaction holds many rows: it returns how
// many it deleted.
func Prune(ctx context.Context, q pgdb.Executor, cutoff time.Time) (int64, error) {
	var total int64
	for {
		tag, err := q.Exec(ctx, `
			DELETE FROM events WHERE (txid, seq) IN (
				SELECT txid, seq FROM events WHERE created_at < $1 LIMIT 10000)`, cutoff)
		if err != nil {
			return total, err
		}
		total += tag.RowsAffected()
		if tag.RowsAffected() < 10000 {
			return total, nil
		}
	}
}
