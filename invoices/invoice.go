// Package invoices owns invoices from draft to document: billing runs and
// their shards, drafting (rating usage with package billing), finalization
// (referral rewards, VAT, totals, gapless numbers), the invoice JSON of SPEC
// §7, PDFs and credit notes.
//
// It writes only its own tables. It never imports package payments, jobs or
// the timeline: what must follow a finalization or a void (timeline events,
// collection, credit for referral rewards, rendering) is returned to the
// caller as billing.Effects, which jobs.Enqueue applies in the same
// transaction.
package invoices

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/shopspring/decimal"

	"github.com/billingengine/engine/billing"
	"github.com/billingengine/engine/internal/platform/pgdb"
)

// Config is what drafting and finalization need to know of the world.
type Config struct {
	// Location is the billing time zone.
	Location *time.Location
	// SellerCountry and VATRates decide VAT (SPEC §3).
	SellerCountry string
	VATRates      billing.VATRates
	// Now is the clock; finalization reads it for issue dates.
	Now func() time.Time
}

func (c *Config) now() time.Time {
	if c.Now != nil {
		return c.Now()
	}
	return time.Now()
}

// Status is an invoice's status. It is billing.InvoiceStatus, which
// documents each value and the transitions Postgres allows; the names here
// stay so that callers move to billing's at their own pace.
type Status = billing.InvoiceStatus

const (
	StatusDraft      = billing.InvoiceStatusDraft
	StatusOpen       = billing.InvoiceStatusOpen
	StatusProcessing = billing.InvoiceStatusProcessing
	StatusPaid       = billing.InvoiceStatusPaid
	StatusVoid       = billing.InvoiceStatusVoid
)

// ErrNotFound is returned for an invoice number that doesn't exist.
var ErrNotFound = errors.New("invoice not found")

// Line is one line of the invoice JSON (SPEC §7). Fields that a line type
// doesn't carry are omitted.
type Line struct {
	Type             billing.LineType `json:"type"`
	App              string           `json:"app,omitempty"`
	Resource         string           `json:"resource,omitempty"`
	Hours            string           `json:"hours,omitempty"`
	RefereeAccountID string           `json:"referee_account_id,omitempty"`
	Amount           string           `json:"amount"`

	// Prices details a usage line per unit price (per hour) it was billed
	// at: one entry, or more when the price changed within the period.
	Prices []LinePrice `json:"prices,omitempty"`
}

// LinePrice is the part of a usage line billed at one price.
type LinePrice struct {
	PerHour string `json:"price_per_hour"`
	Hours   string `json:"hours"`
}

// Attempt is one collection attempt, as the invoice JSON shows it.
type Attempt struct {
	At      time.Time `json:"at"`
	Method  string    `json:"method"`
	Amount  string    `json:"amount"`
	Outcome string    `json:"outcome"`
	Code    string    `json:"code"`
}

