package httpapi

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/billingengine/engine/billing"
	"github.com/billingengine/engine/internal/events"
	"github.com/billingengine/engine/internal/notify"
	"github.com/billingengine/engine/jobs"
)

// eventRoutes registers the events and webhook endpoints of SPEC §11.
func (s *Server) eventRoutes() {
	s.handle("GET /v1/events", allowFinance|allowService|allowAccount, s.getEvents)
	s.handle("POST /v1/events/{id}/redeliver", allowFinance, s.postRedeliver)
	s.handle("GET /v1/webhooks", allowFinance, s.getWebhooks)
	s.handle("POST /v1/webhooks", allowFinance, s.postWebhook)
	s.handle("DELETE /v1/webhooks/{id}", allowFinance, s.deleteWebhook)
	s.handle("GET /v1/webhooks/deliveries", allowFinance, s.getDeliveries)
}

// getEvents lists events in order: ?after=EVENT_ID&type=T&limit=N (and
// ?account= for finance and service tokens); an account token sees its
// own account's only. The answer is {"data":[…],"next":"evt_…"|null}: next
// is the after= of the following page, null on a page shorter than limit.
func (s *Server) getEvents(w http.ResponseWriter, r *http.Request, p *principal) {
	q := r.URL.Query()
	params := events.ListParams{After: q.Get("after"), Type: billing.EventType(q.Get("type")), AccountID: q.Get("account"), Limit: 100}
	if own, ok := p.token.Scope.Account(); ok {
		if params.AccountID != "" && params.AccountID != own {
			notFound(w, "account")
			return
		}
		params.AccountID = own
	}
	if params.Type != "" && !params.Type.Valid() {
		_, err := notify.ParseEventTypes([]string{string(params.Type)})
		writeError(w, http.StatusBadRequest, "bad_request", "type: "+strings.TrimPrefix(err.Error(), "events: "))
		return
	}
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > events.MaxLimit {
			writeError(w, http.StatusBadRequest, "bad_request", fmt.Sprintf("limit: an integer between 1 and %d", events.MaxLimit))
			return
		}
		params.Limit = n
	}
	evs, err := events.List(r.Context(), s.cfg.Pool, params)
	if errors.Is(err, events.ErrBadCursor) {
		writeError(w, http.StatusBadRequest, "bad_request", "after: "+err.Error())
		return
	}
	if err != nil {
		s.internalError(w, r, err)
		return
	}
	if evs == nil {
		evs = []events.Event{}
	}
	var next *string
	if len(evs) == params.Limit {
		id := evs[len(evs)-1].ID
		next = &id
	}
	writeJSON(w, http.StatusOK, map[string]any{"data": evs, "next": next})
}

func (s *Server) getWebhooks(w http.ResponseWriter, r *http.Request, _ *principal) {
	eps, err := notify.List(r.Context(), s.cfg.Pool)
	if err != nil {
		s.internalError(w, r, err)
		return
	}
	if eps == nil {
		eps = []*notify.Endpoint{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"data": eps})
}

// postWebhook registers an endpoint: {"url":"https://…","events":["invoice.paid"]}
// (events optional: all). 201 with the endpoint and its secret, shown once.
func (s *Server) postWebhook(w http.ResponseWriter, r *http.Request, _ *principal) {
	var body struct {
		URL    string   `json:"url"`
		Events []string `json:"events"`
	}
	if !decodeJSON(w, r, &body) {
		return
	}
	types, err := notify.ParseEventTypes(body.Events)
	if err == nil {
		err = notify.ValidateURL(body.URL, s.cfg.Sandbox)
	}
	var ie *notify.InputError
	if errors.As(err, &ie) {
		writeError(w, http.StatusBadRequest, "bad_request", err.Error())
		return
	}
	ep, err := notify.Add(r.Context(), s.cfg.Pool, notify.AddParams{URL: body.URL, EventTypes: types, Sandbox: s.cfg.Sandbox})
	if err != nil {
		s.internalError(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, ep)
}

func (s *Server) deleteWebhook(w http.ResponseWriter, r *http.Request, _ *principal) {
	err := notify.Remove(r.Context(), s.cfg.Pool, r.PathValue("id"))
	switch {
	case errors.Is(err, notify.ErrNotFound):
		notFound(w, "webhook endpoint")
	case err != nil:
		s.internalError(w, r, err)
	default:
		writeJSON(w, http.StatusOK, map[string]any{"removed": r.PathValue("id")})
	}
}

// getDeliveries lists deliveries, newest first: ?endpoint=&state=.
func (s *Server) getDeliveries(w http.ResponseWriter, r *http.Request, _ *principal) {
	q := r.URL.Query()
	ds, err := notify.Deliveries(r.Context(), s.cfg.Pool, notify.DeliveryParams{EndpointID: q.Get("endpoint"), State: notify.DeliveryState(q.Get("state"))})
	var ie *notify.InputError
	if errors.As(err, &ie) {
		writeError(w, http.StatusBadRequest, "bad_request", err.Error())
		return
	}
	if err != nil {
		s.internalError(w, r, err)
		return
	}
	if ds == nil {
		ds = []notify.Delivery{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"data": ds})
}

// postRedeliver sends an event again: {"endpoint_id":"we_…"} (optional:
// every endpoint it went to). 202 with the endpoints.
func (s *Server) postRedeliver(w http.ResponseWriter, r *http.Request, _ *principal) {
	var body struct {
		EndpointID string `json:"endpoint_id"`
	}
	if r.ContentLength != 0 && !decodeJSON(w, r, &body) {
		return
	}
	id := r.PathValue("id")
	if _, _, err := events.ParseID(id); err != nil {
		notFound(w, "event")
		return
	}
	var to []string
	err := pgx.BeginFunc(r.Context(), s.cfg.Pool, func(tx pgx.Tx) error {
		var err error
		to, err = jobs.Redeliver(r.Context(), tx, s.cfg.Jobs, id, body.EndpointID)
		return err
	})
	switch {
	case errors.Is(err, notify.ErrEventNotFound):
		notFound(w, "event")
	case errors.Is(err, notify.ErrNotFound):
		notFound(w, "webhook endpoint")
	case err != nil:
		s.internalError(w, r, err)
	default:
		if to == nil {
			to = []string{}
		}
		writeJSON(w, http.StatusAccepted, map[string]any{"event_id": id, "endpoints": to})
	}
}
