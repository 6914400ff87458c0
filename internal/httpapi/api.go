package httpapi

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"
	"github.com/shopspring/decimal"

	"github.com/billingengine/engine/billing"
	"github.com/billingengine/engine/internal/platform/auth"
	"github.com/billingengine/engine/internal/views"
	"github.com/billingengine/engine/invoices"
	"github.com/billingengine/engine/jobs"
	"github.com/billingengine/engine/payments"
	"github.com/billingengine/engine/payments/paypal"
)

// access says which scopes may call a route. Account tokens reach only
// their own account's data; anything else answers 404, as if it didn't
// exist.
type access uint8

const (
	allowFinance access = 1 << iota
	allowService
	allowAccount
	public // no token
)

// Route is a registered route, for the API description and its test.
type Route struct {
	Pattern string // "GET /v1/accounts/{id}"
	Scopes  []string
}

func (a access) scopes() []string {
	var out []string
	if a&public != 0 {
		return []string{"none"}
	}
	if a&allowFinance != 0 {
		out = append(out, "finance")
	}
	if a&allowService != 0 {
		out = append(out, "service")
	}
	if a&allowAccount != 0 {
		out = append(out, "account")
	}
	return out
}

// principal is who is calling.
type principal struct {
	token *auth.Token
}

// sees reports whether the caller may see an account's data.
func (p *principal) sees(accountID string) bool {
	if p.token.Scope == auth.ScopeFinance {
		return true
	}
	own, ok := p.token.Scope.Account()
	return ok && own == accountID
}

// Routes lists what the server serves.
func (s *Server) Routes() []Route { return s.routeList }

// queryOf lists the query parameters each API route takes; the others take
// none. A parameter a route doesn't take is a 400 naming it (SPEC §8),
// before anything else is done. The list routes check theirs themselves
// (queryParams), as do the public routes (webhooks and the PayPal return
// get what the processors send).
var queryOf = map[string][]string{
	"POST /v1/usage":                 {"format", "skip_invalid"},
	"GET /v1/accounts/{id}/invoices": {"period"},
	"GET /v1/accounts":               nil,
	"GET /v1/invoices":               nil,
	"GET /v1/events":                 {"after", "type", "limit", "account"},
	"GET /v1/webhooks/deliveries":    {"endpoint", "state"},
	"GET /v1/accounts/{id}/payments": {"limit", "after"},
}

// handle registers a route behind the scope check.
func (s *Server) handle(pattern string, acc access, h func(http.ResponseWriter, *http.Request, *principal)) {
	s.routeList = append(s.routeList, Route{Pattern: pattern, Scopes: acc.scopes()})
	resource := "resource"
	for _, r := range []string{"account", "invoice", "run"} {
		if strings.Contains(pattern, "/"+r+"s/{") {
			resource = r
		}
	}
	s.mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
		if acc&public != 0 {
			h(w, r, nil)
			return
		}
		p, ok := s.authenticate(w, r)
		if !ok {
			return
		}
		allowed := (p.token.Scope == auth.ScopeFinance && acc&allowFinance != 0) ||
			(p.token.Scope == auth.ScopeService && acc&allowService != 0)
		if _, isAccount := p.token.Scope.Account(); isAccount && acc&allowAccount != 0 {
			allowed = true
		}
		if !allowed {
			writeError(w, http.StatusForbidden, "forbidden", fmt.Sprintf("tokens of scope %s can't %s %s", scopeKind(p.token.Scope), r.Method, r.URL.Path))
			return
		}
		for _, name := range []string{"id", "number"} {
			if v := r.PathValue(name); v != "" && !plausibleID(v) {
				notFound(w, resource)
				return
			}
		}
		if allowed, listed := queryOf[pattern]; !listed || allowed != nil {
			if _, ok := queryParams(w, r, allowed...); !ok {
				return
			}
		}
		h(w, r, p)
	})
}

