package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"runtime/debug"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/spf13/cobra"
	"riverqueue.com/riverui"

	"github.com/billingengine/engine/internal/httpapi"
	"github.com/billingengine/engine/internal/notify"
	"github.com/billingengine/engine/internal/platform/config"
	"github.com/billingengine/engine/invoices"
	"github.com/billingengine/engine/jobs"
	"github.com/billingengine/engine/payments"
	"github.com/billingengine/engine/payments/faulty"
	"github.com/billingengine/engine/payments/paypal"
	"github.com/billingengine/engine/payments/sandbox"
	"github.com/billingengine/engine/payments/stripe"
)

// workerConfig turns the process configuration into the workers'.
func (a *app) workerConfig(pool *pgxpool.Pool) (jobs.Config, error) {
	c := a.cfg
	proc, settler, err := a.processor(pool)
	if err != nil {
		return jobs.Config{}, err
	}
	renderer, err := a.renderer()
	if err != nil {
		return jobs.Config{}, err
	}
	if err := c.RequireMail(); err != nil {
		return jobs.Config{}, usageError{err}
	}
	var mailer notify.Mailer
	switch c.SMTP.Kind {
	case config.SMTPSend:
		mailer = &notify.SMTPMailer{Host: c.SMTP.Host, Port: c.SMTP.Port, User: c.SMTP.User, Password: c.SMTP.Password}
	case config.SMTPFile:
		mailer = &notify.FileMailer{Dir: c.SMTP.Dir}
	case config.SMTPOff:
	}
	return jobs.Config{
		Mail: jobs.MailConfig{Mailer: mailer, From: c.MailFrom, Seller: c.SellerName, TestMode: c.Sandbox(),
			PortalURL: portalPage(c.PortalURL), CreditorID: c.SEPACreditorID},
		SEPADebitDelay:          c.SEPADebitDelay,
		Renderer:                renderer,
		Processor:               proc,
		Settler:                 settler,
		SandboxSEPADelay:        c.SandboxSEPADelay,
		DunningSchedule:         c.DunningSchedule,
		SuspensionWebhookURL:    c.SuspensionWebhookURL,
		SuspensionWebhookSecret: c.SuspensionWebhookSecret,
		EventsRetention:         c.EventsRetention,
		WebhookSweepInterval:    c.WebhookSweep,
		Location:                c.Location,
		SellerCountry:           c.SellerCountry,
		VATRates:                c.VATRates,
		ShardSize:               c.ShardSize,
		FinalizeChunk:           c.FinalizeChunk,
		Schedule:                c.Schedule,
		JobTimeout:              c.JobTimeout,
		RescueAfter:             c.RescueAfter,
		RetryMax:                c.RetryMax,
		Logger:                  a.log,
	}, nil
}

// processor is the one BILLING_PROCESSOR names: Stripe, or the sandbox,
// wrapped with SANDBOX_FAULTS when those are asked for. Never a default:
// callers have checked the mode is set (requireCharging). The sandbox is
// also the settler of its SEPA debits, returned apart because the faults
// wrap its charges, not the settlements that stand for its webhooks.
func (a *app) processor(pool *pgxpool.Pool) (payments.Processor, payments.Settler, error) {
	switch a.cfg.Processor {
	case config.ProcessorStripe:
		if a.cfg.SandboxFaults != "" {
			return nil, nil, usagef("SANDBOX_FAULTS is for the sandbox processor only (BILLING_PROCESSOR=sandbox)")
		}
		return stripe.New(pool, stripe.Config{SecretKey: a.cfg.StripeSecretKey, URL: a.cfg.StripeAPIURL}), nil, nil
	case config.ProcessorSandbox:
	case config.ProcessorUnset:
		return nil, nil, usageError{config.ErrNoProcessor}
	}
	sb := &sandbox.Processor{Pool: pool}
	var p payments.Processor = sb
	if a.cfg.SandboxFaults != "" {
		fc, err := faulty.Parse(a.cfg.SandboxFaults)
		if err != nil {
			return nil, nil, fmt.Errorf("SANDBOX_FAULTS: %w", err)
		}
		p = faulty.New(p, fc)
	}
	return p, sb, nil
}

