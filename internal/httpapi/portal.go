package httpapi

import (
	"bytes"
	"crypto/subtle"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/billingengine/engine/billing"
	"github.com/billingengine/engine/internal/accounts"
	"github.com/billingengine/engine/internal/portal"
	"github.com/billingengine/engine/internal/views"
	"github.com/billingengine/engine/invoices"
	"github.com/billingengine/engine/payments"
	"github.com/billingengine/engine/payments/paypal"
)

// portalCookie names the portal's session cookie.
const portalCookie = "billing_portal"

// portalRoutes mounts the customer's billing pages (SPEC §14) at /portal/
// and the API that mints their one-time links.
func (s *Server) portalRoutes() {
	s.handle("POST /v1/accounts/{id}/portal-sessions", allowFinance|allowService, s.postPortalSession)
	pm := http.NewServeMux()
	pm.HandleFunc("GET /portal/style.css", portal.Stylesheet)
	pm.HandleFunc("GET /portal/card.js", portal.CardScript)
	pm.HandleFunc("GET /portal/login", s.portalLogin)
	pm.HandleFunc("GET /portal/{$}", s.portalPage(portal.PageOverview))
	pm.HandleFunc("GET /portal/billing", s.portalPage(portal.PageBilling))
	pm.HandleFunc("GET /portal/referrals", s.portalPage(portal.PageReferrals))
	pm.HandleFunc("GET /portal/timeline", s.portalPage(portal.PageTimeline))
	pm.HandleFunc("GET /portal/documents/{file}", s.portalSession(s.portalDocument))
	pm.HandleFunc("GET /portal/mandate.pdf", s.portalSession(s.portalMandate))
	pm.HandleFunc("POST /portal/billing/card", s.portalForm(s.portalAddCard))
	pm.HandleFunc("POST /portal/billing/sepa", s.portalForm(s.portalAddSEPA))
	pm.HandleFunc("POST /portal/billing/credit", s.portalForm(s.portalBuyCredit))
	pm.HandleFunc("POST /portal/logout", s.portalForm(s.portalLogout))
	pm.HandleFunc("/portal/", func(w http.ResponseWriter, r *http.Request) {
		s.portalError(w, r, http.StatusNotFound, s.portalText(r, "This page does not exist.", "Cette page n'existe pas."))
	})
	// Forms that change something must come from the portal's own pages:
	// Sec-Fetch-Site same-origin (or an Origin naming this host), on top of
	// the session's CSRF token each form carries.
	csrf := http.NewCrossOriginProtection()
	csrf.SetDenyHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.portalError(w, r, http.StatusForbidden, s.portalText(r,
			"This form was sent from another site: nothing was changed.", "Ce formulaire vient d'un autre site : rien n'a été modifié."))
	}))
	h := csrf.Handler(pm)
	s.routeList = append(s.routeList, Route{Pattern: "/portal/", Scopes: []string{"portal session (one-time link)"}})
	s.mux.Handle("/portal/", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Frame-Options", "DENY")
		w.Header().Set("Content-Security-Policy", "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self' https://www.sandbox.paypal.com https://www.paypal.com; frame-ancestors 'none'; base-uri 'none'")
		w.Header().Set("Referrer-Policy", "no-referrer")
		w.Header().Set("Cache-Control", "no-store")
		h.ServeHTTP(w, r)
	}))
}

// portalText picks the English or French text for a page without a
// session (whose language is not known): the browser's preference.
func (s *Server) portalText(r *http.Request, en, fr string) string {
	if strings.HasPrefix(strings.ToLower(r.Header.Get("Accept-Language")), "fr") {
		return fr
	}
	return en
}

func (s *Server) portalLang(r *http.Request) billing.Language {
	if strings.HasPrefix(strings.ToLower(r.Header.Get("Accept-Language")), "fr") {
		return billing.LanguageFrench
	}
	return billing.LanguageEnglish
}

