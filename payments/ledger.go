package payments

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/shopspring/decimal"

	"github.com/billingengine/engine/billing"
	"github.com/billingengine/engine/internal/platform/pgdb"
)

// EntryKind is why prepaid credit moved.
type EntryKind string

const (
	EntryPayPalPurchase   EntryKind = "paypal_purchase"
	EntryManualCredit     EntryKind = "manual_credit"
	EntryReferralReward   EntryKind = "referral_reward"
	EntryInvoicePayment   EntryKind = "invoice_payment"
	EntryRefundToCredit   EntryKind = "refund_to_credit"
	EntryReferralReversal EntryKind = "referral_reversal"
)

// debit reports whether entries of this kind take credit away.
func (k EntryKind) debit() bool { return k == EntryInvoicePayment || k == EntryReferralReversal }

// ErrInsufficientCredit is returned by a debit larger than the balance.
var ErrInsufficientCredit = errors.New("insufficient prepaid credit")

// ErrReferenceConflict is matched (errors.Is) by the error of an entry
// whose reference already names another entry of its kind: for another
// account or another amount.
var ErrReferenceConflict = errors.New("credit reference already used")

// ReferenceConflictError is an entry refused because its reference is taken.
type ReferenceConflictError struct {
	Kind      EntryKind
	Reference string
	// Existing is the entry that holds the reference.
	Existing *Entry
}

func (e *ReferenceConflictError) Error() string {
	return fmt.Sprintf("credit reference %s already exists: a %s credit of %s for account %s",
		e.Reference, e.Kind, billing.FormatMoney(e.Existing.Amount.Abs()), e.Existing.AccountID)
}

func (e *ReferenceConflictError) Is(target error) bool { return target == ErrReferenceConflict }

// Entry is one line of the prepaid credit ledger.
type Entry struct {
	ID           int64           `json:"id"`
	AccountID    string          `json:"account_id"`
	Kind         EntryKind       `json:"kind"`
	Amount       decimal.Decimal `json:"-"`
	BalanceAfter decimal.Decimal `json:"-"`
	Reference    string          `json:"reference"`
	InvoiceID    *int64          `json:"-"`
	CreatedAt    time.Time       `json:"created_at"`
}

// NewEntry asks for credit to move. Amount is positive; debits (invoice
// payments, reversals) are recorded negative by AddEntry.
type NewEntry struct {
	AccountID string
	Kind      EntryKind
	Amount    decimal.Decimal
	Reference string
	InvoiceID *int64
}

// AddEntry appends an entry to the ledger and moves the account's balance,
// in tx. It is idempotent by (kind, reference): replaying an entry returns
// the stored one and created = false, and changes nothing; a reference that
// names an entry of another account or amount is a *ReferenceConflictError.
// The account row is locked first, so entries of one account serialise and
// the balance, which a constraint keeps at or above zero, can never be
// overdrawn by concurrent collections. Entries of two accounts racing on one
// reference don't share that lock: the ledger row is inserted before the
// balance moves, and the loser of the race waits on the unique index and
// then finds the winner's entry, as a replay would have.
func AddEntry(ctx context.Context, tx pgx.Tx, e NewEntry) (entry *Entry, created bool, err error) {
	if !e.Amount.IsPositive() {
		return nil, false, fmt.Errorf("credit entry %s %s: amount %s is not positive", e.Kind, e.Reference, e.Amount)
	}
	if !billing.RoundMoney(e.Amount).Equal(e.Amount) {
		return nil, false, fmt.Errorf("credit entry %s %s: amount %s has more than two decimals", e.Kind, e.Reference, e.Amount)
	}
	var balance decimal.Decimal
	if err := tx.QueryRow(ctx, `SELECT credit_balance FROM accounts WHERE id = $1 FOR NO KEY UPDATE`, e.AccountID).Scan(&balance); err != nil {
		if errors.Is(err, pgx.ErrNoRows) {
			return nil, false, fmt.Errorf("credit entry for unknown account %s", e.AccountID)
		}
		return nil, false, err
	}
	replay := func() (*Entry, bool, error) {
		existing, err := getEntry(ctx, tx, e.Kind, e.Reference)
		if err != nil {
			return nil, false, err
		}
		if existing.AccountID != e.AccountID || !existing.Amount.Abs().Equal(e.Amount) {
			return nil, false, &ReferenceConflictError{Kind: e.Kind, Reference: e.Reference, Existing: existing}
		}
		return existing, false, nil
	}
	if existing, created, err := replay(); !errors.Is(err, pgx.ErrNoRows) {
		return existing, created, err
	}
	amount := e.Amount
	if e.Kind.debit() {
		amount = amount.Neg()
	}
	after := balance.Add(amount)
	if after.IsNegative() {
		return nil, false, fmt.Errorf("%w: %s has %s, %s %s needs %s", ErrInsufficientCredit, e.AccountID, balance, e.Kind, e.Reference, e.Amount)
	}
	// ON CONFLICT DO NOTHING waits for a transaction inserting the same
	// reference and then inserts nothing when that one committed: the entry
	// it wrote is visible to the next statement, so this one is a replay.
	entry = &Entry{AccountID: e.AccountID, Kind: e.Kind, Amount: amount, BalanceAfter: after, Reference: e.Reference, InvoiceID: e.InvoiceID}
	err = tx.QueryRow(ctx, `
		INSERT INTO credit_ledger (account_id, kind, amount, balance_after, reference, invoice_id)
		VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (kind, reference) DO NOTHING RETURNING id, created_at`,
		e.AccountID, e.Kind, amount, after, e.Reference, e.InvoiceID).Scan(&entry.ID, &entry.CreatedAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return replay()
	}
	if err != nil {
		return nil, false, err
	}
	if _, err := tx.Exec(ctx, `UPDATE accounts SET credit_balance = $2 WHERE id = $1`, e.AccountID, after); err != nil {
		return nil, false, err
	}
	return entry, true, nil
}