func scopeKind(s auth.Scope) string {
	if _, ok := s.Account(); ok {
		return "account:ID"
	}
	return string(s)
}

// authenticate reads the bearer token: 401 when it is missing or invalid.
func (s *Server) authenticate(w http.ResponseWriter, r *http.Request) (*principal, bool) {
	secret, ok := auth.BearerSecret(r.Header.Get("Authorization"))
	if !ok {
		w.Header().Set("WWW-Authenticate", `Bearer realm="billing"`)
		writeError(w, http.StatusUnauthorized, "unauthorized", "a bearer token is required")
		return nil, false
	}
	t, err := auth.Authenticate(r.Context(), s.cfg.Pool, secret)
	if errors.Is(err, auth.ErrInvalidToken) {
		w.Header().Set("WWW-Authenticate", `Bearer realm="billing", error="invalid_token"`)
		writeError(w, http.StatusUnauthorized, "unauthorized", "invalid or revoked token")
		return nil, false
	}
	if err != nil {
		s.internalError(w, r, err)
		return nil, false
	}
	return &principal{token: t}, true
}

// notFound answers 404 in the API's error shape.
func notFound(w http.ResponseWriter, what string) {
	writeError(w, http.StatusNotFound, "not_found", what+" not found")
}

// apiRoutes registers the API of SPEC §8.
func (s *Server) apiRoutes() {
	s.handle("POST /v1/usage", allowFinance|allowService, s.postUsage)
	s.handle("POST /v1/runs", allowFinance, s.postRun)
	s.handle("GET /v1/runs/{id}", allowFinance, s.getRun)
	s.handle("GET /v1/accounts", allowFinance, s.getAccounts)
	s.handle("GET /v1/invoices", allowFinance, s.getInvoices)
	s.handle("GET /v1/accounts/{id}", allowFinance|allowAccount, s.getAccount)
	s.handle("GET /v1/accounts/{id}/invoices", allowFinance|allowAccount, s.getAccountInvoices)
	s.handle("POST /v1/accounts/{id}/credit/paypal", allowFinance|allowAccount, s.postPayPalCredit)
	s.handle("GET /v1/invoices/{number}", allowFinance|allowAccount, s.getInvoice)
	s.handle("GET /v1/invoices/{number}/pdf", allowFinance|allowAccount, s.getInvoicePDF)
	s.handle("GET /v1/invoices/{number}/xml", allowFinance|allowAccount, s.getInvoiceXML)
	s.handle("POST /v1/invoices/{number}/collect", allowFinance|allowService, s.postCollect)
	s.handle("POST /v1/invoices/{number}/void", allowFinance, s.postVoid)
	s.eventRoutes()
	s.customerRoutes()
	s.portalRoutes()
}

// maxProblems bounds the problems a 422 lists; the count says how many
// there were in all.
const maxProblems = 1000

type problemJSON struct {
	Line    int    `json:"line"`
	Message string `json:"message"`
}

func nonNil(p []problemJSON) []problemJSON {
	if p == nil {
		return []problemJSON{}
	}
	return p
}

// plausibleID reports whether a path value can name anything: identifiers
// are short UTF-8 text without control characters. Anything else is not
// found, without asking Postgres (which refuses NUL bytes outright).
func plausibleID(s string) bool {
	return len(s) <= 255 && utf8.ValidString(s) && !strings.ContainsFunc(s, unicode.IsControl)
}

