package invoices

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"
	"github.com/shopspring/decimal"

	"github.com/billingengine/engine/billing"
)

// VoidParams asks for an invoice to be voided.
type VoidParams struct {
	Number string
	// Reason is printed on the credit note.
	Reason string
	// RequestedBy says who asked ("cli", "api").
	RequestedBy string
}

// TakeBack is a referral reward that a voided invoice had earned its
// referrer: the caller takes it back from the referrer's prepaid credit as
// far as it goes and records the rest with RecordReversal, to be charged on
// the referrer's next invoice.
type TakeBack struct {
	RewardID         int64
	ReferrerID       string
	RefereeAccountID string
	Amount           decimal.Decimal
}

// Voided is what voiding an invoice did, and the money the caller moves in
// the same transaction.
type Voided struct {
	Invoice    *Invoice
	CreditNote *CreditNote
	// Already: the invoice was void before; nothing changed.
	Already bool
	// Refund is what had been paid on the invoice (prepaid credit and
	// charges): it goes back to the account's prepaid credit.
	Refund decimal.Decimal
	// Credits is the referral discount the invoice had given, credited to
	// the account instead: the rewards behind it stay earned, and the
	// replacement invoice won't take them again.
	Credits []CreditGrant
	// Effects is what the void implies beyond its rows: its invoice_voided
	// timeline event, before those of the money the void moves. The
	// caller applies it in tx (jobs.Enqueue).
	Effects billing.Effects
	// TakeBacks are the rewards the invoice had earned its referrer.
	TakeBacks []TakeBack
}

// ErrInvalidReason is matched (errors.Is) by every refusal of a void
// reason; the error itself says what is wrong.
var ErrInvalidReason = errors.New("invalid void reason")

// MaxReasonChars bounds a reason, in characters: the schema checks the same.
const MaxReasonChars = 1000

type reasonError string

func (e reasonError) Error() string        { return string(e) }
func (e reasonError) Is(target error) bool { return target == ErrInvalidReason }

// ValidateReason returns a reason as it is stored (without surrounding
// space), or an error matching ErrInvalidReason that says what is wrong. A
// reason is printed on the credit note, its PDF and its e-invoice, so it is
// one line of printable UTF-8 text: Postgres would refuse a NUL or invalid
// UTF-8 with an error nobody should have to read, and a control character
// would garble the documents.
func ValidateReason(s string) (string, error) {
	if !utf8.ValidString(s) {
		return "", reasonError("the reason is not valid UTF-8 text")
	}
	reason := strings.TrimSpace(s)
	if reason == "" {
		return "", reasonError("a reason is required (it is printed on the credit note)")
	}
	if i := strings.IndexFunc(reason, unprintable); i >= 0 {
		r, _ := utf8.DecodeRuneInString(reason[i:])
		return "", reasonError(fmt.Sprintf("the reason contains the control character %U at character %d: it must be one line of printable text",
			r, utf8.RuneCountInString(reason[:i])+1))
	}
	if n := utf8.RuneCountInString(reason); n > MaxReasonChars {
		return "", reasonError(fmt.Sprintf("the reason is %d characters long: at most %d are printed on the credit note", n, MaxReasonChars))
	}
	return reason, nil
}

// unprintable reports the characters a one-line reason can't hold: C0 and
// C1 controls (NUL, tab, newlines, escapes…) and the Unicode line and
// paragraph separators.
func unprintable(r rune) bool { return unicode.IsControl(r) || r == '\u2028' || r == '\u2029' }