// Invoice is the JSON of SPEC §7, plus what the PDF needs (buyer, VAT).
type Invoice struct {
	ID        int64     `json:"-"`
	Number    string    `json:"number"`
	AccountID string    `json:"account_id"`
	Period    string    `json:"period"`
	Status    Status    `json:"status"`
	IssuedAt  time.Time `json:"issued_at"`
	Currency  string    `json:"currency"`
	Subtotal  string    `json:"subtotal"`
	Discount  string    `json:"discount"`
	TaxRate   string    `json:"tax_rate"`
	// VATRegime is domestic, reverse_charge, oss or outside_scope (SPEC §3).
	VATRegime     string    `json:"vat_regime"`
	Tax           string    `json:"tax"`
	Total         string    `json:"total"`
	CreditApplied string    `json:"credit_applied"`
	AmountPaid    string    `json:"amount_paid"`
	AmountDue     string    `json:"amount_due"`
	Lines         []Line    `json:"lines"`
	Attempts      []Attempt `json:"attempts"`
	// CreditNote is the credit note that voided the invoice.
	CreditNote string `json:"credit_note,omitempty"`

	VATTreatment   billing.VATTreatment `json:"-"`
	VATMention     string               `json:"-"`
	BuyerName      string               `json:"-"`
	BuyerEmail     string               `json:"-"`
	BuyerCountry   string               `json:"-"`
	BuyerVATNumber string               `json:"-"`
	// The buyer's billing address, SIREN and language as invoiced
	// (migration 0013); empty for invoices issued before.
	BuyerAddress  Address          `json:"-"`
	BuyerSIREN    string           `json:"-"`
	BuyerLanguage billing.Language `json:"-"`
	PeriodStart   time.Time        `json:"-"`
	PeriodEnd     time.Time        `json:"-"`
	RunID         int64            `json:"-"`
	// CollectAt is the first collection attempt's time, t0 of dunning
	// (SPEC §5): IssuedAt, or later for a SEPA debit delayed after its
	// pre-notification (BILLING_SEPA_DEBIT_DELAY).
	CollectAt time.Time `json:"-"`
}

const invoiceColumns = `i.id, i.number, i.account_id, i.period, i.status, i.issued_at, i.currency, i.subtotal,
	i.discount, i.tax_rate, i.tax, i.total, i.credit_applied, i.amount_paid, i.vat_treatment, i.vat_mention,
	i.buyer_name, i.buyer_email, i.buyer_country, coalesce(i.buyer_vat_number, ''), i.period_start, i.period_end, i.run_id,
	coalesce((SELECT c.number FROM credit_notes c WHERE c.invoice_id = i.id), ''),
	coalesce(i.buyer_address_line1, ''), coalesce(i.buyer_address_line2, ''), coalesce(i.buyer_address_postal_code, ''),
	coalesce(i.buyer_address_city, ''), coalesce(i.buyer_address_country, ''), coalesce(i.buyer_siren, ''),
	coalesce(i.buyer_language, ''),
	coalesce(i.collect_at, i.issued_at)`

// storedInvoice is an invoice as read from the database: its JSON
// (Invoice), formatted once here, and the same amounts and lines typed,
// which the PDF's Document is built from, so that no one downstream
// parses a formatted amount back.
type storedInvoice struct {
	inv                                               *Invoice
	subtotal, discount, tax, total, credit, paid, due billing.Money
	taxRate                                           decimal.Decimal
	lines                                             []DocumentLine
}

func scanInvoice(row pgx.Row) (*storedInvoice, error) {
	var inv Invoice
	st := &storedInvoice{inv: &inv}
	err := row.Scan(&inv.ID, &inv.Number, &inv.AccountID, &inv.Period, &inv.Status, &inv.IssuedAt, &inv.Currency,
		&st.subtotal, &st.discount, &st.taxRate, &st.tax, &st.total, &st.credit, &st.paid, &inv.VATTreatment, &inv.VATMention,
		&inv.BuyerName, &inv.BuyerEmail, &inv.BuyerCountry, &inv.BuyerVATNumber, &inv.PeriodStart, &inv.PeriodEnd, &inv.RunID, &inv.CreditNote,
		&inv.BuyerAddress.Line1, &inv.BuyerAddress.Line2, &inv.BuyerAddress.PostalCode, &inv.BuyerAddress.City, &inv.BuyerAddress.Country,
		&inv.BuyerSIREN, &inv.BuyerLanguage, &inv.CollectAt)
	if err != nil {
		return nil, err
	}
	inv.IssuedAt, inv.CollectAt = inv.IssuedAt.UTC(), inv.CollectAt.UTC()
	inv.PeriodStart, inv.PeriodEnd = inv.PeriodStart.UTC(), inv.PeriodEnd.UTC()
	if inv.Status != StatusVoid {
		st.due = st.total.Sub(st.paid)
	}
	inv.Subtotal = st.subtotal.String()
	inv.Discount = st.discount.String()
	inv.TaxRate = st.taxRate.String()
	inv.VATRegime = inv.VATTreatment.Regime()
	inv.Tax = st.tax.String()
	inv.Total = st.total.String()
	inv.CreditApplied = st.credit.String()
	inv.AmountPaid = st.paid.String()
	inv.AmountDue = st.due.String()
	inv.Lines = []Line{}
	inv.Attempts = []Attempt{}
	return st, nil
}