// Credited is what AddCredit did.
type Credited struct {
	Entry *Entry
	// Created: the entry is new; false for a replay, which implies
	// nothing.
	Created bool
	// Effects is what the new credit implies (CreditAddedEffects): for
	// jobs.Enqueue.
	Effects billing.Effects
}

// AddCredit is AddEntry for credit given to an account (a purchase, finance's
// credit, a reward, a refund), with what follows from it when the entry is
// new. shownRef is the reference the timeline shows (finance's own, the
// PayPal capture id), which may be shorter than the ledger's.
func AddCredit(ctx context.Context, tx pgx.Tx, e NewEntry, shownRef string) (*Credited, error) {
	if e.Kind.debit() {
		return nil, fmt.Errorf("credit entry %s %s: a %s takes credit away", e.Kind, e.Reference, e.Kind)
	}
	entry, created, err := AddEntry(ctx, tx, e)
	if err != nil {
		return nil, err
	}
	out := &Credited{Entry: entry, Created: created}
	if created {
		out.Effects = CreditAddedEffects(entry, shownRef)
	}
	return out, nil
}

// CreditAddedEffects is what a new credit entry implies (SPEC §5): a
// credit_added timeline event (amount, kind, and shownRef as its
// reference) at the entry's time, and the collection of the account's open
// invoices, which the credit may now pay.
func CreditAddedEffects(entry *Entry, shownRef string) billing.Effects {
	return billing.Effects{
		CollectOpenInvoices: []string{entry.AccountID},
		Timeline: []billing.TimelineEvent{{AccountID: entry.AccountID, At: entry.CreatedAt, Kind: billing.TimelineCreditAdded, InvoiceID: entry.InvoiceID,
			Data: map[string]any{"amount": billing.FormatMoney(entry.Amount), "kind": string(entry.Kind), "reference": shownRef}}},
		Events: []billing.Event{CreditAddedEvent(entry.AccountID, entry.CreatedAt, entry.Amount, entry.Kind, shownRef)},
		At:     entry.CreatedAt,
	}
}

// CreditAddedEvent is the credit.added event (SPEC §11) of credit given to
// an account: amount, kind (the ledger entry's) and reference.
func CreditAddedEvent(accountID string, at time.Time, amount decimal.Decimal, kind EntryKind, reference string) billing.Event {
	return billing.Event{Type: billing.EventCreditAdded, AccountID: accountID, At: at,
		Data: map[string]any{"amount": billing.FormatMoney(amount), "kind": string(kind), "reference": reference}}
}

func getEntry(ctx context.Context, q pgdb.Executor, kind EntryKind, reference string) (*Entry, error) {
	var e Entry
	err := q.QueryRow(ctx, `
		SELECT id, account_id, kind, amount, balance_after, reference, invoice_id, created_at
		FROM credit_ledger WHERE kind = $1 AND reference = $2`, kind, reference).
		Scan(&e.ID, &e.AccountID, &e.Kind, &e.Amount, &e.BalanceAfter, &e.Reference, &e.InvoiceID, &e.CreatedAt)
	if err != nil {
		return nil, err
	}
	return &e, nil
}
