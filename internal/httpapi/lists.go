package httpapi

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strings"

	"github.com/billingengine/engine/internal/views"
)

// queryParams returns the request's query when it names only allowed
// parameters, each once; otherwise it answers 400 naming the parameter
// (an unknown parameter is never ignored, SPEC §8).
func queryParams(w http.ResponseWriter, r *http.Request, allowed ...string) (url.Values, bool) {
	q, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		writeError(w, http.StatusBadRequest, "invalid_parameter", "the query string is malformed: "+strings.TrimPrefix(err.Error(), "invalid URL escape "))
		return nil, false
	}
	names := make([]string, 0, len(q))
	for k := range q {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		if !slices.Contains(allowed, k) {
			takes := "no query parameter"
			if len(allowed) > 0 {
				takes = strings.Join(allowed, ", ")
			}
			writeError(w, http.StatusBadRequest, "invalid_parameter",
				fmt.Sprintf("%s: unknown query parameter (this route takes %s)", k, takes))
			return nil, false
		}
		if len(q[k]) > 1 {
			writeError(w, http.StatusBadRequest, "invalid_parameter", k+": given more than once")
			return nil, false
		}
	}
	return q, true
}

// paramError answers a listing's malformed parameter, or reports that err
// is something else.
func paramError(w http.ResponseWriter, err error) bool {
	var pe *views.ParamError
	if errors.As(err, &pe) {
		writeError(w, http.StatusBadRequest, "invalid_parameter", pe.Error())
		return true
	}
	return false
}

// getAccounts lists accounts: ?status=active|suspended&search=&limit=&after=.
func (s *Server) getAccounts(w http.ResponseWriter, r *http.Request, _ *principal) {
	q, ok := queryParams(w, r, "status", "search", "limit", "after")
	if !ok {
		return
	}
	limit, err := views.ParseLimit(q.Get("limit"))
	if paramError(w, err) {
		return
	}
	page, err := views.ListAccounts(r.Context(), s.cfg.Pool, views.AccountFilter{
		Status: views.Status(q.Get("status")), Search: q.Get("search"), After: q.Get("after"), Limit: limit})
	if paramError(w, err) {
		return
	}
	if err != nil {
		s.internalError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, page)
}

// getInvoices lists finalized invoices:
// ?period=&status=&account=&overdue=&limit=&after=.
func (s *Server) getInvoices(w http.ResponseWriter, r *http.Request, _ *principal) {
	q, ok := queryParams(w, r, "period", "status", "account", "overdue", "limit", "after")
	if !ok {
		return
	}
	limit, err := views.ParseLimit(q.Get("limit"))
	if paramError(w, err) {
		return
	}
	status, err := views.ParseInvoiceStatus(q.Get("status"))
	if paramError(w, err) {
		return
	}
	var overdue bool
	switch v := q.Get("overdue"); v {
	case "", "false":
	case "true":
		overdue = true
	default:
		writeError(w, http.StatusBadRequest, "invalid_parameter", fmt.Sprintf("overdue: expected true or false, got %q", v))
		return
	}
	page, err := views.ListInvoices(r.Context(), s.cfg.Pool, views.InvoiceFilter{
		Period: q.Get("period"), Status: status, AccountID: q.Get("account"), Overdue: overdue, After: q.Get("after"), Limit: limit})
	if paramError(w, err) {
		return
	}
	if err != nil {
		s.internalError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, page)
}
