// Package views holds the read models of SPEC §7: the JSON the CLI and the
// HTTP API show, joined from the tables the domain packages own. It reads
// and never writes; an account's standing is decided in internal/accounts,
// its payment methods in payments.
package views

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"
	"github.com/shopspring/decimal"

	"github.com/billingengine/engine/billing"
	"github.com/billingengine/engine/internal/platform/pgdb"
	"github.com/billingengine/engine/payments"
)

// ErrAccountNotFound is returned for an account id that doesn't exist.
var ErrAccountNotFound = errors.New("account not found")

// Status is an account's standing.
type Status string

const (
	StatusActive    Status = "active"
	StatusSuspended Status = "suspended"
)

// Account is the JSON view of an account (SPEC §7).
type Account struct {
	ID            string           `json:"id"`
	Name          string           `json:"name"`
	Email         string           `json:"email"`
	Country       string           `json:"country"`
	VATNumber     *string          `json:"vat_number"`
	Status        Status           `json:"status"`
	CreatedAt     time.Time        `json:"created_at"`
	ReferredBy    *string          `json:"referred_by"`
	CreditBalance string           `json:"credit_balance"`
	PaymentMethod *payments.Method `json:"payment_method"`
	// Since v2 (SPEC §2): the billing address (null when none was
	// imported), the SIREN of a French business and the documents' language.
	Address  *Address         `json:"address"`
	SIREN    *string          `json:"siren"`
	Language billing.Language `json:"language"`
}

// Address is an account's billing address; Line2 is "" when it has none.
type Address struct {
	Line1      string `json:"line1"`
	Line2      string `json:"line2"`
	PostalCode string `json:"postal_code"`
	City       string `json:"city"`
	Country    string `json:"country"`
}

// GetAccount returns the account's view, or ErrAccountNotFound.
func GetAccount(ctx context.Context, q pgdb.Executor, id string) (*Account, error) {
	if !utf8.ValidString(id) || strings.ContainsRune(id, 0) {
		// Postgres refuses such text outright: no account has this id.
		return nil, fmt.Errorf("%w: %q", ErrAccountNotFound, id)
	}
	a, err := scanAccount(q.QueryRow(ctx, `SELECT `+accountColumns+` FROM accounts a WHERE a.id = $1`, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, fmt.Errorf("%w: %s", ErrAccountNotFound, id)
	}
	if err != nil {
		return nil, err
	}
	if a.PaymentMethod, err = payments.CurrentMethod(ctx, q, id); err != nil {
		return nil, err
	}
	return a, nil
}

// accountColumns are what scanAccount reads, of accounts a.
const accountColumns = `a.id, a.name, a.email, a.country, a.vat_number, a.status, a.created_at, a.referred_by, a.credit_balance,
	a.address_line1, a.address_line2, a.address_postal_code, a.address_city, a.address_country, a.siren, a.language`

// scanAccount reads accountColumns (then any extra destinations), the one
// place an account's view is built from its row: the account and the
// listing show the same fields.
func scanAccount(row pgx.Row, extra ...any) (*Account, error) {
	var a Account
	var balance decimal.Decimal
	var line1, line2, postal, city, addrCountry *string
	dest := append([]any{&a.ID, &a.Name, &a.Email, &a.Country, &a.VATNumber, &a.Status, &a.CreatedAt, &a.ReferredBy, &balance,
		&line1, &line2, &postal, &city, &addrCountry, &a.SIREN, &a.Language}, extra...)
	if err := row.Scan(dest...); err != nil {
		return nil, err
	}
	a.CreatedAt = a.CreatedAt.UTC()
	if line1 != nil {
		// The schema keeps an address whole: the other parts are there.
		a.Address = &Address{Line1: *line1, PostalCode: *postal, City: *city, Country: *addrCountry}
		if line2 != nil {
			a.Address.Line2 = *line2
		}
	}
	a.CreditBalance = billing.FormatMoney(balance)
	return &a, nil
}
