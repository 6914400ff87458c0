// Package testfactory inserts the rows that tests of the domain packages
// need, as the engine itself would have left them: accounts, payment
// methods, billing runs, drafts, finalized invoices with their numbers,
// priced usage and prepaid credit. Each factory takes a pointer-option
// struct (nil for every default) so that a test states only what matters
// to it, in River's style:
//
//	acc := testfactory.Account(ctx, t, db.Pool, &testfactory.AccountOpts{Country: testfactory.Ptr("DE")})
//	inv := testfactory.Invoice(ctx, t, db.Pool, &testfactory.InvoiceOpts{AccountID: &acc.ID, Subtotal: testfactory.Ptr("10.00")})
//
// The rows respect the schema's constraints and triggers (migrations/*.sql):
// invoice numbers are taken from the year's gapless counter, as a
// finalization takes them, and credit is added through payments.AddCredit,
// so balances always equal the sum of the ledger. The package is for tests
// only; it fails the test (tb.Fatal) on any error rather than returning it.
package testfactory

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/shopspring/decimal"

	"github.com/billingengine/engine/billing"
	"github.com/billingengine/engine/internal/platform/pgdb"
	"github.com/billingengine/engine/payments"
)

// Ptr returns a pointer to v, for option fields.
func Ptr[T any](v T) *T { return &v }

// seq makes default identifiers unique within a test binary (every test
// has its own database, but a test may make many rows of one kind).
var seq atomic.Int64

func next() int64 { return seq.Add(1) }

func or[T any](p *T, def T) T {
	if p != nil {
		return *p
	}
	return def
}

func money(tb testing.TB, s string) decimal.Decimal {
	tb.Helper()
	d, err := decimal.NewFromString(s)
	if err != nil {
		tb.Fatalf("testfactory: amount %q: %v", s, err)
	}
	return d
}

// AccountOpts are the fields of an account; nil fields get defaults.
type AccountOpts struct {
	ID        *string    // default acc_<n>
	Name      *string    // default "Test <id>"
	Email     *string    // default <id>@example.test
	Country   *string    // default FR
	VATNumber *string    // default none
	CreatedAt *time.Time // default 2026-01-01T00:00:00Z
	// ReferredBy must name an account created earlier.
	ReferredBy *string
	// Status is active (default) or suspended.
	Status *string
}

// AccountRow is an inserted account.
type AccountRow struct {
	ID        string
	Country   string
	CreatedAt time.Time
}