// workerGCPercent is the worker's GOGC when the environment sets none.
// A worker's heap is mostly short-lived (a chunk's rows, a batch of PDFs)
// and small (about 100 MiB at 100,000 accounts): collecting it half as
// often (200) took 9 % off the documents' CPU and 13 % off the run's, for
// about a third more memory, and a quarter as often (400) another 6–9 % off
// the documents' for 160 → 250–290 MiB at peak (docs/benchmarks.md).
const workerGCPercent = 400

// batchGC sets the collector for batch work, unless GOGC says otherwise.
func batchGC() {
	if _, set := os.LookupEnv("GOGC"); !set {
		debug.SetGCPercent(workerGCPercent)
	}
}

func newWorkerCmd(a *app) *cobra.Command {
	var untilIdle bool
	var horizon time.Duration
	var httpAddr string
	var queues []string
	var pprofAddr string
	var metricsAddr string
	cmd := &cobra.Command{
		Use:   "worker [--http ADDR] [--metrics ADDR] [--until-idle] [--queues Q,...]",
		Short: "Work jobs until stopped (SIGINT/SIGTERM finish the jobs in flight), or until none is due",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			// Addresses are checked, and their ports taken, before any job
			// can start: a typo must not leave a worker running without
			// its API.
			for _, f := range []struct {
				name string
				addr *string
			}{{"http", &httpAddr}, {"metrics", &metricsAddr}, {"pprof", &pprofAddr}} {
				if *f.addr == "" {
					continue
				}
				norm, err := listenAddr(f.name, *f.addr)
				if err != nil {
					return err
				}
				*f.addr = norm
			}
			if err := a.requireCharging(); err != nil {
				return err
			}
			batchGC()
			var httpLn, metricsLn net.Listener
			for _, l := range []struct {
				name, addr string
				ln         *net.Listener
			}{{"http", httpAddr, &httpLn}, {"metrics", metricsAddr, &metricsLn}} {
				if l.addr == "" {
					continue
				}
				ln, err := new(net.ListenConfig).Listen(context.Background(), "tcp", l.addr)
				if err != nil {
					return fmt.Errorf("--%s %s: %w", l.name, l.addr, err)
				}
				defer func() { _ = ln.Close() }()
				*l.ln = ln
			}
			if httpAddr != "" {
				if err := a.requirePayPal(); err != nil {
					return err
				}
				// --http serves the billing pages, whose card form needs
				// Stripe.js and so the publishable key.
				if err := a.cfg.RequireStripePublishableKey(); err != nil {
					return usageError{err}
				}
			}
			ctx := cmd.Context()
			pool, err := a.dbWait(ctx)
			if err != nil {
				return err
			}
			wcfg, err := a.workerConfig(pool)
			if err != nil {
				return err
			}
			wcfg.Queues = queues
			client, err := jobs.NewClient(pool, wcfg)
			if err != nil {
				return err
			}
			// River runs on its own context: a signal asks for a graceful
			// stop below instead of cutting jobs off mid-transaction.
			if err := client.Start(context.WithoutCancel(ctx)); err != nil {
				return err
			}
			a.log.Info("worker started", "until_idle", untilIdle)
			if pprofAddr != "" {
				// Profiles for whoever tunes the engine: keep the address private.
				mux := http.NewServeMux()
				mux.HandleFunc("/debug/pprof/", pprof.Index)
				mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
				mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
				ps := &http.Server{Addr: pprofAddr, Handler: mux, ReadHeaderTimeout: 10 * time.Second}
				go func() { _ = ps.ListenAndServe() }()
				defer func() { _ = ps.Close() }()
			}
			if metricsAddr != "" {
				ms, err := a.serveMetrics(pool, metricsLn)
				if err != nil {
					return err
				}
				defer func() { _ = ms.Close() }()
			}
			var srv *http.Server
			if httpAddr != "" {
				if srv, err = a.serveHTTP(pool, client, httpLn, metricsAddr != ""); err != nil {
					return err
				}
			}
			var waitErr error
			if untilIdle {
				waitErr = jobs.WaitIdle(ctx, pool, horizon, 200*time.Millisecond, queues...)
			} else {
				<-ctx.Done()
			}
			a.log.Info("worker stopping: finishing the jobs in flight")
			if srv != nil {
				shutdownCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				_ = srv.Shutdown(shutdownCtx)
				cancel()
			}
			stopCtx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			if err := client.Stop(stopCtx); err != nil {
				a.log.Warn("jobs still running after 30s: cancelling them (they will be retried)", "error", err)
				hard, cancelHard := context.WithTimeout(context.Background(), 10*time.Second)
				defer cancelHard()
				if err := client.StopAndCancel(hard); err != nil {
					return fmt.Errorf("stopping the worker: %w", err)
				}
			}
			if waitErr != nil && ctx.Err() == nil {
				return waitErr
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&untilIdle, "until-idle", false, "exit once no job is due (jobs left running by a killed worker count until rescued)")
	cmd.Flags().DurationVar(&horizon, "idle-horizon", time.Minute, "with --until-idle, scheduled or retrying jobs due within this count as work")
	cmd.Flags().StringVar(&httpAddr, "http", "", "serve the HTTP API on ADDR")
	cmd.Flags().StringVar(&pprofAddr, "pprof", "", "serve Go profiles (net/http/pprof) on ADDR")
	cmd.Flags().StringVar(&metricsAddr, "metrics", "", "serve /metrics (Prometheus) on ADDR, and no longer on the --http listener")
	cmd.Flags().StringSliceVar(&queues, "queues", nil, "work only these queues: billing, payments, documents, default (all when absent)")
	return cmd
}

// serveMetrics serves /metrics alone on addr, for a scraper that needs no
// route to the API (and an API that need not be reachable from it).
func (a *app) serveMetrics(pool *pgxpool.Pool, ln net.Listener) (*http.Server, error) {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", httpapi.MetricsHandler(pool, a.cfg.Location))
	srv := httpapi.HTTPServer(mux, httpapi.Timeouts{})
	a.log.Info("serving metrics", "addr", ln.Addr().String())
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			a.log.Error("metrics server stopped", "error", err)
		}
	}()
	return srv, nil
}

