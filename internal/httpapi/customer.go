package httpapi

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/billingengine/engine/billing"
	"github.com/billingengine/engine/internal/accounts"
	"github.com/billingengine/engine/internal/views"
	"github.com/billingengine/engine/invoices"
	"github.com/billingengine/engine/jobs"
	"github.com/billingengine/engine/payments"
	"github.com/billingengine/engine/payments/stripe"
)

// StripeMethods sets payment methods up at Stripe (payments/stripe's
// Processor); nil in sandbox mode, where only Stripe's test ids are taken.
type StripeMethods interface {
	SetUp(ctx context.Context, accountID string, m payments.Method) (mandateID string, err error)
	NewSetupIntent(ctx context.Context, accountID string) (clientSecret string, err error)
	SetUpSEPA(ctx context.Context, s stripe.SEPASetup) (methodID, mandateID string, err error)
}

// customerRoutes registers what the customer's billing pages read and do
// (SPEC §14), for the account's own token and finance.
func (s *Server) customerRoutes() {
	s.handle("GET /v1/accounts/{id}/payment-methods", allowFinance|allowAccount, s.getPaymentMethods)
	s.handle("POST /v1/accounts/{id}/payment-methods", allowFinance|allowAccount, s.postPaymentMethod)
	s.handle("GET /v1/accounts/{id}/mandate.pdf", allowFinance|allowAccount, s.getMandatePDF)
	s.handle("GET /v1/accounts/{id}/payments", allowFinance|allowAccount, s.getPayments)
	s.handle("GET /v1/accounts/{id}/referrals", allowFinance|allowAccount, s.getReferrals)
	s.handle("GET /v1/accounts/{id}/timeline", allowFinance|allowAccount, s.getTimeline)
}

// ownAccount answers 404 unless the caller may see the account and it
// exists.
func (s *Server) ownAccount(w http.ResponseWriter, r *http.Request, p *principal) (*views.Account, bool) {
	id := r.PathValue("id")
	if !p.sees(id) {
		notFound(w, "account")
		return nil, false
	}
	acc, err := views.GetAccount(r.Context(), s.cfg.Pool, id)
	if errors.Is(err, views.ErrAccountNotFound) {
		notFound(w, "account")
		return nil, false
	}
	if err != nil {
		s.internalError(w, r, err)
		return nil, false
	}
	return acc, true
}

// methodJSON is a payment method with, for a SEPA debit, its mandate.
type methodJSON struct {
	Type    payments.MethodType `json:"type"`
	ID      string              `json:"id"`
	Mandate *mandateJSON        `json:"mandate,omitempty"`
}

type mandateJSON struct {
	*payments.Mandate
	PDF string `json:"pdf"`
}

func (s *Server) methodView(ctx context.Context, accountID string, m *payments.Method) (*methodJSON, error) {
	out := &methodJSON{Type: m.Type, ID: m.ID}
	if m.Type != payments.MethodSEPADebit {
		return out, nil
	}
	md, err := payments.CurrentMandate(ctx, s.cfg.Pool, accountID)
	if errors.Is(err, payments.ErrNoMandate) {
		return out, nil // set up elsewhere (the CLI, Stripe): no mandate of ours
	}
	if err != nil {
		return nil, err
	}
	if md.PaymentMethodID == m.ID {
		out.Mandate = &mandateJSON{md, "/v1/accounts/" + accountID + "/mandate.pdf"}
	}
	return out, nil
}

// getPaymentMethods lists the account's payment methods: its current one,
// if any (an account has one at a time; replaced ones are history).
func (s *Server) getPaymentMethods(w http.ResponseWriter, r *http.Request, p *principal) {
	acc, ok := s.ownAccount(w, r, p)
	if !ok {
		return
	}
	data := []*methodJSON{}
	if acc.PaymentMethod != nil {
		m, err := s.methodView(r.Context(), acc.ID, acc.PaymentMethod)
		if err != nil {
			s.internalError(w, r, err)
			return
		}
		data = append(data, m)
	}
	writeJSON(w, http.StatusOK, map[string]any{"data": data})
}

// MethodRequest is a new payment method (SPEC §14).
type MethodRequest struct {
	Type       payments.MethodType `json:"type"`
	ID         string              `json:"id"`
	IBAN       string              `json:"iban"`
	BIC        string              `json:"bic"`
	HolderName string              `json:"holder_name"`
}

// MethodResult is what adding a method did.
type MethodResult struct {
	Method      *methodJSON
	Collections int
	// ClientSecret, with Stripe and a card without id: the SetupIntent's.
	ClientSecret string
}

// methodInputError is bad input to AddMethod: 400 with Code.
type methodInputError struct{ code, msg string }

func (e *methodInputError) Error() string { return e.msg }

