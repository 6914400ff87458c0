// Package httpapi serves the engine over HTTP (SPEC §8): the payment
// processors' webhooks, the PayPal return, health and, for other services
// and finance staff, the API. JSON in and out; errors are
// {"error":{"code":"…","message":"…"}}. It only wires requests to the
// packages that own the work.
package httpapi

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/shopspring/decimal"

	"github.com/billingengine/engine/billing"
	"github.com/billingengine/engine/internal/platform/metrics"
	"github.com/billingengine/engine/internal/platform/pgdb"
	"github.com/billingengine/engine/invoices"
	"github.com/billingengine/engine/jobs"
	"github.com/billingengine/engine/payments/paypal"
	"github.com/billingengine/engine/payments/stripe"
)

// Config is what the server needs.
type Config struct {
	Pool *pgxpool.Pool
	// Jobs inserts the jobs requests trigger.
	Jobs *jobs.Client
	// StripeWebhookSecret verifies /webhooks/stripe; StripeAPI, when set,
	// reconciles an event that contradicts the recorded outcome with the
	// PaymentIntent's current state (nil: logged for a person instead).
	StripeWebhookSecret string
	StripeAPI           stripe.PaymentIntentReader
	// PayPal captures credit purchases and verifies /webhooks/paypal; nil
	// when purchases are off. CreditPurchaseMax bounds one purchase
	// (billing.DefaultCreditPurchaseMax when zero).
	PayPal            paypal.Purchaser
	CreditPurchaseMax decimal.Decimal
	// Renderer serves the PDFs.
	Renderer *invoices.Renderer
	// Invoices numbers credit notes (time zone) for voids.
	Invoices *invoices.Config
	// RiverUI, when set, is served at /riverui/ to finance tokens.
	RiverUI http.Handler
	Logger  *slog.Logger
	// Now is the clock (time.Now when nil).
	Now func() time.Time
	// MaxBodyBytes bounds request bodies (1 MiB when zero); MaxUsageBytes
	// bounds POST /v1/usage (256 MiB when zero).
	MaxBodyBytes  int64
	MaxUsageBytes int64
	// MaxUploadsPerToken bounds the usage uploads one token has in progress
	// in this process (2 when zero): beyond, 429.
	MaxUploadsPerToken int
	// UploadTimeout bounds the time a usage upload's body takes to arrive
	// (5 minutes when zero): beyond, 408 and nothing imported.
	UploadTimeout time.Duration
	// MaxConcurrentImports bounds the received uploads importing at once,
	// each holding a connection (a quarter of the pool, at least 1, when
	// zero): the others wait, so the API and the jobs keep connections.
	MaxConcurrentImports int
	// Sandbox allows http webhook endpoints to any host (SPEC §4); outside
	// it only https, or http to a loopback host.
	Sandbox bool
	// StripeMethods sets payment methods up at Stripe; nil in sandbox
	// mode (SPEC §14).
	StripeMethods StripeMethods
	// StripePublishableKey is what the portal's card page gives Stripe.js
	// (BILLING_STRIPE_PUBLISHABLE_KEY); needed with StripeMethods.
	StripePublishableKey string
	// ReferralURL is BILLING_REFERRAL_URL: the referral link, {code}
	// replaced by the account's code.
	ReferralURL string
	// PortalURL is BILLING_PORTAL_URL: the base of the portal's one-time
	// links; an https one makes its cookie Secure.
	PortalURL string
	// NoMetrics leaves /metrics out: it is served on a listener of its own
	// (billing worker --metrics), where operators expect it alone.
	NoMetrics bool
}

// Server is the HTTP API.
type Server struct {
	cfg       Config
	mux       *http.ServeMux
	routeList []Route
	uploads   *uploadLimiter
	imports   chan struct{} // a slot per import allowed at once
}

// New builds the server and its routes.
func New(cfg Config) *Server {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Invoices == nil {
		cfg.Invoices = &invoices.Config{Location: time.UTC}
	}
	if cfg.CreditPurchaseMax.IsZero() {
		cfg.CreditPurchaseMax = billing.DefaultCreditPurchaseMax
	}
	if cfg.MaxBodyBytes == 0 {
		cfg.MaxBodyBytes = 1 << 20
	}
	if cfg.MaxUsageBytes == 0 {
		cfg.MaxUsageBytes = 256 << 20
	}
	if cfg.MaxUploadsPerToken == 0 {
		cfg.MaxUploadsPerToken = 2
	}
	if cfg.UploadTimeout == 0 {
		cfg.UploadTimeout = 5 * time.Minute
	}
	if cfg.MaxConcurrentImports == 0 {
		cfg.MaxConcurrentImports = 1
		if cfg.Pool != nil {
			cfg.MaxConcurrentImports = max(1, int(cfg.Pool.Config().MaxConns)/4)
		}
	}
	s := &Server{cfg: cfg, mux: http.NewServeMux(),
		uploads: &uploadLimiter{max: cfg.MaxUploadsPerToken, n: map[int64]int{}},
		imports: make(chan struct{}, cfg.MaxConcurrentImports)}
	s.routes()
	return s
}

