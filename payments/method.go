package payments

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
)

// MethodType is the kind of a payment method.
type MethodType string

const (
	MethodCard      MethodType = "card"
	MethodSEPADebit MethodType = "sepa_debit"
)

// Valid reports whether t is a known method type.
func (t MethodType) Valid() bool { return t == MethodCard || t == MethodSEPADebit }

// Method is an account's means of paying what credit doesn't cover. ID is the
// processor's payment method id (pm_…).
type Method struct {
	Type MethodType `json:"type"`
	ID   string     `json:"id"`
}

// MethodChange asks for Method to become AccountID's current method.
type MethodChange struct {
	AccountID string
	Method    Method
}

// SetMethods makes each change's method the account's current one, keeping
// the replaced method as history. A change to the method already current is
// a no-op. It returns the accounts whose method actually changed, which is
// what should trigger collection of their open invoices.
func SetMethods(ctx context.Context, tx pgx.Tx, changes []MethodChange) ([]string, error) {
	if len(changes) == 0 {
		return nil, nil
	}
	ids := make([]string, len(changes))
	types := make([]string, len(changes))
	exts := make([]string, len(changes))
	for i, c := range changes {
		if !c.Method.Type.Valid() {
			return nil, fmt.Errorf("account %s: unknown payment method type %q", c.AccountID, c.Method.Type)
		}
		ids[i], types[i], exts[i] = c.AccountID, string(c.Method.Type), c.Method.ID
	}
	rows, err := tx.Query(ctx, `
		SELECT i.account_id
		FROM unnest($1::text[], $2::text[], $3::text[]) AS i(account_id, type, external_id)
		LEFT JOIN payment_methods pm ON pm.account_id = i.account_id AND pm.replaced_at IS NULL
		WHERE pm.id IS NULL OR pm.type <> i.type OR pm.external_id <> i.external_id
		ORDER BY i.account_id`, ids, types, exts)
	if err != nil {
		return nil, err
	}
	changed, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil || len(changed) == 0 {
		return nil, err
	}
	if _, err := tx.Exec(ctx, `
		UPDATE payment_methods SET replaced_at = now()
		WHERE replaced_at IS NULL AND account_id = ANY($1)`, changed); err != nil {
		return nil, err
	}
	if _, err := tx.Exec(ctx, `
		INSERT INTO payment_methods (account_id, type, external_id)
		SELECT i.account_id, i.type, i.external_id
		FROM unnest($1::text[], $2::text[], $3::text[]) AS i(account_id, type, external_id)
		WHERE i.account_id = ANY($4)`, ids, types, exts, changed); err != nil {
		return nil, err
	}
	return changed, nil
}

// CurrentMethod returns the account's current payment method, or nil.
func CurrentMethod(ctx context.Context, q interface {
	QueryRow(context.Context, string, ...any) pgx.Row
}, accountID string) (*Method, error) {
	var m Method
	err := q.QueryRow(ctx, `SELECT type, external_id FROM payment_methods WHERE account_id = $1 AND replaced_at IS NULL`, accountID).
		Scan(&m.Type, &m.ID)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return &m, nil
}
