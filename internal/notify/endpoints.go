package notify

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/billingengine/engine/billing"
	"github.com/billingengine/engine/internal/platform/pgdb"
)

// Endpoint is a registered webhook receiver. Secret is shown once, when
// it is added.
type Endpoint struct {
	ID         string              `json:"id"`
	URL        string              `json:"url"`
	EventTypes []billing.EventType `json:"events"`
	CreatedAt  time.Time           `json:"created_at"`
	Secret     string              `json:"secret,omitempty"`
}

// InputError is a bad input, naming its field.
type InputError struct {
	Field, Message string
}

func (e *InputError) Error() string { return e.Field + ": " + e.Message }

// ErrNotFound is returned for an endpoint id that names no endpoint.
var ErrNotFound = errors.New("webhook endpoint not found")

// ValidateURL accepts an absolute http(s) URL; outside sandbox mode only
// https, unless the host is loopback (a receiver on the same machine, as
// in tests), since the events carry customers' invoices.
func ValidateURL(raw string, sandbox bool) error {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" || !u.IsAbs() {
		return &InputError{"url", fmt.Sprintf("%q is not an absolute URL (https://host/path)", raw)}
	}
	if u.User != nil {
		return &InputError{"url", "credentials in the URL would be stored and shown in listings: the signature authenticates us instead"}
	}
	switch u.Scheme {
	case "https":
		return nil
	case "http":
		if sandbox || isLoopback(u.Hostname()) {
			return nil
		}
		return &InputError{"url", "must be https (http only in sandbox mode or to a loopback host)"}
	default:
		return &InputError{"url", fmt.Sprintf("scheme %q is not http or https", u.Scheme)}
	}
}

func isLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// ParseEventTypes parses a subscription list: nil (every type) for none.
func ParseEventTypes(list []string) ([]billing.EventType, error) {
	var out []billing.EventType
	seen := map[billing.EventType]bool{}
	for _, s := range list {
		t := billing.EventType(strings.TrimSpace(s))
		if t == "" {
			continue
		}
		if !t.Valid() {
			names := make([]string, 0, len(billing.EventTypes()))
			for _, k := range billing.EventTypes() {
				names = append(names, string(k))
			}
			return nil, &InputError{"events", fmt.Sprintf("unknown event type %q (types: %s)", t, strings.Join(names, ", "))}
		}
		if !seen[t] {
			seen[t] = true
			out = append(out, t)
		}
	}
	return out, nil
}

// AddParams is a new endpoint.
type AddParams struct {
	URL string
	// EventTypes subscribed; nil for every type.
	EventTypes []billing.EventType
	Sandbox    bool
}

// Add registers an endpoint and returns it with its secret, the one time
// the secret is shown. It receives the events recorded after it commits.
func Add(ctx context.Context, q pgdb.Executor, p AddParams) (*Endpoint, error) {
	if err := ValidateURL(p.URL, p.Sandbox); err != nil {
		return nil, err
	}
	for _, t := range p.EventTypes {
		if !t.Valid() {
			return nil, &InputError{"events", fmt.Sprintf("unknown event type %q", t)}
		}
	}
	secret, err := NewSecret()
	if err != nil {
		return nil, err
	}
	b := make([]byte, 8)
	if _, err := rand.Read(b); err != nil {
		return nil, err
	}
	e := &Endpoint{ID: "we_" + hex.EncodeToString(b), URL: p.URL, EventTypes: p.EventTypes, Secret: secret}
	var types []string
	for _, t := range p.EventTypes {
		types = append(types, string(t))
	}
	err = q.QueryRow(ctx, `INSERT INTO webhook_endpoints (id, url, secret, event_types) VALUES ($1, $2, $3, $4) RETURNING created_at`,
		e.ID, e.URL, e.Secret, types).Scan(&e.CreatedAt)
	e.CreatedAt = e.CreatedAt.UTC()
	if e.EventTypes == nil {
		e.EventTypes = []billing.EventType{}
	}
	return e, err
}

func scanEndpoint(r pgx.CollectableRow) (*Endpoint, error) {
	var e Endpoint
	var types []string
	if err := r.Scan(&e.ID, &e.URL, &e.Secret, &types, &e.CreatedAt); err != nil {
		return nil, err
	}
	e.CreatedAt = e.CreatedAt.UTC()
	e.EventTypes = []billing.EventType{}
	for _, t := range types {
		e.EventTypes = append(e.EventTypes, billing.EventType(t))
	}
	return &e, nil
}

const endpointColumns = `id, url, secret, event_types, created_at`

// List returns the endpoints, oldest first, without their secrets.
func List(ctx context.Context, q pgdb.Executor) ([]*Endpoint, error) {
	rows, err := q.Query(ctx, `SELECT `+endpointColumns+` FROM webhook_endpoints ORDER BY created_at, id`)
	if err != nil {
		return nil, err
	}
	eps, err := pgx.CollectRows(rows, scanEndpoint)
	for _, e := range eps {
		e.Secret = ""
	}
	return eps, err
}

// get returns an endpoint with its secret, for signing.
func get(ctx context.Context, q pgdb.Executor, id string) (*Endpoint, error) {
	rows, err := q.Query(ctx, `SELECT `+endpointColumns+` FROM webhook_endpoints WHERE id = $1`, id)
	if err != nil {
		return nil, err
	}
	eps, err := pgx.CollectRows(rows, scanEndpoint)
	if err != nil {
		return nil, err
	}
	if len(eps) == 0 {
		return nil, fmt.Errorf("%w: %s", ErrNotFound, id)
	}
	return eps[0], nil
}

// Remove deletes an endpoint and its deliveries: nothing more is sent to
// it, and a delivery in flight is not recorded.
func Remove(ctx context.Context, q pgdb.Executor, id string) error {
	tag, err := q.Exec(ctx, `DELETE FROM webhook_endpoints WHERE id = $1`, id)
	if err != nil {
		return err
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("%w: %s", ErrNotFound, id)
	}
	return nil
}