// AddMethod makes a new method the account's, with what follows (its open
// invoices collected at once, a suspension lifted once none is overdue),
// through payments.ChangeMethods (or AcceptMandate) and jobs.Enqueue in one
// transaction: the API and the portal both add methods through it. ip and
// userAgent record how a SEPA mandate was accepted.
func (s *Server) AddMethod(ctx context.Context, accountID string, req MethodRequest, ip, userAgent string, lang billing.Language) (*MethodResult, error) {
	req.ID = strings.TrimSpace(req.ID)
	switch req.Type {
	case payments.MethodCard:
		if req.IBAN != "" || req.HolderName != "" || req.BIC != "" {
			return nil, &methodInputError{"bad_request", "a card takes no iban, bic or holder_name"}
		}
		if req.ID == "" {
			if s.cfg.StripeMethods == nil {
				return nil, &methodInputError{"bad_request", "id: required in sandbox mode: one of Stripe's test ids, such as pm_card_visa"}
			}
			secret, err := s.cfg.StripeMethods.NewSetupIntent(ctx, accountID)
			if err != nil {
				return nil, err
			}
			return &MethodResult{ClientSecret: secret}, nil
		}
		if s.cfg.StripeMethods == nil && !payments.SandboxCard(req.ID) {
			return nil, &methodInputError{"not_a_test_card", fmt.Sprintf("id: %q is not one of Stripe's test card ids (pm_card_visa, pm_card_chargeDeclined, …): sandbox mode takes no other", req.ID)}
		}
		if !strings.HasPrefix(req.ID, "pm_") || len(req.ID) > 255 || strings.ContainsFunc(req.ID, func(r rune) bool { return r <= ' ' || r == 0x7f }) {
			return nil, &methodInputError{"bad_request", "id: a payment method id, pm_…"}
		}
		m := payments.Method{Type: payments.MethodCard, ID: req.ID}
		if s.cfg.StripeMethods != nil {
			if _, err := s.cfg.StripeMethods.SetUp(ctx, accountID, m); err != nil {
				return nil, err
			}
		}
		res := &MethodResult{Method: &methodJSON{Type: m.Type, ID: m.ID}}
		err := pgx.BeginFunc(ctx, s.cfg.Pool, func(tx pgx.Tx) error {
			changed, err := payments.ChangeMethods(ctx, tx, []payments.MethodChange{{AccountID: accountID, Method: m}}, s.cfg.Now())
			if err != nil {
				return err
			}
			enq, err := jobs.Enqueue(ctx, tx, s.cfg.Jobs, changed.Effects)
			res.Collections = enq.Collections
			return err
		})
		return res, err
	case payments.MethodSEPADebit:
		if req.ID != "" {
			return nil, &methodInputError{"bad_request", "id: a SEPA debit is given by its iban and holder_name, not an id"}
		}
		iban, _, err := payments.CheckMandateInput(req.IBAN, req.BIC, req.HolderName)
		if err != nil {
			return nil, &methodInputError{"invalid_mandate", err.Error()}
		}
		// In sandbox mode the IBAN picks the test method; with Stripe the
		// method and its mandate are set up there first, keyed by the
		// mandate's reference.
		ref, pmID, stripeMandate := payments.NewMandateReference(), payments.SandboxSEPAMethod(iban), ""
		if s.cfg.StripeMethods != nil {
			if pmID, stripeMandate, err = s.cfg.StripeMethods.SetUpSEPA(ctx, stripe.SEPASetup{AccountID: accountID, IBAN: iban,
				HolderName: strings.TrimSpace(req.HolderName), IP: ip, UserAgent: userAgent, Reference: ref}); err != nil {
				return nil, err
			}
		}
		res := &MethodResult{}
		err = pgx.BeginFunc(ctx, s.cfg.Pool, func(tx pgx.Tx) error {
			md, changed, err := payments.AcceptMandate(ctx, tx, payments.MandateAcceptance{
				AccountID: accountID, IBAN: iban, BIC: req.BIC, HolderName: req.HolderName, Reference: ref,
				PaymentMethodID: pmID, ProcessorMandateID: stripeMandate, IP: ip, UserAgent: userAgent, Language: lang, At: s.cfg.Now()})
			if err != nil {
				return err
			}
			enq, err := jobs.Enqueue(ctx, tx, s.cfg.Jobs, changed.Effects)
			res.Collections = enq.Collections
			res.Method = &methodJSON{Type: payments.MethodSEPADebit, ID: md.PaymentMethodID,
				Mandate: &mandateJSON{md, "/v1/accounts/" + accountID + "/mandate.pdf"}}
			return err
		})
		return res, err
	default:
		return nil, &methodInputError{"bad_request", "type: card or sepa_debit"}
	}
}