// Void cancels a finalized invoice, in tx, and issues its credit note
// CN-YYYY-NNNNNN (gapless like invoice numbers). The invoice keeps its
// number and its PDF; the period is free to be billed again. Referral
// rewards move as described on Voided; reversals that had been charged on
// the invoice are outstanding again. Voiding a void invoice returns its
// credit note with Already set.
func Void(ctx context.Context, tx pgx.Tx, cfg *Config, p VoidParams) (*Voided, error) {
	p.Number = NormalizeNumber(p.Number)
	reason, err := ValidateReason(p.Reason)
	if err != nil {
		return nil, err
	}
	var id int64
	var status Status
	err = tx.QueryRow(ctx, `SELECT id, status FROM invoices WHERE number = $1 FOR UPDATE`, p.Number).Scan(&id, &status)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, fmt.Errorf("%w: %s", ErrNotFound, p.Number)
	}
	if err != nil {
		return nil, err
	}
	if status == StatusVoid {
		inv, err := Get(ctx, tx, p.Number)
		if err != nil {
			return nil, err
		}
		cn, err := creditNoteOf(ctx, tx, id)
		if err != nil {
			return nil, err
		}
		return &Voided{Invoice: inv, CreditNote: cn, Already: true, Refund: decimal.Zero}, nil
	}
	inv, err := Get(ctx, tx, p.Number)
	if err != nil {
		return nil, err
	}
	if _, err := tx.Exec(ctx, `UPDATE invoices SET status = 'void' WHERE id = $1`, id); err != nil {
		return nil, err
	}
	var subtotal, discount, tax, total, paid decimal.Decimal
	if err := tx.QueryRow(ctx, `SELECT subtotal, discount, tax, total, amount_paid FROM invoices WHERE id = $1`, id).
		Scan(&subtotal, &discount, &tax, &total, &paid); err != nil {
		return nil, err
	}

	year := cfg.now().In(cfg.Location).Year()
	last, err := takeNumbers(ctx, tx, "CN", year, 1)
	if err != nil {
		return nil, err
	}
	issuedAt := cfg.now().UTC().Truncate(time.Microsecond)
	if issuedAt.In(cfg.Location).Year() != year {
		return nil, fmt.Errorf("the year turned while numbering a credit note: retry")
	}
	number := fmt.Sprintf("CN-%04d-%06d", year, last)
	if _, err := tx.Exec(ctx, `
		INSERT INTO credit_notes (number, invoice_id, account_id, reason, issued_at, subtotal, discount, tax, total, refunded, requested_by)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)`,
		number, id, inv.AccountID, reason, issuedAt, subtotal.Neg(), discount.Neg(), tax.Neg(), total.Neg(), paid, p.RequestedBy); err != nil {
		return nil, err
	}

	v := &Voided{Refund: paid}
	// Rewards this invoice earned its referrer: one that no invoice took
	// yet is cancelled; one that was given is taken back.
	rows, err := tx.Query(ctx, `
		SELECT id, referrer_account_id, referee_account_id, amount, state FROM referral_rewards
		WHERE referee_invoice_id = $1 FOR UPDATE`, id)
	if err != nil {
		return nil, err
	}
	var cancelled []int64
	for rows.Next() {
		var tb TakeBack
		var state string
		if err := rows.Scan(&tb.RewardID, &tb.ReferrerID, &tb.RefereeAccountID, &tb.Amount, &state); err != nil {
			rows.Close()
			return nil, err
		}
		switch state {
		case "pending":
			cancelled = append(cancelled, tb.RewardID)
		case "applied", "credited":
			v.TakeBacks = append(v.TakeBacks, tb)
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	if len(cancelled) > 0 {
		if _, err := tx.Exec(ctx, `UPDATE referral_rewards SET state = 'void' WHERE id = ANY($1)`, cancelled); err != nil {
			return nil, err
		}
	}
	if discount.IsPositive() {
		invID := id
		v.Credits = append(v.Credits, CreditGrant{AccountID: inv.AccountID, Amount: discount, Reference: "voided_discount:" + p.Number, InvoiceID: &invID})
	}
	if _, err := tx.Exec(ctx, `UPDATE referral_reversals SET charged_invoice_id = NULL WHERE charged_invoice_id = $1`, id); err != nil {
		return nil, err
	}

	invID := id
	v.Effects = billing.Effects{At: issuedAt, Timeline: []billing.TimelineEvent{{AccountID: inv.AccountID, At: issuedAt, Kind: billing.TimelineInvoiceVoided, InvoiceID: &invID,
		Data: map[string]any{"number": p.Number, "credit_note": number, "reason": reason, "refunded": billing.FormatMoney(paid)}}},
		Events: []billing.Event{
			{Type: billing.EventInvoiceVoided, AccountID: inv.AccountID, At: issuedAt, InvoiceID: &invID},
			{Type: billing.EventCreditNoteIssued, AccountID: inv.AccountID, At: issuedAt, CreditNote: number},
		}}
	if v.Invoice, err = Get(ctx, tx, p.Number); err != nil {
		return nil, err
	}
	if v.CreditNote, err = GetCreditNote(ctx, tx, number); err != nil {
		return nil, err
	}
	return v, nil
}

// RecordReversal records a reward taken back: fromCredit came out of the
// referrer's prepaid credit, the rest is charged on the referrer's next
// invoice. It returns the reversal's referral_reversed timeline event, for
// the caller to apply in tx (jobs.Enqueue).
func RecordReversal(ctx context.Context, tx pgx.Tx, creditNote *CreditNote, tb TakeBack, fromCredit decimal.Decimal, at time.Time) (billing.TimelineEvent, error) {
	ev := billing.TimelineEvent{AccountID: tb.ReferrerID, At: at, Kind: billing.TimelineReferralReversed,
		Data: map[string]any{"referee_account_id": tb.RefereeAccountID, "invoice_number": creditNote.InvoiceNumber, "credit_note": creditNote.Number,
			"amount": billing.FormatMoney(tb.Amount), "from_credit": billing.FormatMoney(fromCredit),
			"next_invoice": billing.FormatMoney(tb.Amount.Sub(fromCredit))}}
	_, err := tx.Exec(ctx, `
		INSERT INTO referral_reversals (reward_id, referrer_account_id, referee_account_id, credit_note_id, amount, from_credit)
		VALUES ($1, $2, $3, $4, $5, $6)`, tb.RewardID, tb.ReferrerID, tb.RefereeAccountID, creditNote.id, tb.Amount, fromCredit)
	return ev, err
}
