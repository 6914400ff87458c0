package views

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"

	"github.com/billingengine/engine/billing"
	"github.com/billingengine/engine/internal/platform/pgdb"
	"github.com/billingengine/engine/invoices"
	"github.com/billingengine/engine/payments"
)

// Page bounds of the cursor-paginated listings (SPEC §8).
const (
	DefaultLimit = 100
	MaxLimit     = 1000
)

// ParamError is a listing parameter that is malformed: the API answers 400
// naming it, the CLI exits 2.
type ParamError struct {
	Param   string
	Message string
}

func (e *ParamError) Error() string { return e.Param + ": " + e.Message }

func paramErr(param, format string, args ...any) error {
	return &ParamError{Param: param, Message: fmt.Sprintf(format, args...)}
}

// ParseLimit reads a page size: empty is DefaultLimit, else 1..MaxLimit.
func ParseLimit(s string) (int, error) {
	if s == "" {
		return DefaultLimit, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 || n > MaxLimit {
		return 0, paramErr("limit", "expected an integer from 1 to %d, got %q", MaxLimit, s)
	}
	return n, nil
}

// Page is one page of a listing: {"data":[…],"next":"…"|null}. Next is the
// key of the page's last item (an account id, an invoice number), to pass
// as `after` for the next page; nil on the last page.
type Page[T any] struct {
	Data []T     `json:"data"`
	Next *string `json:"next"`
}

// AccountFilter selects accounts; zero fields don't filter.
type AccountFilter struct {
	// Status is active or suspended.
	Status Status
	// Search matches, case-insensitively, a substring of the id, the name
	// or the email.
	Search string
	// After is the id the previous page ended with; Limit the page size
	// (DefaultLimit when zero).
	After string
	Limit int
}

// Validate checks the filter's values, naming the parameter at fault.
func (f *AccountFilter) Validate() error {
	switch f.Status {
	case "", StatusActive, StatusSuspended:
	default:
		return paramErr("status", "expected active or suspended, got %q", string(f.Status))
	}
	if err := text("search", f.Search); err != nil {
		return err
	}
	if err := text("after", f.After); err != nil {
		return err
	}
	if f.Limit < 0 || f.Limit > MaxLimit {
		return paramErr("limit", "expected an integer from 1 to %d, got %d", MaxLimit, f.Limit)
	}
	return nil
}

// text refuses what Postgres can't compare (invalid UTF-8, NUL) and what
// no key holds (control characters, beyond 300 characters).
func text(param, v string) error {
	if v == "" {
		return nil
	}
	if !plausibleText(v) {
		return paramErr(param, "expected printable UTF-8 text of at most 300 characters")
	}
	return nil
}

// ListAccounts returns a page of accounts by id (the keyset: stable while
// accounts are added).
func ListAccounts(ctx context.Context, q pgdb.Executor, f AccountFilter) (*Page[*Account], error) {
	if err := f.Validate(); err != nil {
		return nil, err
	}
	limit := f.Limit
	if limit == 0 {
		limit = DefaultLimit
	}
	var where []string
	var args []any
	arg := func(v any) string { args = append(args, v); return "$" + strconv.Itoa(len(args)) }
	if f.Status != "" {
		where = append(where, "a.status = "+arg(string(f.Status)))
	}
	if f.Search != "" {
		// The expression of the index accounts_search (0012).
		where = append(where, `(lower(a.id) || E'\x01' || lower(a.name) || E'\x01' || lower(a.email)) LIKE `+
			arg("%"+likeEscape(strings.ToLower(f.Search))+"%"))
	}
	if f.After != "" {
		where = append(where, "a.id > "+arg(f.After))
	}
	sql := `SELECT ` + accountColumns + `, m.type, m.external_id
		FROM accounts a LEFT JOIN payment_methods m ON m.account_id = a.id AND m.replaced_at IS NULL`
	if len(where) > 0 {
		sql += " WHERE " + strings.Join(where, " AND ")
	}
	sql += " ORDER BY a.id LIMIT " + arg(limit+1)
	rows, err := q.Query(ctx, sql, args...)
	if err != nil {
		return nil, err
	}
	accs, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (*Account, error) {
		var mType, mID *string
		a, err := scanAccount(r, &mType, &mID)
		if err != nil {
			return nil, err
		}
		if mType != nil {
			a.PaymentMethod = &payments.Method{Type: payments.MethodType(*mType), ID: *mID}
		}
		return a, nil
	})
	if err != nil {
		return nil, err
	}
	page := &Page[*Account]{Data: accs}
	if len(accs) > limit {
		page.Data = accs[:limit]
		next := accs[limit-1].ID
		page.Next = &next
	}
	return page, nil
}

