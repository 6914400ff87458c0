package invoices

import (
	"context"
	"sort"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/shopspring/decimal"

	"github.com/billingengine/engine/billing"
	"github.com/billingengine/engine/internal/platform/pgdb"
)

// Preview is what a run would bill, computed without writing anything.
type Preview struct {
	Period string `json:"period"`
	// AccountIDs is the run's scope; null is every account.
	AccountIDs []string `json:"account_ids"`
	// Partial is true for the current period: an upcoming-invoice
	// preview of the usage so far, rated up to AsOf (for an ended period
	// AsOf is its end).
	Partial bool      `json:"partial"`
	AsOf    time.Time `json:"as_of"`
	// Accounts in scope that have no invoice for the period yet: the run
	// rates them. AlreadyInvoiced are skipped (they have one, or a draft
	// of a run in flight).
	Accounts        int `json:"accounts"`
	AlreadyInvoiced int `json:"already_invoiced"`
	// Invoices the run would issue, by account; numbers are given at
	// finalization, so none is shown.
	Invoices []PreviewInvoice `json:"invoices"`
	// Credits the run would add to prepaid credit: rewards of referrers
	// with no invoice to discount, and carry-overs.
	Credits []PreviewCredit `json:"credits"`
	Totals  PreviewTotals   `json:"totals"`
}

// PreviewInvoice is an invoice a run would issue.
type PreviewInvoice struct {
	AccountID string `json:"account_id"`
	Subtotal  string `json:"subtotal"`
	Discount  string `json:"discount"`
	TaxRate   string `json:"tax_rate"`
	Tax       string `json:"tax"`
	Total     string `json:"total"`
	Lines     []Line `json:"lines"`
}

// PreviewCredit is prepaid credit a run would add.
type PreviewCredit struct {
	AccountID string `json:"account_id"`
	Amount    string `json:"amount"`
	// Kind is referral_reward (from RefereeAccountID's invoice) or
	// referral_carryover (rewards beyond the account's own subtotal).
	Kind             string `json:"kind"`
	RefereeAccountID string `json:"referee_account_id,omitempty"`
}

// PreviewTotals sums a preview.
type PreviewTotals struct {
	Invoices int    `json:"invoices"`
	Subtotal string `json:"subtotal"`
	Discount string `json:"discount"`
	Tax      string `json:"tax"`
	Total    string `json:"total"`
	Credits  string `json:"credits"`
}

// DryRun computes what a run of p would bill, with the rules the run
// itself applies (rating, referral, reversals, VAT), reading one snapshot
// in a read-only transaction: nothing is written or locked. Numbers and
// issue dates are left out; they are given at finalization. The current
// period is previewed as it stands at p.Now (usage rated up to then,
// Partial set); a period that has not started is refused with a
// *billing.PeriodNotEndedError. p.Now is the wall clock when zero, as for
// CreateRun.
func DryRun(ctx context.Context, db pgdb.SnapshotDB, cfg *Config, p RunParams) (*Preview, error) {
	if p.Now.IsZero() {
		p.Now = time.Now() // as CreateRun: the preview and the run agree on what has ended
	}
	if err := p.Period.CheckStarted(p.Now, cfg.Location); err != nil {
		return nil, err
	}
	var out *Preview
	err := pgdb.WithSnapshot(ctx, db, "dry run of "+p.Period.String(), func(tx pgx.Tx) error {
		var err error
		out, err = preview(ctx, tx, cfg, p)
		return err
	})
	return out, err
}

type previewAccount struct {
	accountInfo
	invoiced bool
}

