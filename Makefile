# Every target finds or starts its own Postgres through scripts/pg-url, so a
# fresh machine needs nothing else. `make` alone lists the targets.

SHELL        := /bin/bash
GO           ?= go
BIN          := bin/billing
VERSION      ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo unknown)
GOLANGCI     := github.com/golangci/golangci-lint/v2/cmd/golangci-lint@v2.15.0
# cmd/billing runs real worker processes, browsers and the e-invoice
# validators' JVMs: on a busy 2-core machine it outgrows go test's default
# 10-minute limit per package, which is a hang guard, not a speed target.
TEST_FLAGS   ?= -timeout 25m
BENCH_ACCOUNTS ?= 100000
BENCH_SEGMENTS ?= 5000000

.DEFAULT_GOAL := help

.PHONY: help
help: ## List the targets
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-8s %s\n", $$1, $$2}'

.PHONY: build
build: ## Build bin/billing
	$(GO) build -ldflags "-X main.buildVersion=$(VERSION)" -o $(BIN) ./cmd/billing

.PHONY: demo
demo: build ## Run the engine on the bundled sample data (fresh database billing_demo; PDFs in out/, emails in out/mail/)
	rm -rf out/mail
	url="$$(scripts/pg-url --db billing_demo --fresh)" && DATABASE_URL="$$url" BILLING_PROCESSOR=sandbox BILLING_PAYPAL=sandbox \
		BILLING_SMTP_URL=file://out/mail ./$(BIN) demo

.PHONY: lint
lint: ## go vet, golangci-lint (staticcheck, the import rules of the layout, errorlint, exhaustive, forbidigo: .golangci.yaml), scripts/check-layout and gofmt
	$(GO) vet ./...
	$(GO) run $(GOLANGCI) run ./...
	scripts/check-layout
	@out="$$(gofmt -l .)"; if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

.PHONY: openapi-lint
openapi-lint: ## Lint docs/openapi.json with Redocly's CLI (scripts/openapi-lint installs the pinned version into a cache)
	scripts/openapi-lint

.PHONY: portal-screenshots
portal-screenshots: ## Take the README's screenshots of the billing pages again (docs/portal; installs chromium and optipng when missing)
	scripts/portal-screenshots

.PHONY: test
test: lint ## Lint, then run every test against a real Postgres
	url="$$(scripts/pg-url)" && DATABASE_URL="$$url" $(GO) test $(TEST_FLAGS) ./...
	@# The race detector on the code whose concurrency is its point.
	url="$$(scripts/pg-url)" && DATABASE_URL="$$url" $(GO) test -race -run 'Concurrent' ./payments/... ./jobs/ ./invoices/ ./internal/httpapi/

BENCH_WORKERS  ?= 1
# BENCH_WEBHOOK=1 subscribes a local webhook receiver to every event.
BENCH_WEBHOOK  ?=
BENCH_SEED     ?= 1
# The bench's own Postgres cluster (.data/bench-pg) with the batch settings
# of scripts/pg-batch.conf; BENCH_PG= runs on the usual server instead.
BENCH_PG       ?= --cluster bench-pg --conf scripts/pg-batch.conf

.PHONY: bench
bench: build ## The production-scale benchmark on its own Postgres cluster (BENCH_ACCOUNTS, BENCH_SEGMENTS, BENCH_WORKERS, BENCH_SEED, BENCH_WEBHOOK, BENCH_PG)
	$(GO) build -o bin/billing-bench ./cmd/billing-bench
	url="$$(scripts/pg-url $(BENCH_PG) --db billing_bench --fresh)" && DATABASE_URL="$$url" ./bin/billing-bench run \
		-accounts $(BENCH_ACCOUNTS) -segments $(BENCH_SEGMENTS) -workers $(BENCH_WORKERS) -seed $(BENCH_SEED) \
		-billing ./$(BIN) -mailpit scripts/mailpit -logs bench-logs -json bench-results.json $(if $(BENCH_WEBHOOK),-webhook)

BENCH_INVOICES ?= 1000000

.PHONY: bench-lists
bench-lists: ## The finance listings (GET /v1/invoices) on BENCH_INVOICES generated invoices, against 50 ms a page
	$(GO) build -o bin/billing-bench ./cmd/billing-bench
	url="$$(scripts/pg-url --db billing_bench_lists --fresh)" && DATABASE_URL="$$url" ./bin/billing-bench lists -invoices $(BENCH_INVOICES)

FUZZTIME ?= 3s
# Every fuzz target, as package:Target.
FUZZ_TARGETS := ./billing:FuzzInvoice ./internal/ingest:FuzzDecodeUsage ./internal/ingest:FuzzDecodeAccounts \
	./internal/ingest:FuzzDecodeCatalog ./payments/stripe:FuzzHandleWebhook ./payments/paypal:FuzzHandleWebhook

.PHONY: fuzz
fuzz: ## Run each fuzz target for FUZZTIME (default 3s) beyond its committed corpus
	@set -e; url="$$(scripts/pg-url)"; for t in $(FUZZ_TARGETS); do \
		echo "fuzz $${t%%:*} $${t##*:} for $(FUZZTIME)"; \
		DATABASE_URL="$$url" $(GO) test -run '^$$' -fuzz "^$${t##*:}$$" -fuzztime $(FUZZTIME) "$${t%%:*}"; \
	done

CHAOS_SEEDS    ?= 20
CHAOS_ACCOUNTS ?= 2000
CHAOS_STORM    ?= 60s

.PHONY: chaos
chaos: ## The chaos test on CHAOS_SEEDS seeds in a row (kills workers, crashes Postgres, processor faults)
	url="$$(scripts/pg-url)" && DATABASE_URL="$$url" CHAOS_SEEDS=$(CHAOS_SEEDS) CHAOS_ACCOUNTS=$(CHAOS_ACCOUNTS) \
		CHAOS_STORM=$(CHAOS_STORM) $(GO) test -run '^TestChaos$$' -count 1 -timeout 3h -v ./cmd/billing

.PHONY: bench-go
bench-go: ## Go micro-benchmarks of the importer and the PDF renderer
	url="$$(scripts/pg-url)" && DATABASE_URL="$$url" BENCH_SEGMENTS=200000 $(GO) test -run '^$$' -bench . -benchtime 1x ./...