// likeEscape quotes LIKE's wildcards so that a search is a plain substring.
func likeEscape(s string) string {
	return strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`).Replace(s)
}

// InvoiceFilter selects finalized invoices; zero fields don't filter.
type InvoiceFilter struct {
	Period    string
	Status    invoices.Status // open, processing, paid or void
	AccountID string
	// Overdue keeps the invoices still unpaid after dunning gave up
	// (open or processing, with overdue_at set).
	Overdue bool
	// After is the number the previous page ended with; Limit the page
	// size (DefaultLimit when zero).
	After string
	Limit int
}

// ParseInvoiceStatus reads a listing's status filter.
func ParseInvoiceStatus(s string) (invoices.Status, error) {
	switch st := invoices.Status(s); st {
	case invoices.StatusOpen, invoices.StatusProcessing, invoices.StatusPaid, invoices.StatusVoid:
		return st, nil
	case "":
		return "", nil
	default:
		return "", paramErr("status", "expected open, processing, paid or void, got %q", s)
	}
}

// Validate checks the filter's values, naming the parameter at fault.
func (f *InvoiceFilter) Validate() error {
	if f.Period != "" {
		if _, err := billing.ParsePeriod(f.Period); err != nil {
			return paramErr("period", "expected YYYY-MM, got %q", f.Period)
		}
	}
	if _, err := ParseInvoiceStatus(string(f.Status)); err != nil {
		return err
	}
	if err := text("account", f.AccountID); err != nil {
		return err
	}
	if f.After != "" && !invoices.IsInvoiceNumber(f.After) {
		return paramErr("after", "expected an invoice number INV-YYYY-NNNNNN, got %q", f.After)
	}
	if f.Limit < 0 || f.Limit > MaxLimit {
		return paramErr("limit", "expected an integer from 1 to %d, got %d", MaxLimit, f.Limit)
	}
	return nil
}

// ListInvoices returns a page of finalized invoices by number (the keyset:
// numbers only grow, so a page never shifts under concurrent
// finalizations), each the invoice JSON of SPEC §7 with its attempts. The
// indexes of migrations/0012_finance_lists.sql serve every filter.
func ListInvoices(ctx context.Context, q pgdb.Executor, f InvoiceFilter) (*Page[*invoices.Invoice], error) {
	if err := f.Validate(); err != nil {
		return nil, err
	}
	f.After = strings.ToUpper(f.After)
	limit := f.Limit
	if limit == 0 {
		limit = DefaultLimit
	}
	sql, args := invoiceIDsQuery(f, limit+1)
	rows, err := q.Query(ctx, sql, args...)
	if err != nil {
		return nil, err
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[int64])
	if err != nil {
		return nil, err
	}
	more := len(ids) > limit
	if more {
		ids = ids[:limit]
	}
	invs, err := invoices.ByIDsByNumber(ctx, q, ids)
	if err != nil {
		return nil, err
	}
	if err := payments.AttachAttempts(ctx, q, invs); err != nil {
		return nil, err
	}
	page := &Page[*invoices.Invoice]{Data: invs}
	if more && len(invs) > 0 {
		next := invs[len(invs)-1].Number
		page.Next = &next
	}
	return page, nil
}

// invoiceIDsQuery is the keyset query of a page of invoice ids. The SQL is
// built for the filters given, never `($1 = ” OR …)`, so that the planner
// sees which index serves it.
func invoiceIDsQuery(f InvoiceFilter, limit int) (string, []any) {
	var args []any
	arg := func(v any) string { args = append(args, v); return "$" + strconv.Itoa(len(args)) }
	where := []string{"i.number IS NOT NULL"}
	if f.Period != "" {
		where = append(where, "i.period = "+arg(f.Period))
	}
	if f.Status != "" {
		where = append(where, "i.status = "+arg(string(f.Status)))
	}
	if f.AccountID != "" {
		where = append(where, "i.account_id = "+arg(f.AccountID))
	}
	if f.Overdue {
		where = append(where, "i.overdue_at IS NOT NULL AND i.status IN ('open', 'processing')")
	}
	if f.After != "" {
		where = append(where, "i.number > "+arg(f.After))
	}
	return `SELECT i.id FROM invoices i WHERE ` + strings.Join(where, " AND ") +
		` ORDER BY i.number LIMIT ` + arg(limit), args
}

// ExplainInvoices is EXPLAIN (ANALYZE) of a page's query, for the
// benchmark and the README.
func ExplainInvoices(ctx context.Context, q pgdb.Executor, f InvoiceFilter) (string, error) {
	limit := f.Limit
	if limit == 0 {
		limit = DefaultLimit
	}
	sql, args := invoiceIDsQuery(f, limit+1)
	rows, err := q.Query(ctx, "EXPLAIN (ANALYZE, BUFFERS) "+sql, args...)
	if err != nil {
		return "", err
	}
	lines, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return "", err
	}
	return strings.Join(lines, "\n"), nil
}

// IsParamError reports whether err is a malformed listing parameter.
func IsParamError(err error) bool {
	var pe *ParamError
	return errors.As(err, &pe)
}

func plausibleText(s string) bool {
	return utf8.RuneCountInString(s) <= 300 && utf8.ValidString(s) && !strings.ContainsFunc(s, unicode.IsControl)
}