// serveHTTP starts the HTTP API on addr, next to the workers; without
// /metrics when that has a listener of its own.
func (a *app) serveHTTP(pool *pgxpool.Pool, client *jobs.Client, ln net.Listener, metricsElsewhere bool) (*http.Server, error) {
	purchaser, err := a.purchaser()
	if err != nil {
		return nil, err
	}
	renderer, err := a.renderer()
	if err != nil {
		return nil, err
	}
	ui, err := riverui.NewHandler(&riverui.HandlerOpts{
		Endpoints: riverui.NewEndpoints(client, nil),
		Logger:    a.log,
		Prefix:    "/riverui",
	})
	if err != nil {
		return nil, fmt.Errorf("starting the River UI: %w", err)
	}
	if err := ui.Start(context.Background()); err != nil {
		return nil, fmt.Errorf("starting the River UI: %w", err)
	}
	hcfg := httpapi.Config{
		Pool: pool, Jobs: client, StripeWebhookSecret: a.cfg.StripeWebhookSecret, PayPal: purchaser, Logger: a.log,
		Renderer: renderer, RiverUI: ui, Invoices: a.invoicesConfig(), NoMetrics: metricsElsewhere, Sandbox: a.cfg.Sandbox(),
		CreditPurchaseMax: a.cfg.CreditPurchaseMax, ReferralURL: a.cfg.ReferralURL, PortalURL: a.cfg.PortalURL,
	}
	if a.cfg.Processor == config.ProcessorStripe {
		// Webhooks that contradict what was recorded are checked against
		// the PaymentIntent's current state at Stripe; new methods are set
		// up there.
		sp := stripe.New(pool, stripe.Config{SecretKey: a.cfg.StripeSecretKey, URL: a.cfg.StripeAPIURL})
		hcfg.StripeAPI, hcfg.StripeMethods, hcfg.StripePublishableKey = sp, sp, a.cfg.StripePublishableKey
	}
	api := httpapi.New(hcfg)
	// POST /v1/usage extends the read deadline for its own body.
	srv := httpapi.HTTPServer(api, httpapi.Timeouts{})
	a.log.Info("serving HTTP", "addr", ln.Addr().String())
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			a.log.Error("HTTP server stopped", "error", err)
		}
	}()
	return srv, nil
}