// Get returns the finalized invoice with this number, lines included.
func Get(ctx context.Context, q pgdb.Executor, number string) (*Invoice, error) {
	st, err := getStored(ctx, q, number)
	if err != nil {
		return nil, err
	}
	return st.inv, nil
}

func getStored(ctx context.Context, q pgdb.Executor, number string) (*storedInvoice, error) {
	number = NormalizeNumber(number)
	st, err := scanInvoice(q.QueryRow(ctx, `SELECT `+invoiceColumns+` FROM invoices i WHERE i.number = $1`, number))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, fmt.Errorf("%w: %s", ErrNotFound, number)
	}
	if err != nil {
		return nil, err
	}
	if err := loadLines(ctx, q, []*storedInvoice{st}); err != nil {
		return nil, err
	}
	return st, nil
}

// ListParams selects invoices; zero fields don't filter.
type ListParams struct {
	Period    string
	AccountID string
}

// List returns finalized invoices (drafts are work in progress, not
// invoices), by number.
func List(ctx context.Context, q pgdb.Executor, p ListParams) ([]*Invoice, error) {
	return queryInvoices(ctx, q, `SELECT `+invoiceColumns+` FROM invoices i
		WHERE i.status <> 'draft' AND ($1 = '' OR i.period = $1) AND ($2 = '' OR i.account_id = $2)
		ORDER BY i.number`, p.Period, p.AccountID)
}

// ByIDs returns the finalized invoices with these ids, lines included, in
// three queries whatever their number: their JSON (SPEC §7) for the events
// of a finalization chunk or a collection batch, so without the lines'
// prices, which only the PDF shows, and without the typed lines a Document
// is drawn from.
func ByIDs(ctx context.Context, q pgdb.Executor, ids []int64) ([]*Invoice, error) {
	rows, err := q.Query(ctx, `SELECT `+invoiceColumns+` FROM invoices i
		WHERE i.id = ANY($1) AND i.status <> 'draft' ORDER BY i.id`, ids)
	if err != nil {
		return nil, err
	}
	sts, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (*storedInvoice, error) { return scanInvoice(r) })
	if err != nil {
		return nil, err
	}
	if err := loadLinesOf(ctx, q, sts, false); err != nil {
		return nil, err
	}
	invs := make([]*Invoice, len(sts))
	for i, st := range sts {
		invs[i] = st.inv
	}
	return invs, nil
}

// ByIDsByNumber returns the finalized invoices with these ids, by number,
// lines and their prices included: the read models select the ids, this
// builds the JSON.
func ByIDsByNumber(ctx context.Context, q pgdb.Executor, ids []int64) ([]*Invoice, error) {
	if len(ids) == 0 {
		return []*Invoice{}, nil
	}
	return queryInvoices(ctx, q, `SELECT `+invoiceColumns+` FROM invoices i
		WHERE i.id = ANY($1) AND i.status <> 'draft' ORDER BY i.number`, ids)
}

// queryInvoices runs a query of invoiceColumns and loads the invoices'
// lines, in two queries whatever their number.
func queryInvoices(ctx context.Context, q pgdb.Executor, sql string, args ...any) ([]*Invoice, error) {
	sts, err := queryStored(ctx, q, sql, args...)
	if err != nil {
		return nil, err
	}
	invs := make([]*Invoice, len(sts))
	for i, st := range sts {
		invs[i] = st.inv
	}
	return invs, nil
}