// postRun starts a billing run: {"period":"2026-10","account_ids":[…]};
// with "dry_run":true it answers what the run would bill instead.
func (s *Server) postRun(w http.ResponseWriter, r *http.Request, _ *principal) {
	var body struct {
		Period     string   `json:"period"`
		AccountIDs []string `json:"account_ids"`
		DryRun     bool     `json:"dry_run"`
	}
	if !decodeJSON(w, r, &body) {
		return
	}
	p, err := billing.ParsePeriod(body.Period)
	if err != nil {
		writeError(w, http.StatusBadRequest, "bad_request", "period: "+err.Error())
		return
	}
	ctx := r.Context()
	for _, id := range body.AccountIDs {
		if _, err := views.GetAccount(ctx, s.cfg.Pool, id); errors.Is(err, views.ErrAccountNotFound) {
			writeError(w, http.StatusUnprocessableEntity, "unknown_account", err.Error())
			return
		} else if err != nil {
			s.internalError(w, r, err)
			return
		}
	}
	params := invoices.RunParams{Period: p, AccountIDs: body.AccountIDs, RequestedBy: "api", Location: s.cfg.Invoices.Location, Now: s.cfg.Now()}
	var notEnded *billing.PeriodNotEndedError
	if body.DryRun {
		preview, err := invoices.DryRun(ctx, s.cfg.Pool, s.cfg.Invoices, params)
		if errors.As(err, &notEnded) {
			writeError(w, http.StatusUnprocessableEntity, "period_not_ended", err.Error())
			return
		}
		if err != nil {
			s.internalError(w, r, err)
			return
		}
		writeJSON(w, http.StatusOK, preview)
		return
	}
	run, jobID, err := jobs.StartRun(ctx, s.cfg.Pool, s.cfg.Jobs, params)
	if errors.As(err, &notEnded) {
		writeError(w, http.StatusUnprocessableEntity, "period_not_ended", err.Error())
		return
	}
	var inFlight *invoices.RunInFlightError
	if errors.As(err, &inFlight) {
		writeJSON(w, http.StatusConflict, map[string]any{
			"error":  map[string]string{"code": "run_in_flight", "message": err.Error()},
			"run_id": inFlight.Run.ID,
		})
		return
	}
	if err != nil {
		s.internalError(w, r, err)
		return
	}
	w.Header().Set("Location", fmt.Sprintf("/v1/runs/%d", run.ID))
	writeJSON(w, http.StatusAccepted, map[string]any{"run_id": run.ID, "job_id": jobID, "period": run.Period, "account_ids": run.AccountIDs})
}

// runJSON is a run and the jobs of it that gave up.
type runJSON struct {
	*invoices.Run
	Failures []jobs.JobFailure `json:"failures"`
}

func (s *Server) getRun(w http.ResponseWriter, r *http.Request, _ *principal) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil {
		notFound(w, "run")
		return
	}
	run, err := invoices.GetRun(r.Context(), s.cfg.Pool, id)
	if errors.Is(err, invoices.ErrRunNotFound) {
		notFound(w, "run")
		return
	}
	if err != nil {
		s.internalError(w, r, err)
		return
	}
	failures, err := jobs.RunFailures(r.Context(), s.cfg.Pool, id)
	if err != nil {
		s.internalError(w, r, err)
		return
	}
	// Accounts the run could not bill, as `billing runs show` lists them:
	// the rest of their shard was billed.
	accounts, err := invoices.RunAccountFailures(r.Context(), s.cfg.Pool, id)
	if err != nil {
		s.internalError(w, r, err)
		return
	}
	for _, f := range accounts {
		failures = append(failures, jobs.JobFailure{Kind: "account", State: "failed", AccountID: f.AccountID, Error: f.Message})
	}
	if failures == nil {
		failures = []jobs.JobFailure{}
	}
	writeJSON(w, http.StatusOK, runJSON{run, failures})
}

func (s *Server) getAccount(w http.ResponseWriter, r *http.Request, p *principal) {
	id := r.PathValue("id")
	if !p.sees(id) {
		notFound(w, "account")
		return
	}
	acc, err := views.GetAccount(r.Context(), s.cfg.Pool, id)
	if errors.Is(err, views.ErrAccountNotFound) {
		notFound(w, "account")
		return
	}
	if err != nil {
		s.internalError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, acc)
}