func preview(ctx context.Context, tx pgx.Tx, cfg *Config, p RunParams) (*Preview, error) {
	period := p.Period.String()
	out := &Preview{Period: period, AccountIDs: p.scope(), Invoices: []PreviewInvoice{}, Credits: []PreviewCredit{}}
	scope := p.scope()
	rows, err := tx.Query(ctx, `
		SELECT a.id, a.name, a.email, a.country, a.vat_number, a.created_at, a.referred_by,
		       EXISTS (SELECT 1 FROM invoices i WHERE i.account_id = a.id AND i.period = $2 AND i.status <> 'void')
		FROM accounts a WHERE $1::text[] IS NULL OR a.id = ANY($1) ORDER BY a.id`, scope, period)
	if err != nil {
		return nil, err
	}
	accounts := map[string]*previewAccount{}
	var ids []string
	for rows.Next() {
		var id string
		var a previewAccount
		if err := rows.Scan(&id, &a.name, &a.email, &a.country, &a.vatNumber, &a.createdAt, &a.referredBy, &a.invoiced); err != nil {
			rows.Close()
			return nil, err
		}
		accounts[id] = &a
		if a.invoiced {
			out.AlreadyInvoiced++
		} else {
			ids = append(ids, id)
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	out.Accounts = len(ids)

	start, end := p.Period.Bounds(cfg.Location)
	out.AsOf = end.UTC()
	if p.Now.Before(end) {
		// Rated up to now, to the microsecond usage is stored with: the
		// month so far, never the hours still to come.
		end = p.Now.Truncate(time.Microsecond)
		out.Partial, out.AsOf = true, end.UTC()
	}
	cat, err := loadCatalog(ctx, tx, false)
	if err != nil {
		return nil, err
	}
	drafts, err := rateAll(ctx, tx, cat, ids, start, end, false)
	if err != nil {
		return nil, err
	}
	hasDraft := make(map[string]bool, len(drafts))
	draftIDs := make([]string, len(drafts))
	for i, d := range drafts {
		hasDraft[d.accountID] = true
		draftIDs[i] = d.accountID
	}

	// What finalization decides rewards from, read from the snapshot:
	// rewards left pending for the drafted accounts and referee drafts of
	// runs in flight that no reward covers yet. This run's own drafts are
	// the batch, rated above and never stored.
	batch := billing.ReferralBatch{Period: p.Period, Location: cfg.Location, Accounts: make([]billing.ReferralAccount, len(drafts)),
		DraftedElsewhere: map[string]bool{}}
	rows, err = tx.Query(ctx, `
		SELECT id, referrer_account_id, referee_account_id, amount FROM referral_rewards
		WHERE referrer_account_id = ANY($1) AND period = $2 AND state = 'pending'`, draftIDs, period)
	if err != nil {
		return nil, err
	}
	for rows.Next() {
		var r billing.PendingReward
		if err := rows.Scan(&r.ID, &r.ReferrerAccountID, &r.RefereeAccountID, &r.Amount); err != nil {
			rows.Close()
			return nil, err
		}
		batch.Pending = append(batch.Pending, r)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	rows, err = tx.Query(ctx, `
		SELECT i.id, i.account_id, ra.referred_by,
		       i.subtotal - coalesce((SELECT sum(v.amount - v.from_credit) FROM referral_reversals v WHERE v.charged_invoice_id = i.id), 0),
		       ra.created_at
		FROM invoices i JOIN accounts ra ON ra.id = i.account_id
		WHERE ra.referred_by = ANY($1) AND i.period = $2 AND i.status = 'draft'
		  AND NOT EXISTS (SELECT 1 FROM referral_rewards r WHERE r.referee_invoice_id = i.id)`, draftIDs, period)
	if err != nil {
		return nil, err
	}
	for rows.Next() {
		var r billing.RefereeDraft
		if err := rows.Scan(&r.InvoiceID, &r.AccountID, &r.ReferredBy, &r.Base, &r.CreatedAt); err != nil {
			rows.Close()
			return nil, err
		}
		batch.RefereeDrafts = append(batch.RefereeDrafts, r)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}

	// Referrers of drafted referees that this run does not draft: a draft
	// of theirs elsewhere takes the reward later, and with none it is
	// credited.
	var outside []string
	for _, d := range drafts {
		a := accounts[d.accountID]
		if a.referredBy != nil && !hasDraft[*a.referredBy] {
			outside = append(outside, *a.referredBy)
		}
	}
	if len(outside) > 0 {
		rows, err := tx.Query(ctx, `SELECT DISTINCT account_id FROM invoices WHERE account_id = ANY($1) AND period = $2 AND status = 'draft'`, outside, period)
		if err != nil {
			return nil, err
		}
		elsewhere, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			return nil, err
		}
		for _, id := range elsewhere {
			batch.DraftedElsewhere[id] = true
		}
	}
	reversals := make([][]billing.Reversal, len(drafts))
	for i, d := range drafts {
		a := accounts[d.accountID]
		reversals[i] = make([]billing.Reversal, len(d.reversals))
		for j, r := range d.reversals {
			reversals[i][j] = billing.Reversal{RefereeAccountID: r.referee, Amount: r.remaining}
		}
		batch.Accounts[i] = billing.ReferralAccount{AccountID: d.accountID, Usage: billing.Subtotal(d.lines), Reversals: reversals[i], CreatedAt: a.createdAt}
		if a.referredBy != nil {
			batch.Accounts[i].ReferredBy = *a.referredBy
		}
	}
	alloc, err := billing.AllocateReferrals(batch)
	if err != nil {
		return nil, err
	}
	for _, r := range alloc.Outgoing {
		if r.Route == billing.RouteToCredit {
			out.Credits = append(out.Credits, PreviewCredit{AccountID: r.ReferrerAccountID, Amount: billing.FormatMoney(r.Amount),
				Kind: "referral_reward", RefereeAccountID: r.RefereeAccountID})
		}
	}

	sum := struct{ subtotal, discount, tax, total, credits decimal.Decimal }{}
	for i, d := range drafts {
		a := accounts[d.accountID]
		vat, err := cfg.VATRates.Decide(cfg.SellerCountry, a.country, a.vatNumber != nil)
		if err != nil {
			return nil, err
		}
		referrals := alloc.Accounts[i]
		t := billing.Compute(billing.Input{Usage: d.lines, Reversals: reversals[i], Rewards: referrals.Rewards(), VAT: vat})
		inv := PreviewInvoice{AccountID: d.accountID, Subtotal: billing.FormatMoney(t.Subtotal), Discount: billing.FormatMoney(t.Discount),
			TaxRate: t.VAT.Rate.String(), Tax: billing.FormatMoney(t.Tax), Total: billing.FormatMoney(t.Total), Lines: make([]Line, len(t.Lines))}
		for k, l := range t.Lines {
			inv.Lines[k] = Line{Type: l.Type, App: l.App, Resource: l.Resource, RefereeAccountID: l.RefereeAccountID, Amount: billing.FormatMoney(l.Amount)}
			if l.Type == billing.LineUsage {
				inv.Lines[k].Hours = billing.FormatHours(l.Hours)
			}
		}
		out.Invoices = append(out.Invoices, inv)
		if referrals.Carryover.IsPositive() {
			out.Credits = append(out.Credits, PreviewCredit{AccountID: d.accountID, Amount: billing.FormatMoney(referrals.Carryover), Kind: "referral_carryover"})
		}
		sum.subtotal, sum.discount = sum.subtotal.Add(t.Subtotal), sum.discount.Add(t.Discount)
		sum.tax, sum.total = sum.tax.Add(t.Tax), sum.total.Add(t.Total)
	}
	sort.SliceStable(out.Credits, func(i, j int) bool { return out.Credits[i].AccountID < out.Credits[j].AccountID })
	for _, c := range out.Credits {
		sum.credits = sum.credits.Add(decimal.RequireFromString(c.Amount))
	}
	out.Totals = PreviewTotals{Invoices: len(out.Invoices), Subtotal: billing.FormatMoney(sum.subtotal), Discount: billing.FormatMoney(sum.discount),
		Tax: billing.FormatMoney(sum.tax), Total: billing.FormatMoney(sum.total), Credits: billing.FormatMoney(sum.credits)}
	return out, nil
}