// Account inserts an account.
func Account(ctx context.Context, tb testing.TB, exec pgdb.DB, opts *AccountOpts) *AccountRow {
	tb.Helper()
	if opts == nil {
		opts = &AccountOpts{}
	}
	id := or(opts.ID, fmt.Sprintf("acc_%d", next()))
	row := &AccountRow{ID: id, Country: or(opts.Country, "FR"), CreatedAt: or(opts.CreatedAt, time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))}
	_, err := exec.Exec(ctx, `
		INSERT INTO accounts (id, name, email, country, vat_number, created_at, referred_by, status)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
		id, or(opts.Name, "Test "+id), or(opts.Email, id+"@example.test"), row.Country, opts.VATNumber, row.CreatedAt,
		opts.ReferredBy, or(opts.Status, "active"))
	if err != nil {
		tb.Fatalf("testfactory: account %s: %v", id, err)
	}
	return row
}

// accountFor returns id, or a new default account's id when id is nil.
func accountFor(ctx context.Context, tb testing.TB, exec pgdb.DB, id *string) string {
	tb.Helper()
	if id != nil {
		return *id
	}
	return Account(ctx, tb, exec, nil).ID
}

// PaymentMethodOpts are the fields of a payment method.
type PaymentMethodOpts struct {
	AccountID  *string              // default a new account
	Type       *payments.MethodType // default card
	ExternalID *string              // default pm_card_visa (a SEPA debit: pm_sepa_<n>)
	MandateID  *string              // default none (a SEPA debit: mandate_<n>)
}

// PaymentMethodRow is an inserted payment method.
type PaymentMethodRow struct {
	ID        int64
	AccountID string
	Method    payments.Method
}

// PaymentMethod makes a method the account's current one; a method it had
// stays as history (replaced), as payments.SetMethods keeps it.
func PaymentMethod(ctx context.Context, tb testing.TB, exec pgdb.DB, opts *PaymentMethodOpts) *PaymentMethodRow {
	tb.Helper()
	if opts == nil {
		opts = &PaymentMethodOpts{}
	}
	accountID := accountFor(ctx, tb, exec, opts.AccountID)
	typ := or(opts.Type, payments.MethodCard)
	ext, mandate := or(opts.ExternalID, "pm_card_visa"), opts.MandateID
	if typ == payments.MethodSEPADebit {
		n := next()
		ext = or(opts.ExternalID, fmt.Sprintf("pm_sepa_%d", n))
		if mandate == nil {
			mandate = Ptr(fmt.Sprintf("mandate_%d", n))
		}
	}
	row := &PaymentMethodRow{AccountID: accountID, Method: payments.Method{Type: typ, ID: ext}}
	if _, err := exec.Exec(ctx, `UPDATE payment_methods SET replaced_at = now() WHERE account_id = $1 AND replaced_at IS NULL`, accountID); err != nil {
		tb.Fatalf("testfactory: replacing the payment method of %s: %v", accountID, err)
	}
	err := exec.QueryRow(ctx, `
		INSERT INTO payment_methods (account_id, type, external_id, mandate_id) VALUES ($1, $2, $3, $4) RETURNING id`,
		accountID, string(typ), ext, mandate).Scan(&row.ID)
	if err != nil {
		tb.Fatalf("testfactory: payment method of %s: %v", accountID, err)
	}
	return row
}

// RunOpts are the fields of a billing run.
type RunOpts struct {
	Period      *string // default 2026-10
	RequestedBy *string // default test
}

// Run inserts a pending billing run in UTC (the schema computes its
// bounds) and returns its id. Tests of runs themselves use
// invoices.CreateRun; this is the run an invoice row must belong to.
func Run(ctx context.Context, tb testing.TB, exec pgdb.DB, opts *RunOpts) int64 {
	tb.Helper()
	if opts == nil {
		opts = &RunOpts{}
	}
	var id int64
	err := exec.QueryRow(ctx, `INSERT INTO billing_runs (period, requested_by) VALUES ($1, $2) RETURNING id`,
		or(opts.Period, "2026-10"), or(opts.RequestedBy, "test")).Scan(&id)
	if err != nil {
		tb.Fatalf("testfactory: billing run: %v", err)
	}
	return id
}

// periodBounds are a period's bounds in UTC, as a run without a zone has.
func periodBounds(tb testing.TB, period string) (time.Time, time.Time) {
	tb.Helper()
	p, err := billing.ParsePeriod(period)
	if err != nil {
		tb.Fatalf("testfactory: period %q: %v", period, err)
	}
	return p.Bounds(time.UTC)
}

// DraftOpts are the fields of a draft invoice.
type DraftOpts struct {
	AccountID *string // default a new account
	Period    *string // default 2026-10
	RunID     *int64  // default a new run of the period
	Subtotal  *string // default 10.00
}

// InvoiceRow is an inserted invoice.
type InvoiceRow struct {
	ID        int64
	Number    string // empty for a draft
	AccountID string
	Period    string
	RunID     int64
	Total     decimal.Decimal
}

// Draft inserts a draft invoice without lines: the state a run's drafting
// leaves before finalization.
func Draft(ctx context.Context, tb testing.TB, exec pgdb.DB, opts *DraftOpts) *InvoiceRow {
	tb.Helper()
	if opts == nil {
		opts = &DraftOpts{}
	}
	row := &InvoiceRow{AccountID: accountFor(ctx, tb, exec, opts.AccountID), Period: or(opts.Period, "2026-10")}
	row.RunID = or(opts.RunID, 0)
	if opts.RunID == nil {
		row.RunID = Run(ctx, tb, exec, &RunOpts{Period: &row.Period})
	}
	start, end := periodBounds(tb, row.Period)
	err := exec.QueryRow(ctx, `
		INSERT INTO invoices (account_id, period, period_start, period_end, run_id, subtotal)
		VALUES ($1, $2, $3, $4, $5, $6) RETURNING id`,
		row.AccountID, row.Period, start, end, row.RunID, money(tb, or(opts.Subtotal, "10.00"))).Scan(&row.ID)
	if err != nil {
		tb.Fatalf("testfactory: draft of %s for %s: %v", row.AccountID, row.Period, err)
	}
	return row
}

// InvoiceOpts are the fields of a finalized invoice. Amounts are decimal
// strings. The total is subtotal − discount + tax.
type InvoiceOpts struct {
	AccountID *string // default a new account
	Period    *string // default 2026-10
	RunID     *int64  // default a new run of the period
	// Number defaults to the next number of the issue year's series, taken
	// from the gapless counter as finalization takes it.
	Number   *string
	Subtotal *string // default 10.00
	Discount *string // default 0.00
	// TaxRate is a percentage (default 0); Tax defaults to subtotal −
	// discount at that rate, rounded.
	TaxRate      *string
	Tax          *string
	VATTreatment *billing.VATTreatment // default outside_eu (domestic when TaxRate is positive)
	// Status is open (default), processing or paid: a paid invoice has
	// amount_paid = total unless AmountPaid says so.
	Status        *string
	CreditApplied *string    // default 0.00
	AmountPaid    *string    // default 0.00 (total when paid); at least CreditApplied
	IssuedAt      *time.Time // default the period's end + 1 h
	BuyerCountry  *string    // default the account's country as given, else FR
}

// Invoice inserts an open, finalized invoice (number, totals, buyer, issue
// date) without lines, as testutil.OpenInvoice does: the state finalization
// leaves for collection, payment and void to act on.
func Invoice(ctx context.Context, tb testing.TB, exec pgdb.DB, opts *InvoiceOpts) *InvoiceRow {
	tb.Helper()
	if opts == nil {
		opts = &InvoiceOpts{}
	}
	row := &InvoiceRow{AccountID: accountFor(ctx, tb, exec, opts.AccountID), Period: or(opts.Period, "2026-10")}
	row.RunID = or(opts.RunID, 0)
	if opts.RunID == nil {
		row.RunID = Run(ctx, tb, exec, &RunOpts{Period: &row.Period})
	}
	start, end := periodBounds(tb, row.Period)
	issuedAt := or(opts.IssuedAt, end.Add(time.Hour))

	subtotal := money(tb, or(opts.Subtotal, "10.00"))
	discount := money(tb, or(opts.Discount, "0.00"))
	rate := money(tb, or(opts.TaxRate, "0"))
	tax := billing.RoundMoney(subtotal.Sub(discount).Mul(rate).Div(decimal.NewFromInt(100)))
	if opts.Tax != nil {
		tax = money(tb, *opts.Tax)
	}
	row.Total = subtotal.Sub(discount).Add(tax)
	treatment := billing.VATTreatment("outside_eu")
	if rate.IsPositive() {
		treatment = "domestic"
	}
	treatment = or(opts.VATTreatment, treatment)

	status := or(opts.Status, "open")
	credit := money(tb, or(opts.CreditApplied, "0.00"))
	paid := credit
	if status == "paid" {
		paid = row.Total
	}
	if opts.AmountPaid != nil {
		paid = money(tb, *opts.AmountPaid)
	}

	row.Number = or(opts.Number, "")
	if opts.Number == nil {
		var last int
		year := issuedAt.UTC().Year()
		if err := exec.QueryRow(ctx, `
			INSERT INTO number_counters (series, year, last) VALUES ('INV', $1, 1)
			ON CONFLICT (series, year) DO UPDATE SET last = number_counters.last + 1 RETURNING last`, year).Scan(&last); err != nil {
			tb.Fatalf("testfactory: numbering an invoice: %v", err)
		}
		row.Number = fmt.Sprintf("INV-%04d-%06d", year, last)
	}
	var country string
	if err := exec.QueryRow(ctx, `SELECT country FROM accounts WHERE id = $1`, row.AccountID).Scan(&country); err != nil {
		tb.Fatalf("testfactory: invoice for account %s: %v", row.AccountID, err)
	}
	err := exec.QueryRow(ctx, `
		INSERT INTO invoices (number, account_id, period, period_start, period_end, run_id, status, subtotal, discount,
		                      tax_rate, vat_treatment, tax, total, credit_applied, amount_paid, issued_at,
		                      buyer_name, buyer_email, buyer_country)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16,
		        'Test ' || $2, $2 || '@example.test', $17)
		RETURNING id`,
		row.Number, row.AccountID, row.Period, start, end, row.RunID, status, subtotal, discount,
		rate, string(treatment), tax, row.Total, credit, paid, issuedAt, or(opts.BuyerCountry, country)).Scan(&row.ID)
	if err != nil {
		tb.Fatalf("testfactory: invoice %s of %s: %v", row.Number, row.AccountID, err)
	}
	return row
}

// CreditOpts are the fields of a prepaid credit.
type CreditOpts struct {
	AccountID *string             // default a new account
	Amount    *string             // default 10.00
	Kind      *payments.EntryKind // default manual_credit; never a debit
	Reference *string             // default credit_<n>
}

// Credit gives an account prepaid credit through payments.AddCredit, in a
// transaction of its own (a savepoint when exec is a transaction), so the
// ledger entry and the balance move together as in production.
func Credit(ctx context.Context, tb testing.TB, exec pgdb.DB, opts *CreditOpts) *payments.Entry {
	tb.Helper()
	if opts == nil {
		opts = &CreditOpts{}
	}
	e := payments.NewEntry{
		AccountID: accountFor(ctx, tb, exec, opts.AccountID),
		Kind:      or(opts.Kind, payments.EntryManualCredit),
		Amount:    money(tb, or(opts.Amount, "10.00")),
		Reference: or(opts.Reference, fmt.Sprintf("credit_%d", next())),
	}
	var out *payments.Credited
	err := pgx.BeginFunc(ctx, exec, func(tx pgx.Tx) error {
		var err error
		out, err = payments.AddCredit(ctx, tx, e, e.Reference)
		return err
	})
	if err != nil {
		tb.Fatalf("testfactory: credit %s for %s: %v", e.Reference, e.AccountID, err)
	}
	return out.Entry
}

// UsageOpts are the fields of a usage segment and the price it is rated at.
type UsageOpts struct {
	AccountID *string // default a new account
	App       *string // default web
	// Resource is created with PricePerHour from 2025-01-01 when it has no
	// price yet (default c at 1.00).
	Resource     *string
	PricePerHour *string
	Quantity     *int       // default 1
	StartedAt    *time.Time // default 2026-10-01T00:00:00Z
	EndedAt      *time.Time // default StartedAt + 10 h
}

// Usage inserts a usage segment, and its resource and price if missing:
// by default 10 h of one unit at 1.00 in October 2026, which bills 10.00.
func Usage(ctx context.Context, tb testing.TB, exec pgdb.DB, opts *UsageOpts) string {
	tb.Helper()
	if opts == nil {
		opts = &UsageOpts{}
	}
	accountID := accountFor(ctx, tb, exec, opts.AccountID)
	resource := or(opts.Resource, "c")
	if _, err := exec.Exec(ctx, `INSERT INTO resources (resource) VALUES ($1) ON CONFLICT DO NOTHING`, resource); err != nil {
		tb.Fatalf("testfactory: resource %s: %v", resource, err)
	}
	if _, err := exec.Exec(ctx, `
		INSERT INTO prices (resource, effective_from, price_per_hour, description)
		SELECT $1, '2025-01-01Z', $2, $1 WHERE NOT EXISTS (SELECT 1 FROM prices WHERE resource = $1)`,
		resource, money(tb, or(opts.PricePerHour, "1.00"))); err != nil {
		tb.Fatalf("testfactory: price of %s: %v", resource, err)
	}
	started := or(opts.StartedAt, time.Date(2026, 10, 1, 0, 0, 0, 0, time.UTC))
	ended := or(opts.EndedAt, started.Add(10*time.Hour))
	id := fmt.Sprintf("seg_%d", next())
	if _, err := exec.Exec(ctx, `
		INSERT INTO usage_segments (id, account_id, app, resource, quantity, started_at, ended_at) VALUES ($1, $2, $3, $4, $5, $6, $7)`,
		id, accountID, or(opts.App, "web"), resource, or(opts.Quantity, 1), started, ended); err != nil {
		tb.Fatalf("testfactory: usage of %s: %v", accountID, err)
	}
	return id
}