func (s *Server) routes() {
	plain := func(h http.HandlerFunc) func(http.ResponseWriter, *http.Request, *principal) {
		return func(w http.ResponseWriter, r *http.Request, _ *principal) { h(w, r) }
	}
	s.handle("GET /healthz", public, plain(s.healthz))
	if !s.cfg.NoMetrics {
		s.handle("GET /metrics", public, plain(MetricsHandler(s.cfg.Pool, s.cfg.Invoices.Location).ServeHTTP))
	}
	// Webhooks authenticate by their signatures; the PayPal return by the
	// order id PayPal hands back.
	s.handle("POST /webhooks/stripe", public, plain(s.stripeWebhook))
	s.handle("POST /webhooks/paypal", public, plain(s.paypalWebhook))
	s.handle("GET /paypal/return", public, plain(s.paypalReturn))
	s.apiRoutes()
	if s.cfg.RiverUI != nil {
		s.routeList = append(s.routeList, Route{Pattern: "/riverui/", Scopes: []string{"finance (basic auth)"}})
		s.mux.Handle("/riverui/", s.riverUI(s.cfg.RiverUI))
	}
	// A catch-all so that unknown paths answer in the API's error shape; it
	// also catches known paths with another method, which ServeMux would
	// answer 405 itself without it.
	s.mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		if allow := s.allowedMethods(r); len(allow) > 0 {
			w.Header().Set("Allow", strings.Join(allow, ", "))
			writeError(w, http.StatusMethodNotAllowed, "method_not_allowed",
				fmt.Sprintf("%s %s is not served: %s accepts %s", r.Method, r.URL.Path, r.URL.Path, strings.Join(allow, ", ")))
			return
		}
		writeError(w, http.StatusNotFound, "not_found", "no such route: "+r.Method+" "+r.URL.Path)
	})
}

// MetricsHandler serves the engine's metrics, the runs' progress and the
// receivables' ageing (days counted in loc, the billing time zone), on the
// API's listener or on one of its own.
func MetricsHandler(pool *pgxpool.Pool, loc *time.Location) http.Handler {
	if loc == nil {
		loc = time.UTC
	}
	local := prometheus.NewRegistry()
	local.MustRegister(metrics.RunProgress{Pool: pool}, metrics.WebhookBacklog{Pool: pool}, receivablesCollector{pool: pool, loc: loc, now: time.Now})
	// A metric read from the database that fails (a slow query, a database
	// not migrated) leaves that metric out of the scrape, not the others.
	return promhttp.HandlerFor(prometheus.Gatherers{metrics.Registry, local}, promhttp.HandlerOpts{ErrorHandling: promhttp.ContinueOnError})
}

// Timeouts bound how long a client may hold a connection; zero fields take
// the defaults HTTPServer names.
type Timeouts struct {
	// ReadHeader bounds the request line and headers (10 s): a client that
	// trickles them can't hold a goroutine for ever.
	ReadHeader time.Duration
	// Read bounds a whole request, body included (1 minute: the API's
	// bodies are at most 1 MiB). POST /v1/usage sets its own deadline,
	// Config.UploadTimeout, when its body starts.
	Read time.Duration
	// Write bounds the answer (5 minutes: a PDF rendered on demand).
	Write time.Duration
	// Idle bounds a kept-alive connection between requests (2 minutes).
	Idle time.Duration
}

// HTTPServer is an http.Server for h with t's timeouts, for the API and the
// metrics listener alike.
func HTTPServer(h http.Handler, t Timeouts) *http.Server {
	or := func(d, def time.Duration) time.Duration {
		if d > 0 {
			return d
		}
		return def
	}
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: or(t.ReadHeader, 10*time.Second),
		ReadTimeout:       or(t.Read, time.Minute),
		WriteTimeout:      or(t.Write, 5*time.Minute),
		IdleTimeout:       or(t.Idle, 2*time.Minute),
		MaxHeaderBytes:    64 << 10,
	}
}

type ctxKey int

const requestIDKey ctxKey = 0