func (s *Server) portalError(w http.ResponseWriter, r *http.Request, status int, msg string) {
	var b bytes.Buffer
	if err := portal.Render(&b, &portal.Data{Page: portal.PageError, Lang: s.portalLang(r), Message: msg, TestMode: s.cfg.Sandbox}); err != nil {
		s.cfg.Logger.ErrorContext(r.Context(), "portal: rendering an error page", "error", err)
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write(b.Bytes())
}

func (s *Server) portalInternal(w http.ResponseWriter, r *http.Request, err error) {
	id, _ := r.Context().Value(requestIDKey).(string)
	s.cfg.Logger.ErrorContext(r.Context(), "portal request failed", "request_id", id, "error", err)
	s.portalError(w, r, http.StatusInternalServerError, s.portalText(r, "Something went wrong (request "+id+"). Please try again.",
		"Une erreur est survenue (requête "+id+"). Veuillez réessayer."))
}

// PortalLink mints a one-time link into the account's pages.
func (s *Server) PortalLink(r *http.Request, accountID string, ttl time.Duration) (string, time.Time, error) {
	l, err := portal.CreateLink(r.Context(), s.cfg.Pool, accountID, ttl, s.cfg.Now())
	if err != nil {
		return "", time.Time{}, err
	}
	return portal.LoginURL(s.cfg.PortalURL, l.Token), l.ExpiresAt, nil
}

// postPortalSession mints a one-time link for the PaaS's dashboard:
// {"ttl":"1h"} (optional) → 201 {"url":"…","expires_at":"…"}.
func (s *Server) postPortalSession(w http.ResponseWriter, r *http.Request, p *principal) {
	if s.cfg.PortalURL == "" {
		// A link without the portal's address would send the customer
		// nowhere (a relative URL on the dashboard's own host).
		writeError(w, http.StatusServiceUnavailable, "not_configured",
			"BILLING_PORTAL_URL is not set: give the address customers reach the billing pages at (the worker's --http server), e.g. https://billing.example.com")
		return
	}
	var body struct {
		TTL string `json:"ttl"`
	}
	if r.ContentLength != 0 && !decodeJSON(w, r, &body) {
		return
	}
	ttl := portal.DefaultLinkTTL
	if body.TTL != "" {
		d, err := time.ParseDuration(body.TTL)
		if err != nil || d <= 0 || d > portal.MaxLinkTTL {
			writeError(w, http.StatusBadRequest, "bad_request", fmt.Sprintf("ttl: a duration such as 1h, at most %s", portal.MaxLinkTTL))
			return
		}
		ttl = d
	}
	id := r.PathValue("id")
	if _, err := views.GetAccount(r.Context(), s.cfg.Pool, id); errors.Is(err, views.ErrAccountNotFound) {
		notFound(w, "account")
		return
	} else if err != nil {
		s.internalError(w, r, err)
		return
	}
	link, expires, err := s.PortalLink(r, id, ttl)
	if err != nil {
		s.internalError(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, map[string]any{"url": link, "expires_at": expires})
}

func (s *Server) secureCookies(r *http.Request) bool {
	return r.TLS != nil || strings.HasPrefix(s.cfg.PortalURL, "https://")
}

// portalLogin spends a one-time link, starts a session and goes to the
// overview.
func (s *Server) portalLogin(w http.ResponseWriter, r *http.Request) {
	cookie, _, err := portal.StartSession(r.Context(), s.cfg.Pool, r.URL.Query().Get("token"), s.cfg.Now())
	if errors.Is(err, portal.ErrLinkInvalid) {
		s.portalError(w, r, http.StatusGone, s.portalText(r,
			"This link has already been used or has expired. Open the billing pages again from your dashboard to get a new one.",
			"Ce lien a déjà servi ou a expiré. Rouvrez la facturation depuis votre tableau de bord pour en obtenir un nouveau."))
		return
	}
	if err != nil {
		s.portalInternal(w, r, err)
		return
	}
	http.SetCookie(w, &http.Cookie{Name: portalCookie, Value: cookie, Path: "/portal/", HttpOnly: true,
		SameSite: http.SameSiteLaxMode, Secure: s.secureCookies(r), MaxAge: int(portal.IdleTimeout / time.Second)})
	http.Redirect(w, r, "/portal/", http.StatusSeeOther)
}

type portalHandler func(w http.ResponseWriter, r *http.Request, sess *portal.Session, acc *views.Account)

// portalSession serves h with the request's live session, or a page
// saying the session is over.
func (s *Server) portalSession(h portalHandler) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		var token string
		if c, err := r.Cookie(portalCookie); err == nil {
			token = c.Value
		}
		sess, err := portal.LookupSession(r.Context(), s.cfg.Pool, token, s.cfg.Now())
		if errors.Is(err, portal.ErrNoSession) {
			s.portalError(w, r, http.StatusUnauthorized, s.portalText(r,
				"Your session has expired. Open the billing pages again from your dashboard.",
				"Votre session a expiré. Rouvrez la facturation depuis votre tableau de bord."))
			return
		}
		if err != nil {
			s.portalInternal(w, r, err)
			return
		}
		acc, err := views.GetAccount(r.Context(), s.cfg.Pool, sess.AccountID)
		if err != nil {
			s.portalInternal(w, r, err)
			return
		}
		// The idle expiry slides: the cookie lives as long as the session.
		http.SetCookie(w, &http.Cookie{Name: portalCookie, Value: token, Path: "/portal/", HttpOnly: true,
			SameSite: http.SameSiteLaxMode, Secure: s.secureCookies(r), MaxAge: int(portal.IdleTimeout / time.Second)})
		h(w, r, sess, acc)
	}
}