func (s *Server) getAccountInvoices(w http.ResponseWriter, r *http.Request, p *principal) {
	id := r.PathValue("id")
	if !p.sees(id) {
		notFound(w, "account")
		return
	}
	if _, err := views.GetAccount(r.Context(), s.cfg.Pool, id); errors.Is(err, views.ErrAccountNotFound) {
		notFound(w, "account")
		return
	} else if err != nil {
		s.internalError(w, r, err)
		return
	}
	period := r.URL.Query().Get("period")
	if period != "" {
		if _, err := billing.ParsePeriod(period); err != nil {
			writeError(w, http.StatusBadRequest, "invalid_parameter", fmt.Sprintf("period: expected YYYY-MM, got %q", period))
			return
		}
	}
	invs, err := payments.ListInvoices(r.Context(), s.cfg.Pool, invoices.ListParams{AccountID: id, Period: period})
	if err != nil {
		s.internalError(w, r, err)
		return
	}
	if invs == nil {
		invs = []*invoices.Invoice{}
	}
	writeJSON(w, http.StatusOK, invs)
}

// invoiceFor returns the invoice when the caller may see it, else answers 404.
func (s *Server) invoiceFor(w http.ResponseWriter, r *http.Request, p *principal) (*invoices.Invoice, bool) {
	inv, err := payments.GetInvoice(r.Context(), s.cfg.Pool, r.PathValue("number"))
	if errors.Is(err, invoices.ErrNotFound) || (err == nil && p.token.Scope != auth.ScopeService && !p.sees(inv.AccountID)) {
		notFound(w, "invoice")
		return nil, false
	}
	if err != nil {
		s.internalError(w, r, err)
		return nil, false
	}
	return inv, true
}

// creditNoteFor returns the credit note when the caller may see it, else
// answers 404.
func (s *Server) creditNoteFor(w http.ResponseWriter, r *http.Request, p *principal) (*invoices.CreditNote, bool) {
	cn, err := invoices.GetCreditNote(r.Context(), s.cfg.Pool, r.PathValue("number"))
	if errors.Is(err, invoices.ErrCreditNoteNotFound) || (err == nil && !p.sees(cn.AccountID)) {
		notFound(w, "credit note")
		return nil, false
	}
	if err != nil {
		s.internalError(w, r, err)
		return nil, false
	}
	return cn, true
}

// getInvoice serves an invoice, or a credit note by its CN- number.
func (s *Server) getInvoice(w http.ResponseWriter, r *http.Request, p *principal) {
	if invoices.IsCreditNoteNumber(r.PathValue("number")) {
		if cn, ok := s.creditNoteFor(w, r, p); ok {
			writeJSON(w, http.StatusOK, cn)
		}
		return
	}
	if inv, ok := s.invoiceFor(w, r, p); ok {
		writeJSON(w, http.StatusOK, inv)
	}
}

