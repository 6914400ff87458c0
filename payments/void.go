package payments

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/shopspring/decimal"

	"github.com/billingengine/engine/billing"
	"github.com/billingengine/engine/invoices"
)

// Reversal is a referral reward taken back from a referrer because the
// referee's invoice was voided.
type Reversal struct {
	ReferrerAccountID string `json:"referrer_account_id"`
	RefereeAccountID  string `json:"referee_account_id"`
	Amount            string `json:"amount"`
	// FromCredit came out of the referrer's prepaid credit; NextInvoice is
	// charged on the referrer's next invoice.
	FromCredit  string `json:"from_credit"`
	NextInvoice string `json:"next_invoice"`
}

// Voided is what voiding an invoice did, money included.
type Voided struct {
	Invoice    *invoices.Invoice    `json:"invoice"`
	CreditNote *invoices.CreditNote `json:"credit_note"`
	// AlreadyVoid: the invoice was void before this call; nothing changed.
	AlreadyVoid bool `json:"already_void"`
	// RefundedToCredit is what had been paid on the invoice, now prepaid
	// credit of its account.
	RefundedToCredit string `json:"refunded_to_credit"`
	// DiscountCredited is the referral discount the invoice had given,
	// credited to its account instead.
	DiscountCredited string     `json:"discount_credited"`
	Reversals        []Reversal `json:"referral_reversals"`
	// AccountsCredited are the accounts whose prepaid credit grew: their
	// open invoices are worth collecting again.
	AccountsCredited []string `json:"-"`
	// Effects is what the void implies beyond its rows: the timeline
	// events of the money it moved (refunded_to_credit, credit_added), in
	// order after the invoice's invoice_voided and before the referral
	// reversals' referral_reversed, and the collection of the credited
	// accounts' open invoices.
	// The caller applies it in tx (jobs.Enqueue).
	Effects billing.Effects `json:"-"`
}

// Void voids an invoice and moves the money that follows (SPEC §3, §4), in
// tx: what was paid goes back to the account's prepaid credit, the referral
// discount the invoice gave becomes credit, and a reward the invoice earned
// its referrer is taken back, from the referrer's credit as far as it goes
// and on the referrer's next invoice for the rest.
func Void(ctx context.Context, tx pgx.Tx, cfg *invoices.Config, p invoices.VoidParams, now time.Time) (*Voided, error) {
	v, err := invoices.Void(ctx, tx, cfg, p)
	if err != nil {
		return nil, err
	}
	if err := AttachAttempts(ctx, tx, []*invoices.Invoice{v.Invoice}); err != nil {
		return nil, err
	}
	out := &Voided{Invoice: v.Invoice, CreditNote: v.CreditNote, AlreadyVoid: v.Already,
		RefundedToCredit: v.CreditNote.Refunded, DiscountCredited: "0.00", Reversals: []Reversal{}}
	if v.Already {
		return out, nil
	}
	out.Effects = v.Effects
	accountID, invoiceID := v.Invoice.AccountID, v.Invoice.ID
	if v.Refund.IsPositive() {
		if _, _, err := AddEntry(ctx, tx, NewEntry{AccountID: accountID, Kind: EntryRefundToCredit, Amount: v.Refund,
			Reference: "void:" + v.Invoice.Number, InvoiceID: &invoiceID}); err != nil {
			return nil, err
		}
		out.Effects.Timeline = append(out.Effects.Timeline, billing.TimelineEvent{AccountID: accountID, At: now, Kind: billing.TimelineRefunded, InvoiceID: &invoiceID,
			Data: map[string]any{"number": v.Invoice.Number, "credit_note": v.CreditNote.Number, "amount": billing.FormatMoney(v.Refund)}})
		out.Effects.Events = append(out.Effects.Events, CreditAddedEvent(accountID, now, v.Refund, EntryRefundToCredit, "void:"+v.Invoice.Number))
		out.AccountsCredited = append(out.AccountsCredited, accountID)
	}
	for _, g := range v.Credits {
		if _, _, err := AddEntry(ctx, tx, NewEntry{AccountID: g.AccountID, Kind: EntryReferralReward, Amount: g.Amount,
			Reference: g.Reference, InvoiceID: g.InvoiceID}); err != nil {
			return nil, err
		}
		out.Effects.Timeline = append(out.Effects.Timeline, billing.TimelineEvent{AccountID: g.AccountID, At: now, Kind: billing.TimelineCreditAdded, InvoiceID: g.InvoiceID,
			Data: map[string]any{"kind": string(EntryReferralReward), "reference": g.Reference, "amount": billing.FormatMoney(g.Amount)}})
		out.Effects.Events = append(out.Effects.Events, CreditAddedEvent(g.AccountID, now, g.Amount, EntryReferralReward, g.Reference))
		out.DiscountCredited = billing.FormatMoney(g.Amount)
		out.AccountsCredited = append(out.AccountsCredited, g.AccountID)
	}
	for _, tb := range v.TakeBacks {
		balance, err := lockBalance(ctx, tx, tb.ReferrerID)
		if err != nil {
			return nil, err
		}
		take := decimal.Min(balance, tb.Amount)
		if take.IsPositive() {
			if _, _, err := AddEntry(ctx, tx, NewEntry{AccountID: tb.ReferrerID, Kind: EntryReferralReversal, Amount: take,
				Reference: fmt.Sprintf("referral_reversal:%d", tb.RewardID), InvoiceID: &invoiceID}); err != nil {
				return nil, err
			}
		}
		reversed, err := invoices.RecordReversal(ctx, tx, v.CreditNote, tb, take, now)
		if err != nil {
			return nil, err
		}
		out.Effects.Timeline = append(out.Effects.Timeline, reversed)
		out.Reversals = append(out.Reversals, Reversal{ReferrerAccountID: tb.ReferrerID, RefereeAccountID: tb.RefereeAccountID,
			Amount: billing.FormatMoney(tb.Amount), FromCredit: billing.FormatMoney(take), NextInvoice: billing.FormatMoney(tb.Amount.Sub(take))})
	}
	out.Effects.CollectOpenInvoices = append([]string(nil), out.AccountsCredited...)
	out.Effects.At = now
	return out, nil
}

// lockBalance reads an account's prepaid credit, locking the account row as
// AddEntry does.
func lockBalance(ctx context.Context, tx pgx.Tx, accountID string) (decimal.Decimal, error) {
	var balance decimal.Decimal
	err := tx.QueryRow(ctx, `SELECT credit_balance FROM accounts WHERE id = $1 FOR NO KEY UPDATE`, accountID).Scan(&balance)
	return balance, err
}