// portalForm is portalSession for a form: its csrf field must be the
// session's token, else nothing is done.
func (s *Server) portalForm(h portalHandler) http.HandlerFunc {
	return s.portalSession(func(w http.ResponseWriter, r *http.Request, sess *portal.Session, acc *views.Account) {
		if err := r.ParseForm(); err != nil {
			s.portalError(w, r, http.StatusBadRequest, "bad form")
			return
		}
		if subtle.ConstantTimeCompare([]byte(r.PostForm.Get("csrf")), []byte(sess.CSRFToken)) != 1 {
			s.portalError(w, r, http.StatusForbidden, text(acc.Language,
				"This form is out of date or was not sent from your billing pages: nothing was changed. Reload the page and try again.",
				"Ce formulaire est périmé ou ne vient pas de vos pages de facturation : rien n'a été modifié. Rechargez la page et réessayez."))
			return
		}
		h(w, r, sess, acc)
	})
}

func text(lang billing.Language, en, fr string) string {
	if lang == billing.LanguageFrench {
		return fr
	}
	return en
}

func (s *Server) portalPage(page portal.Page) http.HandlerFunc {
	return s.portalSession(func(w http.ResponseWriter, r *http.Request, sess *portal.Session, acc *views.Account) {
		flash := ""
		switch r.URL.Query().Get("done") {
		case "method":
			flash = text(acc.Language, "Your payment method is saved: open invoices are being paid.", "Votre moyen de paiement est enregistré : les factures ouvertes sont en cours de paiement.")
		case "credit":
			flash = text(acc.Language, "Thank you: your credit is added and pays open invoices.", "Merci : votre crédit est ajouté et règle les factures ouvertes.")
		case "card":
			// Stripe confirmed the card in the browser; it becomes the
			// method when Stripe's setup_intent.succeeded webhook arrives.
			flash = text(acc.Language, "Your card is being confirmed: it becomes your payment method in a few moments, and open invoices are then paid. Reload this page to see it.",
				"Votre carte est en cours de confirmation : elle devient votre moyen de paiement dans quelques instants, et les factures ouvertes sont alors réglées. Rechargez cette page pour la voir.")
		}
		s.renderPortal(w, r, http.StatusOK, page, sess, acc, flash, flash != "")
	})
}