// ServeHTTP gives every request an id (echoed in X-Request-Id and in the
// logs), a body limit, and a log line.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	id := r.Header.Get("X-Request-Id")
	if id == "" || len(id) > 64 {
		var b [8]byte
		_, _ = rand.Read(b[:])
		id = hex.EncodeToString(b[:])
	}
	w.Header().Set("X-Request-Id", id)
	r = r.WithContext(context.WithValue(r.Context(), requestIDKey, id))
	limit := s.cfg.MaxBodyBytes
	if r.URL.Path == "/v1/usage" {
		limit = s.cfg.MaxUsageBytes
	}
	r.Body = http.MaxBytesReader(w, r.Body, limit)
	rec := &statusRecorder{ResponseWriter: w, status: http.StatusOK}
	start := time.Now()
	s.mux.ServeHTTP(rec, r)
	took := time.Since(start)
	// The mux sets the pattern of the route it chose: a label of bounded
	// cardinality, unlike the raw path.
	route := r.Pattern
	if route == "" || route == "/" {
		route = "unmatched"
	}
	metrics.HTTPDuration.WithLabelValues(route, strconv.Itoa(rec.status)).Observe(took.Seconds())
	// The River UI polls every few seconds while it is open: its requests
	// are logged at debug level, unless they fail.
	level := slog.LevelInfo
	if route == "/riverui/" && rec.status < 500 {
		level = slog.LevelDebug
	}
	s.cfg.Logger.Log(r.Context(), level, "http", "request_id", id, "method", r.Method, "path", r.URL.Path, "route", route,
		"status", rec.status, "duration", took.Round(time.Microsecond))
}

type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (r *statusRecorder) WriteHeader(code int) {
	r.status = code
	r.ResponseWriter.WriteHeader(code)
}

func (r *statusRecorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }

// writeJSON answers with v as JSON.
func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v)
}

// apiError is the error body of SPEC §8.
type apiError struct {
	Error struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
}

func writeError(w http.ResponseWriter, status int, code, message string) {
	var e apiError
	e.Error.Code, e.Error.Message = code, message
	writeJSON(w, status, e)
}

// internalError logs err and answers 500 without leaking it.
func (s *Server) internalError(w http.ResponseWriter, r *http.Request, err error) {
	if s.notMigrated(w, r, err) {
		return
	}
	id, _ := r.Context().Value(requestIDKey).(string)
	s.cfg.Logger.ErrorContext(r.Context(), "request failed", "request_id", id, "error", err)
	writeError(w, http.StatusInternalServerError, "internal", "internal error (request "+id+")")
}

// readBody reads the whole body, answering 413 when it is too large, 408
// when it is too slow.
func readBody(w http.ResponseWriter, r *http.Request) ([]byte, bool) {
	b, err := readAll(r)
	if err != nil {
		bodyReadError(w, err)
		return nil, false
	}
	return b, true
}

// notMigrated answers 503 not_migrated when err comes from a database
// without the schema this binary needs (a missing table, confirmed by
// the migrations table), and reports whether it did.
func (s *Server) notMigrated(w http.ResponseWriter, r *http.Request, err error) bool {
	if !errors.Is(err, pgdb.ErrNotMigrated) {
		if !pgdb.UndefinedTable(err) {
			return false
		}
		if err = pgdb.CheckSchema(r.Context(), s.cfg.Pool); !errors.Is(err, pgdb.ErrNotMigrated) {
			return false
		}
	}
	s.cfg.Logger.ErrorContext(r.Context(), "the database is not migrated", "error", err)
	writeError(w, http.StatusServiceUnavailable, "not_migrated", err.Error())
	return true
}

func (s *Server) healthz(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	if err := s.cfg.Pool.Ping(ctx); err != nil {
		// The driver's error names hosts and users: it goes to the log only.
		s.cfg.Logger.WarnContext(r.Context(), "health check: Postgres does not answer", "error", err)
		writeError(w, http.StatusServiceUnavailable, "database_unavailable", "the database does not answer")
		return
	}
	if err := pgdb.CheckSchema(ctx, s.cfg.Pool); err != nil {
		if !s.notMigrated(w, r, err) {
			s.internalError(w, r, err)
		}
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

// allowedMethods lists the methods some route serves at r's path.
func (s *Server) allowedMethods(r *http.Request) []string {
	var allow []string
	for _, m := range []string{http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete} {
		probe := &http.Request{Method: m, URL: r.URL, Host: r.Host, Header: http.Header{}}
		if _, pattern := s.mux.Handler(probe); pattern != "/" && pattern != "" {
			allow = append(allow, m)
		}
	}
	return allow
}