// clientIP is the address the request came from (the proxy's when behind
// one: mandates record what the server saw).
func clientIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// postPaymentMethod adds a method: {"type":"card","id":"pm_card_visa"},
// {"type":"card"} (Stripe: a SetupIntent's client_secret) or
// {"type":"sepa_debit","iban":"…","holder_name":"…"} (a mandate accepted
// online).
func (s *Server) postPaymentMethod(w http.ResponseWriter, r *http.Request, p *principal) {
	acc, ok := s.ownAccount(w, r, p)
	if !ok {
		return
	}
	var req MethodRequest
	if !decodeJSON(w, r, &req) {
		return
	}
	res, err := s.AddMethod(r.Context(), acc.ID, req, clientIP(r), r.UserAgent(), acc.Language)
	var ie *methodInputError
	if errors.As(err, &ie) {
		writeError(w, http.StatusBadRequest, ie.code, ie.msg)
		return
	}
	if err != nil {
		s.internalError(w, r, err)
		return
	}
	if res.ClientSecret != "" {
		writeJSON(w, http.StatusOK, map[string]any{"type": "card", "client_secret": res.ClientSecret})
		return
	}
	writeJSON(w, http.StatusCreated, map[string]any{"type": res.Method.Type, "id": res.Method.ID, "mandate": res.Method.Mandate,
		"collections_enqueued": res.Collections})
}

// MandatePDF renders the account's current mandate.
func (s *Server) MandatePDF(ctx context.Context, accountID string) ([]byte, *payments.Mandate, error) {
	md, err := payments.CurrentMandate(ctx, s.cfg.Pool, accountID)
	if err != nil {
		return nil, nil, err
	}
	var seller invoices.Seller
	var fonts *invoices.Fonts
	var loc = s.cfg.Invoices.Location
	if s.cfg.Renderer != nil {
		seller, fonts = s.cfg.Renderer.Seller, s.cfg.Renderer.Fonts
	}
	if fonts == nil {
		if fonts, err = invoices.LoadFonts("", s.cfg.Logger); err != nil {
			return nil, nil, err
		}
	}
	b, err := invoices.RenderMandatePDF(invoices.MandateDoc{Reference: md.Reference, HolderName: md.HolderName,
		IBANMasked: md.IBANMasked, BIC: md.BIC, AcceptedAt: md.AcceptedAt, IP: md.IP, UserAgent: md.UserAgent,
		Language: md.Language}, seller, fonts, loc)
	return b, md, err
}

func (s *Server) getMandatePDF(w http.ResponseWriter, r *http.Request, p *principal) {
	acc, ok := s.ownAccount(w, r, p)
	if !ok {
		return
	}
	b, md, err := s.MandatePDF(r.Context(), acc.ID)
	if errors.Is(err, payments.ErrNoMandate) {
		writeError(w, http.StatusNotFound, "no_mandate", "this account has no SEPA mandate")
		return
	}
	if err != nil {
		s.internalError(w, r, err)
		return
	}
	w.Header().Set("Content-Type", "application/pdf")
	w.Header().Set("Content-Disposition", `inline; filename="`+md.Reference+`.pdf"`)
	w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	_, _ = w.Write(b)
}

// getPayments lists the attempts and credit movements, newest first:
// ?limit=&after= → {"data":[…],"next":"…"|null}.
func (s *Server) getPayments(w http.ResponseWriter, r *http.Request, p *principal) {
	acc, ok := s.ownAccount(w, r, p)
	if !ok {
		return
	}
	limit, err := views.ParseLimit(r.URL.Query().Get("limit"))
	if paramError(w, err) {
		return
	}
	page, next, err := views.PaymentHistory(r.Context(), s.cfg.Pool, acc.ID, r.URL.Query().Get("after"), limit)
	if errors.Is(err, views.ErrBadCursor) {
		writeError(w, http.StatusBadRequest, "invalid_parameter", "after: "+err.Error())
		return
	}
	if err != nil {
		s.internalError(w, r, err)
		return
	}
	if page == nil {
		page = []views.Payment{}
	}
	var nextJSON *string
	if next != "" {
		nextJSON = &next
	}
	writeJSON(w, http.StatusOK, map[string]any{"data": page, "next": nextJSON})
}

func (s *Server) getReferrals(w http.ResponseWriter, r *http.Request, p *principal) {
	acc, ok := s.ownAccount(w, r, p)
	if !ok {
		return
	}
	refs, err := views.GetReferrals(r.Context(), s.cfg.Pool, acc.ID, s.cfg.ReferralURL, s.cfg.Now(), s.cfg.Invoices.Location)
	if err != nil {
		s.internalError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, refs)
}

// getTimeline serves the account's timeline, as `billing accounts
// timeline --json` prints it (SPEC §7).
func (s *Server) getTimeline(w http.ResponseWriter, r *http.Request, p *principal) {
	acc, ok := s.ownAccount(w, r, p)
	if !ok {
		return
	}
	evs, err := accounts.Timeline(r.Context(), s.cfg.Pool, acc.ID)
	if err != nil {
		s.internalError(w, r, err)
		return
	}
	if evs == nil {
		evs = []accounts.Event{}
	}
	writeJSON(w, http.StatusOK, evs)
}