// renderPortal reads what the page shows and writes it.
func (s *Server) renderPortal(w http.ResponseWriter, r *http.Request, status int, page portal.Page, sess *portal.Session, acc *views.Account, flash string, ok bool) {
	ctx := r.Context()
	d := &portal.Data{Page: page, Lang: acc.Language, CSRF: sess.CSRFToken, TestMode: s.cfg.Sandbox, Account: acc, Flash: flash, OK: ok,
		CreditMin: billing.MoneyOf(billing.MinCreditPurchase), CreditMax: billing.MoneyOf(s.cfg.CreditPurchaseMax), PayPal: s.cfg.PayPal != nil,
		StripeCards: s.cfg.StripeMethods != nil}
	err := func() error {
		switch page {
		case portal.PageOverview, portal.PageBilling:
			invs, err := payments.ListInvoices(ctx, s.cfg.Pool, invoices.ListParams{AccountID: acc.ID})
			if err != nil {
				return err
			}
			for i := len(invs) - 1; i >= 0; i-- {
				d.Invoices = append(d.Invoices, invs[i]) // newest first
			}
			var oldestOpen *time.Time
			for _, inv := range d.Invoices {
				if inv.Status == invoices.StatusOpen || inv.Status == invoices.StatusProcessing {
					d.Open = append(d.Open, inv)
				}
				if inv.Status == invoices.StatusOpen && (oldestOpen == nil || inv.IssuedAt.Before(*oldestOpen)) {
					at := inv.IssuedAt
					oldestOpen = &at
				}
			}
			if acc.Status == views.StatusSuspended {
				evs, err := accounts.Timeline(ctx, s.cfg.Pool, acc.ID)
				if err != nil {
					return err
				}
				for _, e := range evs {
					if e.Kind == billing.TimelineSuspended {
						at := e.At
						d.SuspendedAt = &at
					}
				}
			} else if oldestOpen != nil {
				at := oldestOpen.Add(billing.DunningRetries * billing.DunningInterval)
				d.SuspendsAt = &at
			}
			if page == portal.PageBilling {
				if m := acc.PaymentMethod; m != nil {
					d.Method = &portal.Method{Type: string(m.Type), ID: m.ID}
					if m.Type == payments.MethodSEPADebit {
						md, err := payments.CurrentMandate(ctx, s.cfg.Pool, acc.ID)
						if err == nil && md.PaymentMethodID == m.ID {
							d.Method.MandateRef, d.Method.MandateIBAN = md.Reference, md.IBANMasked
						} else if err != nil && !errors.Is(err, payments.ErrNoMandate) {
							return err
						}
					}
				}
				d.Payments, _, err = views.PaymentHistory(ctx, s.cfg.Pool, acc.ID, "", views.MaxLimit)
				return err
			}
		case portal.PageReferrals:
			var err error
			d.Referrals, err = views.GetReferrals(ctx, s.cfg.Pool, acc.ID, s.cfg.ReferralURL, s.cfg.Now(), s.cfg.Invoices.Location)
			return err
		case portal.PageTimeline:
			var err error
			d.Timeline, err = accounts.Timeline(ctx, s.cfg.Pool, acc.ID)
			for i, j := 0, len(d.Timeline)-1; i < j; i, j = i+1, j-1 {
				d.Timeline[i], d.Timeline[j] = d.Timeline[j], d.Timeline[i] // newest first
			}
			return err
		case portal.PageError, portal.PageCard:
		}
		return nil
	}()
	if err != nil {
		s.portalInternal(w, r, err)
		return
	}
	var b bytes.Buffer
	if err := portal.Render(&b, d); err != nil {
		s.portalInternal(w, r, err)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write(b.Bytes())
}

// portalDocument serves an invoice's or credit note's PDF: NUMBER.pdf; any
// other account's is not found.
func (s *Server) portalDocument(w http.ResponseWriter, r *http.Request, _ *portal.Session, acc *views.Account) {
	number, ok := strings.CutSuffix(r.PathValue("file"), ".pdf")
	notFound := func() {
		s.portalError(w, r, http.StatusNotFound, text(acc.Language, "No such document.", "Ce document n'existe pas."))
	}
	if !ok || !plausibleID(number) {
		notFound()
		return
	}
	owner := ""
	if invoices.IsCreditNoteNumber(number) {
		cn, err := invoices.GetCreditNote(r.Context(), s.cfg.Pool, number)
		if err != nil && !errors.Is(err, invoices.ErrCreditNoteNotFound) {
			s.portalInternal(w, r, err)
			return
		}
		if err == nil {
			owner = cn.AccountID
		}
	} else {
		inv, err := payments.GetInvoice(r.Context(), s.cfg.Pool, number)
		if err != nil && !errors.Is(err, invoices.ErrNotFound) {
			s.portalInternal(w, r, err)
			return
		}
		if err == nil {
			owner = inv.AccountID
		}
	}
	if owner != acc.ID || s.cfg.Renderer == nil {
		notFound()
		return
	}
	pdf, err := s.cfg.Renderer.EnsurePDF(r.Context(), s.cfg.Pool, number)
	if err != nil {
		s.portalInternal(w, r, err)
		return
	}
	w.Header().Set("Content-Type", "application/pdf")
	w.Header().Set("Content-Disposition", `inline; filename="`+number+`.pdf"`)
	w.Header().Set("Content-Length", strconv.Itoa(len(pdf.Bytes)))
	_, _ = w.Write(pdf.Bytes)
}

func (s *Server) portalMandate(w http.ResponseWriter, r *http.Request, _ *portal.Session, acc *views.Account) {
	b, md, err := s.MandatePDF(r.Context(), acc.ID)
	if errors.Is(err, payments.ErrNoMandate) {
		s.portalError(w, r, http.StatusNotFound, text(acc.Language, "No SEPA mandate.", "Aucun mandat SEPA."))
		return
	}
	if err != nil {
		s.portalInternal(w, r, err)
		return
	}
	w.Header().Set("Content-Type", "application/pdf")
	w.Header().Set("Content-Disposition", `inline; filename="`+md.Reference+`.pdf"`)
	_, _ = w.Write(b)
}

func (s *Server) portalAddMethod(w http.ResponseWriter, r *http.Request, sess *portal.Session, acc *views.Account, req MethodRequest) {
	_, err := s.AddMethod(r.Context(), acc.ID, req, clientIP(r), r.UserAgent(), acc.Language)
	var ie *methodInputError
	if errors.As(err, &ie) {
		s.renderPortal(w, r, http.StatusBadRequest, portal.PageBilling, sess, acc, ie.msg, false)
		return
	}
	if err != nil {
		s.portalInternal(w, r, err)
		return
	}
	http.Redirect(w, r, "/portal/billing?done=method", http.StatusSeeOther)
}

// portalAddCard adds a card: in sandbox mode the test id chosen; with
// Stripe, the form has no id and leads to the card page, where Stripe.js
// takes the card.
func (s *Server) portalAddCard(w http.ResponseWriter, r *http.Request, sess *portal.Session, acc *views.Account) {
	req := MethodRequest{Type: payments.MethodCard, ID: r.PostForm.Get("id")}
	if s.cfg.StripeMethods == nil || strings.TrimSpace(req.ID) != "" {
		s.portalAddMethod(w, r, sess, acc, req)
		return
	}
	if s.cfg.StripePublishableKey == "" {
		// billing worker --http refuses to start so; another embedder of
		// the API may not have.
		s.portalInternal(w, r, errors.New("portal: a card page with Stripe but no BILLING_STRIPE_PUBLISHABLE_KEY"))
		return
	}
	res, err := s.AddMethod(r.Context(), acc.ID, req, clientIP(r), r.UserAgent(), acc.Language)
	if err != nil {
		s.portalInternal(w, r, err)
		return
	}
	var b bytes.Buffer
	if err := portal.Render(&b, &portal.Data{Page: portal.PageCard, Lang: acc.Language, CSRF: sess.CSRFToken, Account: acc,
		StripeCards: true, StripeKey: s.cfg.StripePublishableKey, ClientSecret: res.ClientSecret, StripeJS: portal.StripeJS}); err != nil {
		s.portalInternal(w, r, err)
		return
	}
	w.Header().Set("Content-Security-Policy", portal.CardPageCSP)
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	_, _ = w.Write(b.Bytes())
}

func (s *Server) portalAddSEPA(w http.ResponseWriter, r *http.Request, sess *portal.Session, acc *views.Account) {
	s.portalAddMethod(w, r, sess, acc, MethodRequest{Type: payments.MethodSEPADebit, IBAN: r.PostForm.Get("iban"),
		BIC: r.PostForm.Get("bic"), HolderName: r.PostForm.Get("holder_name")})
}

func (s *Server) portalBuyCredit(w http.ResponseWriter, r *http.Request, sess *portal.Session, acc *views.Account) {
	amount, err := billing.ParseAmount(strings.ReplaceAll(strings.TrimSpace(r.PostForm.Get("amount")), ",", "."))
	if err != nil {
		s.renderPortal(w, r, http.StatusBadRequest, portal.PageBilling, sess, acc, text(acc.Language, "Amount: ", "Montant : ")+err.Error(), false)
		return
	}
	purchase, err := s.BuyCredit(r.Context(), acc.ID, amount)
	var bounds *billing.PurchaseAmountError
	switch {
	case errors.As(err, &bounds):
		s.renderPortal(w, r, http.StatusBadRequest, portal.PageBilling, sess, acc, err.Error(), false)
	case errors.Is(err, paypal.ErrPurchasesOff):
		s.renderPortal(w, r, http.StatusConflict, portal.PageBilling, sess, acc, err.Error(), false)
	case err != nil:
		s.portalInternal(w, r, err)
	case purchase.ApprovalLink != "" && purchase.Status != "COMPLETED":
		http.Redirect(w, r, purchase.ApprovalLink, http.StatusSeeOther)
	default:
		http.Redirect(w, r, "/portal/billing?done=credit", http.StatusSeeOther)
	}
}

func (s *Server) portalLogout(w http.ResponseWriter, r *http.Request, _ *portal.Session, acc *views.Account) {
	if c, err := r.Cookie(portalCookie); err == nil {
		if err := portal.EndSession(r.Context(), s.cfg.Pool, c.Value); err != nil {
			s.portalInternal(w, r, err)
			return
		}
	}
	http.SetCookie(w, &http.Cookie{Name: portalCookie, Value: "", Path: "/portal/", HttpOnly: true, SameSite: http.SameSiteLaxMode,
		Secure: s.secureCookies(r), MaxAge: -1})
	s.portalError(w, r, http.StatusOK, text(acc.Language, "You are logged out.", "Vous êtes déconnecté."))
}
