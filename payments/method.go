package payments

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/billingengine/engine/billing"
	"github.com/billingengine/engine/internal/platform/pgdb"
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

// MethodsChanged is what ChangeMethods did.
type MethodsChanged struct {
	// Accounts are those whose method actually changed, in id order.
	Accounts []string
	// Effects is what follows (MethodChangedEffects): for jobs.Enqueue.
	Effects billing.Effects
}

// ChangeMethods is SetMethods with what follows from it: the effects of
// the accounts whose method actually changed, at at. Every entry point
// that sets a method (the CLI, Stripe's setup_intent.succeeded webhook)
// goes through it, so each records the same timeline event and collects
// the same invoices.
func ChangeMethods(ctx context.Context, tx pgx.Tx, changes []MethodChange, at time.Time) (*MethodsChanged, error) {
	changed, err := SetMethods(ctx, tx, changes)
	if err != nil {
		return nil, err
	}
	return &MethodsChanged{Accounts: changed, Effects: MethodChangedEffects(changed, at)}, nil
}

// MethodChangedEffects is what a new payment method implies for each
// account (SPEC §5): a payment_method_changed timeline event at at, and
// the collection of its open invoices at once. It is exported for the
// accounts import, which sets methods in bulk with SetMethods and hands
// the changed accounts to its caller.
func MethodChangedEffects(accountIDs []string, at time.Time) billing.Effects {
	if len(accountIDs) == 0 {
		return billing.Effects{}
	}
	e := billing.Effects{CollectOpenInvoices: append([]string(nil), accountIDs...), At: at}
	for _, id := range accountIDs {
		e.Timeline = append(e.Timeline, billing.TimelineEvent{AccountID: id, At: at, Kind: billing.TimelineMethodChanged})
	}
	return e
}

// SetMethods makes each change's method the account's current one, keeping
// the replaced method as history. A change to the method already current is
// a no-op. It returns the accounts whose method actually changed; what
// follows for them is MethodChangedEffects (ChangeMethods returns both).
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
func CurrentMethod(ctx context.Context, q pgdb.Executor, accountID string) (*Method, error) {
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

// Stripe's test mode ids (SPEC §4), which the sandbox processor honours: a
// sandbox accepts no other card.
var sandboxCards = map[string]bool{
	"pm_card_visa": true, "pm_card_mastercard": true, "pm_card_amex": true,
	"pm_card_chargeDeclined": true, "pm_card_chargeDeclinedInsufficientFunds": true,
	"pm_card_chargeDeclinedExpiredCard": true, "pm_card_chargeDeclinedLostCard": true,
	"pm_card_chargeDeclinedStolenCard": true, "pm_card_chargeDeclinedIncorrectCvc": true,
	"pm_card_chargeDeclinedProcessingError": true,
}

// SandboxCard reports whether id is one of Stripe's test card ids.
func SandboxCard(id string) bool { return sandboxCards[id] }

// Stripe's test IBANs: the first settles, the second fails; in sandbox mode
// any other valid IBAN settles.
const (
	SandboxIBANSettles = "DE89370400440532013000"
	SandboxIBANFails   = "DE62370400440532013001"
)

// SandboxSEPAMethod is the sandbox's payment method for a (normalized)
// IBAN, as Stripe's test mode treats it.
func SandboxSEPAMethod(iban string) string {
	if iban == SandboxIBANFails {
		return "pm_sepa_debit_fail"
	}
	return "pm_sepa_debit_success"
}