// purchaser is the one BILLING_PAYPAL names: PayPal, the sandbox (which
// captures at once), or nil when credit purchases are off.
func (a *app) purchaser() (paypal.Purchaser, error) {
	c := a.cfg
	switch c.PayPal {
	case config.PayPalSandbox:
		return paypal.Sandbox{}, nil
	case config.PayPalOff:
		return nil, nil
	case config.PayPalUnset:
		return nil, usageError{config.ErrNoPayPal}
	case config.PayPalLive:
	}
	return paypal.NewClient(paypal.Config{ClientID: c.PayPalClientID, Secret: c.PayPalSecret, APIBase: c.PayPalAPIURL,
		ReturnURL: c.PayPalReturnURL, CancelURL: c.PayPalReturnURL, WebhookID: c.PayPalWebhookID})
}

// renderer draws PDFs with the configured seller and fonts, loaded once.
func (a *app) renderer() (*invoices.Renderer, error) {
	if a.pdf != nil {
		return a.pdf, nil
	}
	c := a.cfg
	fallback := c.PDFFallbackFont
	switch fallback {
	case "":
		fallback = invoices.DefaultFallbackPath()
	case "none":
		fallback = ""
	}
	fonts, err := invoices.LoadFonts(fallback, a.log)
	if err != nil {
		return nil, fmt.Errorf("BILLING_PDF_FALLBACK_FONT: %w", err)
	}
	a.pdf = &invoices.Renderer{Fonts: fonts, Location: c.Location, Seller: invoices.Seller{
		Name: c.SellerName, Legal: c.SellerLegal, Address: c.SellerAddress, VATNumber: c.SellerVATNumber, Email: c.SellerEmail,
		SIREN: c.SellerSIREN, IBAN: c.SellerIBAN, BIC: c.SellerBIC, TestMode: c.Sandbox() || c.SellerDemo,
		Capital: c.SellerCapital, RCS: c.SellerRCS, SEPACreditorID: c.SEPACreditorID, Country: c.SellerCountry,
	}, PortalURL: portalPage(c.PortalURL)}
	return a.pdf, nil
}

// listenAddr checks a listening address: HOST:PORT, :PORT, or a bare PORT
// (8080 is :8080), the port a number from 0 to 65535.
func listenAddr(flag, addr string) (string, error) {
	if addr != "" && strings.Trim(addr, "0123456789") == "" {
		addr = ":" + addr
	}
	_, port, err := net.SplitHostPort(addr)
	if err == nil {
		if n, perr := strconv.Atoi(port); perr != nil || n < 0 || n > 65535 {
			err = errors.New("bad port")
		}
	}
	if err != nil {
		return "", usagef("--%s %q: expected HOST:PORT, :PORT or PORT (e.g. 127.0.0.1:8080, :8080 or 8080)", flag, addr)
	}
	return addr, nil
}

// portalPage is where an unpaid invoice sends its customer to pay online:
// the billing pages, when their address is configured.
func portalPage(base string) string {
	if base == "" {
		return ""
	}
	return base + "/portal/"
}