func (s *Server) getInvoicePDF(w http.ResponseWriter, r *http.Request, p *principal) {
	var number string
	if invoices.IsCreditNoteNumber(r.PathValue("number")) {
		cn, ok := s.creditNoteFor(w, r, p)
		if !ok {
			return
		}
		number = cn.Number
	} else {
		inv, ok := s.invoiceFor(w, r, p)
		if !ok {
			return
		}
		number = inv.Number
	}
	pdf, err := s.cfg.Renderer.EnsurePDF(r.Context(), s.cfg.Pool, number)
	if err != nil {
		s.internalError(w, r, err)
		return
	}
	etag := `"` + pdf.SHA256 + `"`
	w.Header().Set("ETag", etag)
	if r.Header.Get("If-None-Match") == etag {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	w.Header().Set("Content-Type", "application/pdf")
	w.Header().Set("Content-Disposition", `inline; filename="`+number+`.pdf"`)
	w.Header().Set("Content-Length", strconv.Itoa(len(pdf.Bytes)))
	_, _ = w.Write(pdf.Bytes)
}

// getInvoiceXML serves the e-invoice of a business account's invoice or
// credit note (SPEC §13); a consumer's has none: 404 no_einvoice.
func (s *Server) getInvoiceXML(w http.ResponseWriter, r *http.Request, p *principal) {
	var number string
	if invoices.IsCreditNoteNumber(r.PathValue("number")) {
		cn, ok := s.creditNoteFor(w, r, p)
		if !ok {
			return
		}
		number = cn.Number
	} else {
		inv, ok := s.invoiceFor(w, r, p)
		if !ok {
			return
		}
		number = inv.Number
	}
	doc, err := s.cfg.Renderer.EnsureXML(r.Context(), s.cfg.Pool, number)
	if errors.Is(err, invoices.ErrConsumer) {
		writeError(w, http.StatusNotFound, "no_einvoice", err.Error())
		return
	}
	if err != nil {
		s.internalError(w, r, err)
		return
	}
	etag := `"` + doc.XMLSHA256() + `"`
	w.Header().Set("ETag", etag)
	if r.Header.Get("If-None-Match") == etag {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	w.Header().Set("Content-Type", "application/xml")
	w.Header().Set("Content-Disposition", `inline; filename="`+number+`.xml"`)
	w.Header().Set("Content-Length", strconv.Itoa(len(doc.XML)))
	_, _ = w.Write(doc.XML)
}

// postCollect enqueues collect_invoice. An invoice with nothing to collect
// (paid, void, or a debit in flight) answers 409 with its status.
func (s *Server) postCollect(w http.ResponseWriter, r *http.Request, p *principal) {
	inv, ok := s.invoiceFor(w, r, p)
	if !ok {
		return
	}
	if inv.Status != invoices.StatusOpen {
		writeJSON(w, http.StatusConflict, map[string]any{
			"error":  map[string]string{"code": "not_collectable", "message": fmt.Sprintf("invoice %s is %s: nothing to collect", inv.Number, inv.Status)},
			"status": inv.Status,
		})
		return
	}
	res, err := s.cfg.Jobs.Insert(r.Context(), jobs.CollectInvoiceArgs{InvoiceNumber: inv.Number}, nil)
	if err != nil {
		s.internalError(w, r, err)
		return
	}
	writeJSON(w, http.StatusAccepted, map[string]any{"invoice_number": inv.Number, "job_id": res.Job.ID, "status": inv.Status})
}

// postVoid voids an invoice: {"reason":"…"}. 200 with the credit note,
// the refund and the referral reversals; voiding a void invoice answers the
// same, with already_void set.
func (s *Server) postVoid(w http.ResponseWriter, r *http.Request, p *principal) {
	var body struct {
		Reason string `json:"reason"`
	}
	if !decodeJSON(w, r, &body) {
		return
	}
	if _, err := invoices.ValidateReason(body.Reason); err != nil {
		writeError(w, http.StatusBadRequest, "invalid_reason", err.Error())
		return
	}
	v, err := jobs.VoidInvoice(r.Context(), s.cfg.Pool, s.cfg.Jobs, s.cfg.Invoices,
		invoices.VoidParams{Number: r.PathValue("number"), Reason: body.Reason, RequestedBy: "api:" + p.token.Name}, s.cfg.Now())
	switch {
	case errors.Is(err, invoices.ErrNotFound):
		notFound(w, "invoice")
	case errors.Is(err, invoices.ErrInvalidReason):
		writeError(w, http.StatusBadRequest, "invalid_reason", err.Error())
	case err != nil:
		s.internalError(w, r, err)
	default:
		writeJSON(w, http.StatusOK, v)
	}
}

// postPayPalCredit starts a PayPal purchase of credit and returns the
// approval link: {"amount":"25.00"}.
func (s *Server) postPayPalCredit(w http.ResponseWriter, r *http.Request, p *principal) {
	id := r.PathValue("id")
	if !p.sees(id) {
		notFound(w, "account")
		return
	}
	var body struct {
		Amount string `json:"amount"`
	}
	if !decodeJSON(w, r, &body) {
		return
	}
	amount, err := billing.ParseAmount(body.Amount)
	if err != nil {
		writeError(w, http.StatusBadRequest, "bad_request", err.Error())
		return
	}
	ctx := r.Context()
	if _, err := views.GetAccount(ctx, s.cfg.Pool, id); errors.Is(err, views.ErrAccountNotFound) {
		notFound(w, "account")
		return
	} else if err != nil {
		s.internalError(w, r, err)
		return
	}
	purchase, err := s.BuyCredit(ctx, id, amount)
	var bounds *billing.PurchaseAmountError
	if errors.As(err, &bounds) {
		writeError(w, http.StatusUnprocessableEntity, "amount_out_of_range", err.Error())
		return
	}
	if errors.Is(err, paypal.ErrPurchasesOff) {
		writeError(w, http.StatusConflict, "credit_purchases_off", err.Error())
		return
	}
	if err != nil {
		s.internalError(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, purchase)
}

// BuyCredit starts a PayPal purchase of credit for the account (the API
// and the portal both buy through it); the sandbox approves at once, so
// there it captures now, as the buyer's return would, with the capture's
// effects enqueued in the same transaction.
func (s *Server) BuyCredit(ctx context.Context, accountID string, amount decimal.Decimal) (*paypal.Purchase, error) {
	purchase, err := paypal.Buy(ctx, s.cfg.Pool, s.cfg.PayPal, accountID, amount, s.cfg.CreditPurchaseMax)
	if err != nil {
		return nil, err
	}
	if _, sandbox := s.cfg.PayPal.(paypal.Sandbox); sandbox {
		c, err := paypal.CaptureOrder(ctx, s.cfg.PayPal, purchase.OrderID)
		if err == nil {
			err = pgx.BeginFunc(ctx, s.cfg.Pool, func(tx pgx.Tx) error {
				captured, err := paypal.RecordCapture(ctx, tx, c, s.cfg.Now())
				if err == nil {
					_, err = jobs.Enqueue(ctx, tx, s.cfg.Jobs, captured.Effects)
				}
				return err
			})
		}
		if err != nil {
			return nil, err
		}
		purchase.Status = c.Status
	}
	return purchase, nil
}

// riverUI puts the River UI behind HTTP basic auth: any user name, a
// finance token as the password, so that a browser can log in. A browser
// sends those cached credentials with any request to the UI, a forged one
// from another site too (a text/plain form POST needs no CORS preflight),
// so requests that change something (POST, PUT, PATCH, DELETE) must come
// from the UI's own pages: Sec-Fetch-Site same-origin, or, from browsers
// too old to send it, an Origin whose host is the request's. They are
// refused before the credentials are even checked.
func (s *Server) riverUI(h http.Handler) http.Handler {
	csrf := http.NewCrossOriginProtection()
	csrf.SetDenyHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusForbidden, "cross_origin",
			"the River UI accepts changes only from its own pages: this request came from another site")
	}))
	return csrf.Handler(s.riverUIAuth(h))
}

func (s *Server) riverUIAuth(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, password, ok := r.BasicAuth()
		if ok {
			t, err := auth.Authenticate(r.Context(), s.cfg.Pool, password)
			if err == nil && subtle.ConstantTimeCompare([]byte(t.Scope), []byte(auth.ScopeFinance)) == 1 {
				h.ServeHTTP(w, r)
				return
			}
			if err != nil && !errors.Is(err, auth.ErrInvalidToken) {
				s.internalError(w, r, err)
				return
			}
		}
		w.Header().Set("WWW-Authenticate", `Basic realm="billing River UI (a finance token as the password)", charset="UTF-8"`)
		writeError(w, http.StatusUnauthorized, "unauthorized", "log in with a finance token as the password")
	})
}