func queryStored(ctx context.Context, q pgdb.Executor, sql string, args ...any) ([]*storedInvoice, error) {
	rows, err := q.Query(ctx, sql, args...)
	if err != nil {
		return nil, err
	}
	sts, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (*storedInvoice, error) { return scanInvoice(r) })
	if err != nil {
		return nil, err
	}
	if err := loadLines(ctx, q, sts); err != nil {
		return nil, err
	}
	return sts, nil
}

// loadLines reads the lines of invoices, typed for their Document and
// formatted for their JSON.
func loadLines(ctx context.Context, q pgdb.Executor, sts []*storedInvoice) error {
	return loadLinesOf(ctx, q, sts, true)
}

// loadLinesOf is loadLines, or with typed false the JSON lines alone,
// without their prices.
func loadLinesOf(ctx context.Context, q pgdb.Executor, sts []*storedInvoice, typed bool) error {
	if len(sts) == 0 {
		return nil
	}
	byID := make(map[int64]*storedInvoice, len(sts))
	ids := make([]int64, len(sts))
	for i, st := range sts {
		byID[st.inv.ID] = st
		ids[i] = st.inv.ID
	}
	load := loadUsageLines
	if !typed {
		load = loadUsageLinesJSON
	}
	if err := load(ctx, q, byID, ids); err != nil {
		return err
	}
	// The other lines follow the usage lines (migration 0024).
	rows, err := q.Query(ctx, referralLinesSQL, ids)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var id int64
		var types []billing.LineType
		var referees []*string
		var amounts []billing.Money
		if err := rows.Scan(&id, &types, &referees, &amounts); err != nil {
			return err
		}
		if len(referees) != len(types) || len(amounts) != len(types) {
			return fmt.Errorf("referral lines of invoice %d: arrays of %d, %d and %d lines", id, len(types), len(referees), len(amounts))
		}
		st := byID[id]
		for i, t := range types {
			d := DocumentLine{Type: t, Amount: amounts[i]}
			if referees[i] != nil {
				d.RefereeAccountID = *referees[i]
			}
			if typed {
				st.lines = append(st.lines, d)
			}
			st.inv.Lines = append(st.inv.Lines, jsonLine(d))
		}
	}
	return rows.Err()
}

// referralLinesSQL reads the lines after the usage lines of the invoices
// $1: one probe of the key per invoice, whatever the planner knows of the
// table (OFFSET 0 keeps the subquery a loop). Written during finalization,
// after the drafts' statistics were taken, the table is never analyzed
// when the events read it, and `invoice_id = ANY($1)` was planned as a
// scan of it whole, 7 ms a batch at 10,000 rows and growing with it.
const referralLinesSQL = `
	SELECT r.invoice_id, r.types, r.referee_account_ids, r.amounts
	FROM unnest($1::bigint[]) AS q(id)
	CROSS JOIN LATERAL (SELECT * FROM invoice_referral_lines r WHERE r.invoice_id = q.id OFFSET 0) r`

// loadUsageLines appends the invoices' usage lines, their first, from their
// invoice_usage_lines row (one per invoice, its lines the arrays' elements).
func loadUsageLines(ctx context.Context, q pgdb.Executor, byID map[int64]*storedInvoice, ids []int64) error {
	rows, err := q.Query(ctx, `
		SELECT invoice_id, apps, resources, hours, amounts, price_counts, prices_per_hour, price_hours
		FROM invoice_usage_lines WHERE invoice_id = ANY($1)`, ids)
	if err != nil {
		return err
	}
	defer rows.Close()
	var u usageArrays
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id, &u.apps, &u.resources, &u.hours, &u.amounts, &u.counts, &u.perHour, &u.priceHours); err != nil {
			return err
		}
		st := byID[id]
		lines, err := u.lines()
		if err != nil {
			return fmt.Errorf("usage lines of invoice %d: %w", id, err)
		}
		st.lines = append(st.lines, lines...)
		for _, d := range lines {
			st.inv.Lines = append(st.inv.Lines, jsonLine(d))
		}
	}
	return rows.Err()
}

// loadUsageLinesJSON is loadUsageLines for the JSON alone (the events'):
// the hours and amounts as Postgres writes their numeric(20, 6) and
// numeric(14, 2), the six and two decimals FormatHours and Money write,
// so that no decimal is decoded to be formatted again (millions of them
// for a run's events).
func loadUsageLinesJSON(ctx context.Context, q pgdb.Executor, byID map[int64]*storedInvoice, ids []int64) error {
	rows, err := q.Query(ctx, `
		SELECT invoice_id, apps, resources, hours::text[], amounts::text[] FROM invoice_usage_lines WHERE invoice_id = ANY($1)`, ids)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var id int64
		var apps, resources, hours, amounts []string
		if err := rows.Scan(&id, &apps, &resources, &hours, &amounts); err != nil {
			return err
		}
		if len(resources) != len(apps) || len(hours) != len(apps) || len(amounts) != len(apps) {
			return fmt.Errorf("usage lines of invoice %d: arrays of %d, %d, %d and %d lines", id, len(apps), len(resources), len(hours), len(amounts))
		}
		st := byID[id]
		for i := range apps {
			st.inv.Lines = append(st.inv.Lines, Line{Type: billing.LineUsage, App: apps[i], Resource: resources[i], Hours: hours[i], Amount: amounts[i]})
		}
	}
	return rows.Err()
}

// usageArrays is an invoice_usage_lines row as scanned.
type usageArrays struct {
	apps, resources     []string
	hours               []decimal.Decimal
	amounts             []billing.Money
	counts              []int32
	perHour, priceHours []decimal.Decimal
}

// lines are the row's usage lines, each with its share of the prices.
func (u *usageArrays) lines() ([]DocumentLine, error) {
	n := len(u.apps)
	if len(u.resources) != n || len(u.hours) != n || len(u.amounts) != n || len(u.counts) != n {
		return nil, fmt.Errorf("arrays of %d, %d, %d, %d and %d lines", n, len(u.resources), len(u.hours), len(u.amounts), len(u.counts))
	}
	if len(u.perHour) != len(u.priceHours) {
		return nil, fmt.Errorf("%d prices per hour for %d hours", len(u.perHour), len(u.priceHours))
	}
	out := make([]DocumentLine, n)
	next := 0
	for i := range out {
		out[i] = DocumentLine{Type: billing.LineUsage, App: u.apps[i], Resource: u.resources[i],
			Hours: decimal.NullDecimal{Decimal: u.hours[i], Valid: true}, Amount: u.amounts[i]}
		c := int(u.counts[i])
		if c < 0 || next+c > len(u.perHour) {
			return nil, fmt.Errorf("line %d: %d prices, %d left", i+1, c, len(u.perHour)-next)
		}
		if c > 0 {
			out[i].Prices = make([]DocumentPrice, c)
			for k := range c {
				out[i].Prices[k] = DocumentPrice{PerHour: u.perHour[next+k], Hours: u.priceHours[next+k]}
			}
		}
		next += c
	}
	if next != len(u.perHour) {
		return nil, fmt.Errorf("%d prices for lines that have %d", len(u.perHour), next)
	}
	return out, nil
}

var numberPattern = regexp.MustCompile(`^(INV|CN)-20[0-9]{2}-[0-9]{6}$`)

// NormalizeNumber is an invoice or credit note number as stored: numbers
// are accepted in any case (inv-2026-000001) and stored in upper case.
func NormalizeNumber(number string) string { return strings.ToUpper(strings.TrimSpace(number)) }

// IsInvoiceNumber reports whether s, in any case, has the form of an
// invoice number, INV-YYYY-NNNNNN.
func IsInvoiceNumber(s string) bool {
	n := NormalizeNumber(s)
	return numberPattern.MatchString(n) && strings.HasPrefix(n, "INV-")
}
